#include "server/core/errors.h"

#include "absl/strings/cord.h"
#include "google/rpc/error_details.pb.h"

namespace paradym::webhooks {
namespace {

google::rpc::ErrorInfo ParseErrorInfo(const absl::Status& status) {
  google::rpc::ErrorInfo info;
  if (auto payload = status.GetPayload(kErrorInfoTypeUrl)) {
    // A payload we did not write is ignored rather than trusted.
    if (!info.ParseFromString(std::string(*payload))) info.Clear();
  }
  return info;
}

}  // namespace

absl::Status MakeError(
    absl::StatusCode code, absl::string_view reason, absl::string_view message,
    std::vector<std::pair<std::string, std::string>> metadata,
    std::vector<FieldViolation> violations) {
  absl::Status status(code, message);
  google::rpc::ErrorInfo info;
  info.set_reason(std::string(reason));
  info.set_domain(std::string(kErrorDomain));
  for (auto& [key, value] : metadata) {
    (*info.mutable_metadata())[std::move(key)] = std::move(value);
  }
  status.SetPayload(kErrorInfoTypeUrl, absl::Cord(info.SerializeAsString()));
  if (!violations.empty()) {
    google::rpc::BadRequest bad_request;
    for (auto& violation : violations) {
      auto* field = bad_request.add_field_violations();
      field->set_field(std::move(violation.field));
      field->set_description(std::move(violation.description));
    }
    status.SetPayload(kBadRequestTypeUrl,
                      absl::Cord(bad_request.SerializeAsString()));
  }
  return status;
}

absl::Status WithCode(const absl::Status& status, absl::StatusCode code) {
  absl::Status changed(code, status.message());
  status.ForEachPayload(
      [&changed](absl::string_view type_url, const absl::Cord& payload) {
        changed.SetPayload(type_url, payload);
      });
  return changed;
}

std::string ErrorReason(const absl::Status& status) {
  return ParseErrorInfo(status).reason();
}

std::string ErrorMetadata(const absl::Status& status, absl::string_view key) {
  const auto info = ParseErrorInfo(status);
  auto it = info.metadata().find(std::string(key));
  return it == info.metadata().end() ? std::string() : it->second;
}

std::vector<FieldViolation> ErrorFieldViolations(const absl::Status& status) {
  std::vector<FieldViolation> violations;
  auto payload = status.GetPayload(kBadRequestTypeUrl);
  google::rpc::BadRequest bad_request;
  if (!payload || !bad_request.ParseFromString(std::string(*payload))) {
    return violations;
  }
  for (const auto& field : bad_request.field_violations()) {
    violations.push_back({field.field(), field.description()});
  }
  return violations;
}

}  // namespace paradym::webhooks
