#include "server/core/event_normalizer.h"

#include <string>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "google/protobuf/util/json_util.h"
#include "server/core/errors.h"
#include "server/core/proto_time.h"
#include "server/core/strict_json_parser.h"

namespace paradym::webhooks {
namespace {

using google::protobuf::Struct;
using google::protobuf::Value;

absl::Status FieldError(absl::string_view reason, std::string field,
                        std::string description) {
  // The message first: the arguments below are evaluated in any order.
  std::string message = absl::StrCat(field, ": ", description);
  return MakeError(absl::StatusCode::kInvalidArgument, reason, message, {},
                   {{std::move(field), std::move(description)}});
}

// The value at `key`, or null when it is absent or JSON null (which Paradym's
// JavaScript serializers produce for unset optional fields).
const Value* Find(const Struct& object, const std::string& key) {
  auto it = object.fields().find(key);
  if (it == object.fields().end() ||
      it->second.kind_case() == Value::kNullValue) {
    return nullptr;
  }
  return &it->second;
}

// Reads the string at `key` of `object` into `out`. `path` prefixes the key in
// errors. A required string must be present and not empty.
absl::Status ReadString(const Struct& object, const std::string& key,
                        absl::string_view path, bool required,
                        std::string* out) {
  const Value* value = Find(object, key);
  if (value == nullptr) {
    if (!required) return absl::OkStatus();
    return FieldError(kMissingField, absl::StrCat(path, key),
                      "required string is missing");
  }
  if (value->kind_case() != Value::kStringValue) {
    return FieldError(kInvalidField, absl::StrCat(path, key),
                      "must be a string");
  }
  if (required && value->string_value().empty()) {
    return FieldError(kMissingField, absl::StrCat(path, key),
                      "required string is empty");
  }
  *out = value->string_value();
  return absl::OkStatus();
}

// Copies the string at `key` into `out` when there is one, ignoring other
// kinds: for payload fields this version does not own.
void CopyStringIfPresent(const Struct& object, const std::string& key,
                         std::string* out) {
  const Value* value = Find(object, key);
  if (value != nullptr && value->kind_case() == Value::kStringValue) {
    *out = value->string_value();
  }
}

absl::Status ReadTimestamp(const Struct& object, const std::string& key,
                           google::protobuf::Timestamp* out, bool* present) {
  std::string text;
  if (absl::Status s = ReadString(object, key, "", false, &text); !s.ok()) {
    return s;
  }
  *present = Find(object, key) != nullptr;
  if (!*present) return absl::OkStatus();
  absl::Time time;
  std::string parse_error;
  static const absl::Time kMin =
      absl::FromCivil(absl::CivilSecond(1, 1, 1), absl::UTCTimeZone());
  static const absl::Time kEnd =
      absl::FromCivil(absl::CivilSecond(10000, 1, 1), absl::UTCTimeZone());
  if (!absl::ParseTime(absl::RFC3339_full, text, &time, &parse_error) ||
      time < kMin || time >= kEnd) {
    return FieldError(kInvalidTimestamp, key,
                      "must be an RFC 3339 date-time such as "
                      "2024-05-01T12:00:00.000Z");
  }
  SetTimestamp(time, *out);
  return absl::OkStatus();
}

absl::Status ReadWorkflowError(const Struct& payload,
                               v1::WorkflowExecutionFailed& failed) {
  static const std::string kError = "error";
  const Value* error = Find(payload, kError);
  if (error == nullptr) return absl::OkStatus();
  if (error->kind_case() != Value::kStructValue) {
    return FieldError(kInvalidField, "payload.error", "must be an object");
  }
  const Struct& fields = error->struct_value();
  auto* out = failed.mutable_error();
  if (absl::Status s = ReadString(fields, "message", "payload.error.", false,
                                  out->mutable_message());
      !s.ok()) {
    return s;
  }
  if (absl::Status s = ReadString(fields, "code", "payload.error.", false,
                                  out->mutable_code());
      !s.ok()) {
    return s;
  }
  // Details are free-form: a string as is, anything else as JSON text.
  if (const Value* details = Find(fields, "details")) {
    if (details->kind_case() == Value::kStringValue) {
      out->set_details(details->string_value());
    } else {
      std::string json;
      if (!google::protobuf::util::MessageToJsonString(*details, &json).ok()) {
        return absl::InternalError("cannot print payload.error.details");
      }
      out->set_details(std::move(json));
    }
  }
  return absl::OkStatus();
}

bool IsWorkflowType(v1::EventType type) {
  switch (type) {
    case v1::EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
    case v1::EVENT_TYPE_WORKFLOW_EXECUTION_ACTION_EXECUTED:
    case v1::EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED:
    case v1::EVENT_TYPE_WORKFLOW_EXECUTION_WAITING_FOR_TRIGGER:
    case v1::EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED:
    case v1::EVENT_TYPE_WORKFLOW_EXECUTION_FAILED:
      return true;
    default:
      return false;
  }
}

// Fills the workflow ids and `typed_payload` from `event.payload()`.
absl::Status ReadTypedPayload(v1::Event& event) {
  const Struct& payload = event.payload();
  const v1::EventType type = event.type();
  if (IsWorkflowType(type)) {
    if (absl::Status s =
            ReadString(payload, "workflowExecutionId", "payload.", true,
                       event.mutable_workflow_execution_id());
        !s.ok()) {
      return s;
    }
    if (absl::Status s = ReadString(payload, "workflowId", "payload.", false,
                                    event.mutable_workflow_id());
        !s.ok()) {
      return s;
    }
  } else {
    // Other types may carry the ids too; their types are not ours to judge.
    CopyStringIfPresent(payload, "workflowId", event.mutable_workflow_id());
    CopyStringIfPresent(payload, "workflowExecutionId",
                        event.mutable_workflow_execution_id());
  }
  static const std::string kActionId = "workflowActionId";
  static const std::string kIssuanceId = "openId4VcIssuanceId";
  static const std::string kVerificationId = "openId4VcVerificationId";
  auto read_action_id = [&](std::string* out) {
    return ReadString(payload, kActionId, "payload.", false, out);
  };
  switch (type) {
    case v1::EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
      event.mutable_workflow_execution_started();
      return absl::OkStatus();
    case v1::EVENT_TYPE_WORKFLOW_EXECUTION_ACTION_EXECUTED:
      return read_action_id(event.mutable_workflow_execution_action_executed()
                                ->mutable_workflow_action_id());
    case v1::EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED:
      event.mutable_workflow_execution_completed();
      return absl::OkStatus();
    case v1::EVENT_TYPE_WORKFLOW_EXECUTION_WAITING_FOR_TRIGGER:
      return read_action_id(
          event.mutable_workflow_execution_waiting_for_trigger()
              ->mutable_workflow_action_id());
    case v1::EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED:
      event.mutable_workflow_execution_canceled();
      return absl::OkStatus();
    case v1::EVENT_TYPE_WORKFLOW_EXECUTION_FAILED: {
      auto* failed = event.mutable_workflow_execution_failed();
      if (Find(payload, kActionId) != nullptr) {
        if (absl::Status s =
                read_action_id(failed->mutable_workflow_action_id());
            !s.ok()) {
          return s;
        }
      }
      return ReadWorkflowError(payload, *failed);
    }
    case v1::EVENT_TYPE_OPENID4VC_ISSUANCE_OFFERED:
      return ReadString(payload, kIssuanceId, "payload.", false,
                        event.mutable_openid4vc_issuance_offered()
                            ->mutable_openid4vc_issuance_id());
    case v1::EVENT_TYPE_OPENID4VC_ISSUANCE_PARTIALLY_ISSUED:
      return ReadString(payload, kIssuanceId, "payload.", false,
                        event.mutable_openid4vc_issuance_partially_issued()
                            ->mutable_openid4vc_issuance_id());
    case v1::EVENT_TYPE_OPENID4VC_ISSUANCE_COMPLETED:
      return ReadString(payload, kIssuanceId, "payload.", false,
                        event.mutable_openid4vc_issuance_completed()
                            ->mutable_openid4vc_issuance_id());
    case v1::EVENT_TYPE_OPENID4VC_ISSUANCE_FAILED:
      return ReadString(payload, kIssuanceId, "payload.", false,
                        event.mutable_openid4vc_issuance_failed()
                            ->mutable_openid4vc_issuance_id());
    case v1::EVENT_TYPE_OPENID4VC_VERIFICATION_REQUESTED:
      return ReadString(payload, kVerificationId, "payload.", false,
                        event.mutable_openid4vc_verification_requested()
                            ->mutable_openid4vc_verification_id());
    case v1::EVENT_TYPE_OPENID4VC_VERIFICATION_VERIFIED:
      return ReadString(payload, kVerificationId, "payload.", false,
                        event.mutable_openid4vc_verification_verified()
                            ->mutable_openid4vc_verification_id());
    case v1::EVENT_TYPE_OPENID4VC_VERIFICATION_FAILED:
      return ReadString(payload, kVerificationId, "payload.", false,
                        event.mutable_openid4vc_verification_failed()
                            ->mutable_openid4vc_verification_id());
    default:
      return absl::OkStatus();
  }
}

}  // namespace

v1::EventType EventTypeFromString(absl::string_view event_type) {
  static const auto* const kTypes = new absl::flat_hash_map<absl::string_view,
                                                            v1::EventType>({
      {"workflowExecution.started", v1::EVENT_TYPE_WORKFLOW_EXECUTION_STARTED},
      {"workflowExecution.actionExecuted",
       v1::EVENT_TYPE_WORKFLOW_EXECUTION_ACTION_EXECUTED},
      {"workflowExecution.completed",
       v1::EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED},
      {"workflowExecution.waitingForTrigger",
       v1::EVENT_TYPE_WORKFLOW_EXECUTION_WAITING_FOR_TRIGGER},
      {"workflowExecution.canceled",
       v1::EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED},
      {"workflowExecution.failed", v1::EVENT_TYPE_WORKFLOW_EXECUTION_FAILED},
      {"openid4vc.issuance.offered", v1::EVENT_TYPE_OPENID4VC_ISSUANCE_OFFERED},
      {"openid4vc.issuance.partiallyIssued",
       v1::EVENT_TYPE_OPENID4VC_ISSUANCE_PARTIALLY_ISSUED},
      {"openid4vc.issuance.completed",
       v1::EVENT_TYPE_OPENID4VC_ISSUANCE_COMPLETED},
      {"openid4vc.issuance.failed", v1::EVENT_TYPE_OPENID4VC_ISSUANCE_FAILED},
      {"openid4vc.verification.requested",
       v1::EVENT_TYPE_OPENID4VC_VERIFICATION_REQUESTED},
      {"openid4vc.verification.verified",
       v1::EVENT_TYPE_OPENID4VC_VERIFICATION_VERIFIED},
      {"openid4vc.verification.failed",
       v1::EVENT_TYPE_OPENID4VC_VERIFICATION_FAILED},
  });
  auto it = kTypes->find(event_type);
  return it == kTypes->end() ? v1::EVENT_TYPE_UNSPECIFIED : it->second;
}

absl::Status EventNormalizer::Normalize(absl::string_view body,
                                        v1::Event& event) const {
  Struct envelope;
  if (absl::Status s = ParseJsonObject(body, options_.max_depth, envelope);
      !s.ok()) {
    return s;
  }
  if (absl::Status s = ReadString(envelope, "eventType", "", true,
                                  event.mutable_event_type());
      !s.ok()) {
    return s;
  }
  event.set_type(EventTypeFromString(event.event_type()));
  if (absl::Status s = ReadString(envelope, "webhookId", "", false,
                                  event.mutable_webhook_id());
      !s.ok()) {
    return s;
  }
  if (absl::Status s = ReadString(envelope, "projectId", "", false,
                                  event.mutable_project_id());
      !s.ok()) {
    return s;
  }
  bool has_publish_time = false;
  if (absl::Status s =
          ReadTimestamp(envelope, "webhookPublishedAt",
                        event.mutable_publish_time(), &has_publish_time);
      !s.ok()) {
    return s;
  }
  if (!has_publish_time) event.clear_publish_time();

  auto& fields = *envelope.mutable_fields();
  if (auto it = fields.find("payload");
      it != fields.end() && it->second.kind_case() != Value::kNullValue) {
    if (it->second.kind_case() != Value::kStructValue) {
      return FieldError(kInvalidField, "payload", "must be an object");
    }
    event.mutable_payload()->Swap(it->second.mutable_struct_value());
  }
  for (auto& [key, value] : fields) {
    if (key == "eventType" || key == "webhookId" || key == "projectId" ||
        key == "webhookPublishedAt" || key == "payload") {
      continue;
    }
    (*event.mutable_extra_fields()->mutable_fields())[key].Swap(&value);
  }
  if (absl::Status s = ReadTypedPayload(event); !s.ok()) return s;
  event.set_body(body.data(), body.size());
  return absl::OkStatus();
}

}  // namespace paradym::webhooks
