// Decides which events a subscriber receives.
//
// Each list narrows the stream; an empty list lets everything through. Event
// types match exactly or, with a trailing `*`, by prefix: `openid4vc.*`
// matches `openid4vc.issuance.offered`, and `*` matches every type.
//
//   absl::StatusOr<EventFilter> filter = EventFilter::Create(
//       {.event_types = {"workflowExecution.*"}, .project_ids = {"p1"}});
//   filter->Matches(event);

#ifndef PARADYM_WEBHOOKS_SERVER_CORE_EVENT_FILTER_H_
#define PARADYM_WEBHOOKS_SERVER_CORE_EVENT_FILTER_H_

#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "paradym/webhooks/v1/event.pb.h"
#include "server/core/stored_event.h"

namespace paradym::webhooks {

// Thread-safe: immutable once created.
class EventFilter {
 public:
  // Limits on untrusted filter lists.
  static constexpr std::size_t kMaxValues = 256;
  static constexpr std::size_t kMaxValueBytes = 256;

  // The same names as the SubscribeRequest fields, so errors name them.
  struct Spec {
    std::vector<std::string> event_types;
    std::vector<std::string> project_ids;
    std::vector<std::string> workflow_ids;
    std::vector<std::string> workflow_execution_ids;
  };

  // A filter that matches every event.
  EventFilter() = default;

  // INVALID_ARGUMENT (INVALID_REQUEST, with a BadRequest naming e.g.
  // `event_types[2]`) for an empty value, a `*` that is not last, or a list
  // over the limits.
  static absl::StatusOr<EventFilter> Create(Spec spec);

  bool Matches(absl::string_view event_type, absl::string_view project_id,
               absl::string_view workflow_id,
               absl::string_view workflow_execution_id) const;
  bool Matches(const StoredEvent& event) const {
    return Matches(event.event_type(), event.project_id(), event.workflow_id(),
                   event.workflow_execution_id());
  }
  bool Matches(const ::paradym::webhooks::v1::Event& event) const {
    return Matches(event.event_type(), event.project_id(), event.workflow_id(),
                   event.workflow_execution_id());
  }

  // Whether no list narrows the filter: it matches every event.
  bool MatchesEverything() const {
    return any_type_ && project_ids_.empty() && workflow_ids_.empty() &&
           workflow_execution_ids_.empty();
  }

  // The lists as Create took them (for FilterIndex). Types: any_type() when
  // they do not narrow; else exact_types() and type_prefixes() (each prefix
  // without its `*`).
  bool any_type() const { return any_type_; }
  const absl::flat_hash_set<std::string>& exact_types() const {
    return exact_types_;
  }
  const std::vector<std::string>& type_prefixes() const {
    return type_prefixes_;
  }
  const absl::flat_hash_set<std::string>& project_ids() const {
    return project_ids_;
  }
  const absl::flat_hash_set<std::string>& workflow_ids() const {
    return workflow_ids_;
  }
  const absl::flat_hash_set<std::string>& workflow_execution_ids() const {
    return workflow_execution_ids_;
  }

 private:
  absl::flat_hash_set<std::string> exact_types_;
  std::vector<std::string> type_prefixes_;
  bool any_type_ = true;
  absl::flat_hash_set<std::string> project_ids_;
  absl::flat_hash_set<std::string> workflow_ids_;
  absl::flat_hash_set<std::string> workflow_execution_ids_;
};

}  // namespace paradym::webhooks

#endif  // PARADYM_WEBHOOKS_SERVER_CORE_EVENT_FILTER_H_
