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

// `value` itself, or null when it is absent or JSON null (which Paradym's
// JavaScript serializers produce for unset optional fields).
const Value* Present(const Value* value) {
  return value != nullptr && value->kind_case() != Value::kNullValue ? value
                                                                     : nullptr;
}

// The value at `key`, or null when it is absent or JSON null.
const Value* Find(const Struct& object, const std::string& key) {
  auto it = object.fields().find(key);
  return Present(it == object.fields().end() ? nullptr : &it->second);
}

// OK when `value` (already Present()) is a string, or absent and not
// `required`. A required string must not be empty either.
absl::Status CheckString(const Value* value, absl::string_view field,
                         bool required) {
  if (value == nullptr) {
    if (!required) return absl::OkStatus();
    return FieldError(kMissingField, std::string(field),
                      "required string is missing");
  }
  if (value->kind_case() != Value::kStringValue) {
    return FieldError(kInvalidField, std::string(field), "must be a string");
  }
  if (required && value->string_value().empty()) {
    return FieldError(kMissingField, std::string(field),
                      "required string is empty");
  }
  return absl::OkStatus();
}

// Reads the string at `key` of `object` into `out`. `path` prefixes the key in
// errors.
absl::Status ReadString(const Struct& object, const std::string& key,
                        absl::string_view path, bool required,
                        std::string* out) {
  const Value* value = Find(object, key);
  absl::Status status = CheckString(value, absl::StrCat(path, key), required);
  if (status.ok() && value != nullptr) *out = value->string_value();
  return status;
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

// Parses the RFC 3339 date-time in `value` (already Present()) into `out`;
// clears `out` when there is none.
absl::Status ReadTimestamp(const Value* value, absl::string_view field,
                           google::protobuf::Timestamp* out) {
  if (absl::Status s = CheckString(value, field, false); !s.ok()) return s;
  if (value == nullptr) return absl::OkStatus();
  absl::Time time;
  std::string parse_error;
  static const absl::Time kMin =
      absl::FromCivil(absl::CivilSecond(1, 1, 1), absl::UTCTimeZone());
  static const absl::Time kEnd =
      absl::FromCivil(absl::CivilSecond(10000, 1, 1), absl::UTCTimeZone());
  if (!absl::ParseTime(absl::RFC3339_full, value->string_value(), &time,
                       &parse_error) ||
      time < kMin || time >= kEnd) {
    return FieldError(kInvalidTimestamp, std::string(field),
                      "must be an RFC 3339 date-time such as "
                      "2024-05-01T12:00:00.000Z");
  }
  SetTimestamp(time, *out);
  return absl::OkStatus();
}

// Receives the envelope's members as they are parsed: the five Paradym
// documents each into a slot of their own, every other one straight into
// `Event.extra_fields`. No intermediate Struct, no copies.
class EnvelopeSink final : public JsonObjectSink {
 public:
  enum Member { kEventType, kWebhookId, kProjectId, kPublishedAt, kPayload };

  explicit EnvelopeSink(v1::Event& event) : event_(event) {}

  Value* Member(absl::string_view key) override {
    static constexpr absl::string_view kNames[] = {
        "eventType", "webhookId", "projectId", "webhookPublishedAt", "payload"};
    for (int i = 0; i < 5; ++i) {
      if (key == kNames[i]) {
        if (seen_[i]) return nullptr;
        seen_[i] = true;
        return &members_[i];
      }
    }
    auto [it, inserted] =
        event_.mutable_extra_fields()->mutable_fields()->insert(
            {std::string(key), Value()});
    return inserted ? &it->second : nullptr;
  }

  // The member, or null when absent or JSON null.
  Value* Get(enum Member member) {
    return seen_[member] && members_[member].kind_case() != Value::kNullValue
               ? &members_[member]
               : nullptr;
  }

 private:
  v1::Event& event_;
  bool seen_[5] = {};
  Value members_[5];
};

// Moves the string of `value` (from Get()) into `out` once it passes
// CheckString.
absl::Status TakeString(Value* value, absl::string_view field, bool required,
                        std::string* out) {
  absl::Status status = CheckString(value, field, required);
  if (status.ok() && value != nullptr) {
    *out = std::move(*value->mutable_string_value());
  }
  return status;
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
  EnvelopeSink envelope(event);
  if (absl::Status s = ParseJsonObject(body, options_.max_depth, envelope);
      !s.ok()) {
    return s;
  }
  if (absl::Status s =
          TakeString(envelope.Get(EnvelopeSink::kEventType), "eventType", true,
                     event.mutable_event_type());
      !s.ok()) {
    return s;
  }
  event.set_type(EventTypeFromString(event.event_type()));
  if (absl::Status s =
          TakeString(envelope.Get(EnvelopeSink::kWebhookId), "webhookId", false,
                     event.mutable_webhook_id());
      !s.ok()) {
    return s;
  }
  if (absl::Status s =
          TakeString(envelope.Get(EnvelopeSink::kProjectId), "projectId", false,
                     event.mutable_project_id());
      !s.ok()) {
    return s;
  }
  if (Value* published = envelope.Get(EnvelopeSink::kPublishedAt)) {
    if (absl::Status s = ReadTimestamp(published, "webhookPublishedAt",
                                       event.mutable_publish_time());
        !s.ok()) {
      return s;
    }
  }
  if (Value* payload = envelope.Get(EnvelopeSink::kPayload)) {
    if (payload->kind_case() != Value::kStructValue) {
      return FieldError(kInvalidField, "payload", "must be an object");
    }
    event.mutable_payload()->Swap(payload->mutable_struct_value());
  }
  if (absl::Status s = ReadTypedPayload(event); !s.ok()) return s;
  event.set_body(body.data(), body.size());
  return absl::OkStatus();
}

}  // namespace paradym::webhooks
