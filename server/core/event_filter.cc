#include "server/core/event_filter.h"

#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "server/core/errors.h"

namespace paradym::webhooks {
namespace {

absl::Status Invalid(std::string field, std::string description) {
  // The message first: the arguments below are evaluated in any order.
  std::string message = absl::StrCat(field, ": ", description);
  return MakeError(absl::StatusCode::kInvalidArgument, kInvalidRequest, message,
                   {}, {{std::move(field), std::move(description)}});
}

absl::Status CheckList(absl::string_view name,
                       const std::vector<std::string>& values,
                       bool allow_wildcard) {
  if (values.size() > EventFilter::kMaxValues) {
    return Invalid(std::string(name),
                   absl::StrCat("at most ", EventFilter::kMaxValues,
                                " values are allowed"));
  }
  for (std::size_t i = 0; i < values.size(); ++i) {
    const std::string& value = values[i];
    const std::string field = absl::StrCat(name, "[", i, "]");
    if (value.empty()) return Invalid(field, "must not be empty");
    if (value.size() > EventFilter::kMaxValueBytes) {
      return Invalid(
          field, absl::StrCat("must be at most ", EventFilter::kMaxValueBytes,
                              " bytes"));
    }
    const std::size_t star = value.find('*');
    if (star != std::string::npos &&
        (!allow_wildcard || star != value.size() - 1)) {
      return Invalid(field, allow_wildcard
                                ? "'*' is only allowed as the last character"
                                : "'*' is not allowed here");
    }
  }
  return absl::OkStatus();
}

bool InSetOrEmpty(const absl::flat_hash_set<std::string>& set,
                  absl::string_view value) {
  return set.empty() || set.contains(value);
}

}  // namespace

absl::StatusOr<EventFilter> EventFilter::Create(Spec spec) {
  if (auto s = CheckList("event_types", spec.event_types, true); !s.ok()) {
    return s;
  }
  if (auto s = CheckList("project_ids", spec.project_ids, false); !s.ok()) {
    return s;
  }
  if (auto s = CheckList("workflow_ids", spec.workflow_ids, false); !s.ok()) {
    return s;
  }
  if (auto s = CheckList("workflow_execution_ids", spec.workflow_execution_ids,
                         false);
      !s.ok()) {
    return s;
  }
  EventFilter filter;
  filter.any_type_ = spec.event_types.empty();
  for (std::string& type : spec.event_types) {
    if (type == "*") {
      filter.any_type_ = true;
    } else if (type.back() == '*') {
      type.pop_back();
      filter.type_prefixes_.push_back(std::move(type));
    } else {
      filter.exact_types_.insert(std::move(type));
    }
  }
  filter.project_ids_.insert(spec.project_ids.begin(), spec.project_ids.end());
  filter.workflow_ids_.insert(spec.workflow_ids.begin(),
                              spec.workflow_ids.end());
  filter.workflow_execution_ids_.insert(spec.workflow_execution_ids.begin(),
                                        spec.workflow_execution_ids.end());
  return filter;
}

bool EventFilter::Matches(absl::string_view event_type,
                          absl::string_view project_id,
                          absl::string_view workflow_id,
                          absl::string_view workflow_execution_id) const {
  if (!any_type_ && !exact_types_.contains(event_type)) {
    bool prefix_match = false;
    for (const std::string& prefix : type_prefixes_) {
      if (absl::StartsWith(event_type, prefix)) {
        prefix_match = true;
        break;
      }
    }
    if (!prefix_match) return false;
  }
  return InSetOrEmpty(project_ids_, project_id) &&
         InSetOrEmpty(workflow_ids_, workflow_id) &&
         InSetOrEmpty(workflow_execution_ids_, workflow_execution_id);
}

}  // namespace paradym::webhooks
