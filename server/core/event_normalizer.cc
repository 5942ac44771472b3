#include "server/core/event_normalizer.h"

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "server/core/errors.h"
#include "server/core/proto_time.h"
#include "server/core/status_macros.h"
#include "server/core/strict_json_parser.h"
#include "server/core/struct_wire.h"

namespace paradym::webhooks {
namespace {

absl::Status FieldError(absl::string_view reason, std::string field,
                        std::string description) {
  // The message first: the arguments below are evaluated in any order.
  std::string message = absl::StrCat(field, ": ", description);
  return MakeError(absl::StatusCode::kInvalidArgument, reason, message, {},
                   {{std::move(field), std::move(description)}});
}

// The Value of a member, read back from what the parser wrote: nullopt when
// the member is absent or JSON null (which Paradym's JavaScript serializers
// produce for unset optional fields).
using Member = std::optional<WireValue>;

Member Present(std::optional<WireValue> value) {
  if (!value.has_value() || value->kind == WireValue::kNull) return {};
  return value;
}

// The member `key` of the Struct encoded in `object`.
Member Find(absl::string_view object, absl::string_view key) {
  return Present(FindStructField(object, key));
}

// OK when `value` is a string, or absent and not `required`. A required
// string must not be empty either.
absl::Status CheckString(const Member& value, absl::string_view field,
                         bool required) {
  if (!value.has_value()) {
    if (!required) return absl::OkStatus();
    return FieldError(kMissingField, std::string(field),
                      "required string is missing");
  }
  if (value->kind != WireValue::kString) {
    return FieldError(kInvalidField, std::string(field), "must be a string");
  }
  if (required && value->bytes.empty()) {
    return FieldError(kMissingField, std::string(field),
                      "required string is empty");
  }
  return absl::OkStatus();
}

// Reads the string `value` (a member of the envelope) into `out` once it
// passes CheckString.
absl::Status TakeString(const Member& value, absl::string_view field,
                        bool required, absl::string_view& out) {
  absl::Status status = CheckString(value, field, required);
  if (status.ok() && value.has_value()) out = value->bytes;
  return status;
}

// Reads the string at `key` of `object` into `out` (left alone when there is
// none). `path` prefixes the key in errors.
absl::Status ReadString(absl::string_view object, absl::string_view key,
                        absl::string_view path, bool required,
                        absl::string_view& out) {
  const Member value = Find(object, key);
  absl::Status status = CheckString(value, absl::StrCat(path, key), required);
  if (status.ok() && value.has_value()) out = value->bytes;
  return status;
}

// The string at `key` when there is one, ignoring other kinds: for payload
// fields this version does not own.
absl::string_view StringIfPresent(absl::string_view object,
                                  absl::string_view key) {
  const Member value = Find(object, key);
  return value.has_value() && value->kind == WireValue::kString
             ? value->bytes
             : absl::string_view();
}

// Days from 1970-01-01 to the civil date (proleptic Gregorian).
std::int64_t DaysFromCivil(std::int64_t year, unsigned month, unsigned day) {
  year -= month <= 2;
  const std::int64_t era = (year >= 0 ? year : year - 399) / 400;
  const auto year_of_era = static_cast<unsigned>(year - era * 400);
  const unsigned day_of_year =
      (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1;
  const unsigned day_of_era =
      year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
  return era * 146097 + static_cast<std::int64_t>(day_of_era) - 719468;
}

// The form Paradym sends, `2024-05-01T12:00:00.000Z` (1 to 9 fraction
// digits, or none), read without absl::ParseTime's general machinery. False
// for anything else, which then goes to absl::ParseTime: this is only a
// faster path to the same result.
bool ParseCommonTimestamp(absl::string_view text, absl::Time& out) {
  const auto digits = [&](std::size_t at, std::size_t n, unsigned& value) {
    value = 0;
    for (std::size_t i = at; i < at + n; ++i) {
      if (text[i] < '0' || text[i] > '9') return false;
      value = value * 10 + static_cast<unsigned>(text[i] - '0');
    }
    return true;
  };
  if (text.size() < 20 || text.back() != 'Z' || text[4] != '-' ||
      text[7] != '-' || text[10] != 'T' || text[13] != ':' || text[16] != ':') {
    return false;
  }
  unsigned year, month, day, hour, minute, second, fraction = 0;
  if (!digits(0, 4, year) || !digits(5, 2, month) || !digits(8, 2, day) ||
      !digits(11, 2, hour) || !digits(14, 2, minute) ||
      !digits(17, 2, second)) {
    return false;
  }
  const std::size_t fraction_digits = text.size() - 20;
  if (fraction_digits == 1 || fraction_digits > 10) return false;
  if (fraction_digits > 0) {
    if (text[19] != '.' || !digits(20, fraction_digits - 1, fraction)) {
      return false;
    }
    for (std::size_t i = fraction_digits - 1; i < 9; ++i) fraction *= 10;
  } else if (text[19] != 'Z') {
    return false;
  }
  static constexpr unsigned kDays[] = {31, 28, 31, 30, 31, 30,
                                       31, 31, 30, 31, 30, 31};
  const bool leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
  if (year < 1 || month < 1 || month > 12 || day < 1 ||
      day > kDays[month - 1] + (month == 2 && leap ? 1 : 0) || hour > 23 ||
      minute > 59 || second > 59) {
    return false;
  }
  out = absl::FromUnixSeconds(DaysFromCivil(year, month, day) * 86400 +
                              hour * 3600 + minute * 60 + second) +
        absl::Nanoseconds(fraction);
  return true;
}

// Parses the RFC 3339 date-time in `value` into `out`, when there is one.
absl::Status ReadTimestamp(const Member& value, absl::string_view field,
                           std::optional<absl::Time>& out) {
  RETURN_IF_ERROR(CheckString(value, field, false));
  if (!value.has_value()) return absl::OkStatus();
  absl::Time time;
  std::string parse_error;
  static const absl::Time kMin =
      absl::FromCivil(absl::CivilSecond(1, 1, 1), absl::UTCTimeZone());
  static const absl::Time kEnd =
      absl::FromCivil(absl::CivilSecond(10000, 1, 1), absl::UTCTimeZone());
  const bool parsed =
      ParseCommonTimestamp(value->bytes, time) ||
      absl::ParseTime(absl::RFC3339_full, value->bytes, &time, &parse_error);
  if (!parsed || time < kMin || time >= kEnd) {
    return FieldError(kInvalidTimestamp, std::string(field),
                      "must be an RFC 3339 date-time such as "
                      "2024-05-01T12:00:00.000Z");
  }
  out = time;
  return absl::OkStatus();
}

// Where the parser writes the envelope's members: the five Paradym documents
// each as a Value of its own, one after the other in `values`, and every
// other member straight into the map entries of `Event.extra_fields`.
class EnvelopeSink final : public JsonObjectSink {
 public:
  enum Member { kEventType, kWebhookId, kProjectId, kPublishedAt, kPayload };

  EnvelopeSink(std::string& values, std::string& extra_fields)
      : values_(values), extra_fields_(extra_fields) {}

  JsonMemberTarget Member(absl::string_view key) override {
    static constexpr absl::string_view kNames[] = {
        "eventType", "webhookId", "projectId", "webhookPublishedAt", "payload"};
    EndValue();
    for (int i = 0; i < 5; ++i) {
      if (key == kNames[i]) {
        open_ = i;
        begin_[i] = values_.size();
        return {&values_, false};
      }
    }
    has_extra_fields_ = true;
    return {&extra_fields_, true};
  }

  // After the parse: the member, or nullopt when absent or JSON null.
  ::paradym::webhooks::Member Get(enum Member member) {
    EndValue();
    if (end_[member] == 0) return {};
    return Present(ReadValue(absl::string_view(values_).substr(
        begin_[member], end_[member] - begin_[member])));
  }

  bool has_extra_fields() const { return has_extra_fields_; }

 private:
  // The member being written, if one of the five, is complete.
  void EndValue() {
    if (open_ >= 0) end_[open_] = values_.size();
    open_ = -1;
  }

  std::string& values_;
  std::string& extra_fields_;
  bool has_extra_fields_ = false;
  int open_ = -1;
  std::size_t begin_[5] = {};
  std::size_t end_[5] = {};  // 0: not seen (a Value is never empty)
};

constexpr std::uint32_t kVarint = 0;
constexpr std::uint32_t kDelimited = 2;

// A string field, left out when empty (proto3).
void AppendString(std::uint32_t field, absl::string_view value,
                  std::string& out) {
  if (value.empty()) return;
  AppendTag(field, kDelimited, out);
  AppendVarint(value.size(), out);
  out.append(value.data(), value.size());
}

// A google.protobuf.Timestamp field.
void AppendTimestamp(std::uint32_t field, absl::Time time, std::string& out) {
  const absl::Duration since_epoch = time - absl::UnixEpoch();
  const std::int64_t seconds =
      absl::ToInt64Seconds(absl::Floor(since_epoch, absl::Seconds(1)));
  const std::int64_t nanos =
      absl::ToInt64Nanoseconds(since_epoch - absl::Seconds(seconds));
  AppendTag(field, kDelimited, out);
  const std::size_t length = BeginLength(out);
  if (seconds != 0) {
    AppendTag(1, kVarint, out);
    AppendVarint(static_cast<std::uint64_t>(seconds), out);
  }
  if (nanos != 0) {
    AppendTag(2, kVarint, out);
    AppendVarint(static_cast<std::uint64_t>(nanos), out);
  }
  EndLength(out, length);
}

// The typed payload: its oneof field number in Event and its encoding.
struct TypedPayload {
  std::uint32_t field = 0;  // 0: none
  std::string encoding;
};

// `payload.error` of a failed workflow execution, encoded as
// WorkflowExecutionFailed.Error.
absl::Status ReadWorkflowError(absl::string_view payload, std::string& out) {
  const Member error = Find(payload, "error");
  if (!error.has_value()) return absl::OkStatus();
  if (error->kind != WireValue::kStruct) {
    return FieldError(kInvalidField, "payload.error", "must be an object");
  }
  const absl::string_view fields = error->bytes;
  absl::string_view message, code;
  RETURN_IF_ERROR(
      ReadString(fields, "message", "payload.error.", false, message));
  RETURN_IF_ERROR(ReadString(fields, "code", "payload.error.", false, code));
  AppendTag(2, kDelimited, out);
  const std::size_t length = BeginLength(out);
  AppendString(1, message, out);
  AppendString(2, code, out);
  // Details are free-form: a string as is, anything else as JSON text.
  if (const Member details = Find(fields, "details")) {
    if (details->kind == WireValue::kString) {
      AppendString(3, details->bytes, out);
    } else {
      google::protobuf::Value value;
      std::string json;
      if (!value.ParseFromArray(details->encoding.data(),
                                static_cast<int>(details->encoding.size())) ||
          !google::protobuf::util::MessageToJsonString(value, &json).ok()) {
        return MakeError(absl::StatusCode::kInternal, kInternalError,
                         "cannot print payload.error.details");
      }
      AppendString(3, json, out);
    }
  }
  EndLength(out, length);
  return absl::OkStatus();
}

// What this version knows of each event type: its `eventType`, and where
// its typed payload goes.
struct EventTypeSpec {
  absl::string_view name;
  v1::EventType type;
  // A workflow execution's event: `payload.workflowExecutionId` is required.
  bool workflow;
  // The field number of the type's message in Event's `typed_payload`.
  std::uint32_t field;
  // The payload member the message's one string field (number 1) comes
  // from; empty: the message has no such field.
  absl::string_view id;
};

constexpr EventTypeSpec kEventTypes[] = {
    {"workflowExecution.started", v1::EVENT_TYPE_WORKFLOW_EXECUTION_STARTED,
     true, 20, ""},
    {"workflowExecution.actionExecuted",
     v1::EVENT_TYPE_WORKFLOW_EXECUTION_ACTION_EXECUTED, true, 21,
     "workflowActionId"},
    {"workflowExecution.completed", v1::EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED,
     true, 22, ""},
    {"workflowExecution.waitingForTrigger",
     v1::EVENT_TYPE_WORKFLOW_EXECUTION_WAITING_FOR_TRIGGER, true, 23,
     "workflowActionId"},
    {"workflowExecution.canceled", v1::EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED,
     true, 24, ""},
    // Its message is read by ReadWorkflowFailed.
    {"workflowExecution.failed", v1::EVENT_TYPE_WORKFLOW_EXECUTION_FAILED, true,
     25, ""},
    {"openid4vc.issuance.offered", v1::EVENT_TYPE_OPENID4VC_ISSUANCE_OFFERED,
     false, 26, "openId4VcIssuanceId"},
    {"openid4vc.issuance.partiallyIssued",
     v1::EVENT_TYPE_OPENID4VC_ISSUANCE_PARTIALLY_ISSUED, false, 27,
     "openId4VcIssuanceId"},
    {"openid4vc.issuance.completed",
     v1::EVENT_TYPE_OPENID4VC_ISSUANCE_COMPLETED, false, 28,
     "openId4VcIssuanceId"},
    {"openid4vc.issuance.failed", v1::EVENT_TYPE_OPENID4VC_ISSUANCE_FAILED,
     false, 29, "openId4VcIssuanceId"},
    {"openid4vc.verification.requested",
     v1::EVENT_TYPE_OPENID4VC_VERIFICATION_REQUESTED, false, 30,
     "openId4VcVerificationId"},
    {"openid4vc.verification.verified",
     v1::EVENT_TYPE_OPENID4VC_VERIFICATION_VERIFIED, false, 31,
     "openId4VcVerificationId"},
    {"openid4vc.verification.failed",
     v1::EVENT_TYPE_OPENID4VC_VERIFICATION_FAILED, false, 32,
     "openId4VcVerificationId"},
};

// The row of `type`, or nullptr for a type this version does not know.
const EventTypeSpec* FindEventType(v1::EventType type) {
  for (const EventTypeSpec& spec : kEventTypes) {
    if (spec.type == type) return &spec;
  }
  return nullptr;
}

// WorkflowExecutionFailed: an optional action id (explicit presence: set,
// even empty, whenever the payload has one), then the error.
absl::Status ReadWorkflowFailed(absl::string_view payload, std::string& out) {
  static constexpr absl::string_view kActionId = "workflowActionId";
  if (Find(payload, kActionId).has_value()) {
    absl::string_view id;
    RETURN_IF_ERROR(ReadString(payload, kActionId, "payload.", false, id));
    AppendTag(1, kDelimited, out);
    AppendVarint(id.size(), out);
    out.append(id.data(), id.size());
  }
  return ReadWorkflowError(payload, out);
}

// The workflow ids, and the typed payload of `type`, from `payload` (a Struct
// encoding).
absl::Status ReadTypedPayload(absl::string_view payload, v1::EventType type,
                              absl::string_view& workflow_id,
                              absl::string_view& workflow_execution_id,
                              TypedPayload& typed) {
  const EventTypeSpec* spec = FindEventType(type);
  if (spec != nullptr && spec->workflow) {
    RETURN_IF_ERROR(ReadString(payload, "workflowExecutionId", "payload.", true,
                               workflow_execution_id));
    RETURN_IF_ERROR(
        ReadString(payload, "workflowId", "payload.", false, workflow_id));
  } else {
    // Other types may carry the ids too; their types are not ours to judge.
    workflow_id = StringIfPresent(payload, "workflowId");
    workflow_execution_id = StringIfPresent(payload, "workflowExecutionId");
  }
  if (spec == nullptr) return absl::OkStatus();
  typed.field = spec->field;
  if (type == v1::EVENT_TYPE_WORKFLOW_EXECUTION_FAILED) {
    return ReadWorkflowFailed(payload, typed.encoding);
  }
  if (spec->id.empty()) return absl::OkStatus();
  absl::string_view id;
  RETURN_IF_ERROR(ReadString(payload, spec->id, "payload.", false, id));
  AppendString(1, id, typed.encoding);
  return absl::OkStatus();
}

// Buffers reused by every Encode on a thread, so that normalizing allocates
// nothing once they have grown; trimmed after an unusually large body.
struct Scratch {
  std::string values;
  std::string extra_fields;
  TypedPayload typed;
  void Clear() {
    constexpr std::size_t kKeep = 64 * 1024;
    for (std::string* s : {&values, &extra_fields, &typed.encoding}) {
      if (s->capacity() > kKeep) std::string().swap(*s);
      s->clear();
    }
    typed.field = 0;
  }
};

// What Encode reads from the envelope, besides the typed payload.
struct EnvelopeFields {
  absl::string_view event_type;
  v1::EventType type = v1::EVENT_TYPE_UNSPECIFIED;
  absl::string_view webhook_id;
  absl::string_view project_id;
  // The payload's Struct fields, when the webhook has a payload.
  std::optional<absl::string_view> payload;
  absl::string_view workflow_id;
  absl::string_view workflow_execution_id;
  bool has_extra_fields = false;
};

// Reads the envelope's members (but the typed payload) into `fields`, and
// `webhookPublishedAt` into `publish_time`.
absl::Status ReadEnvelope(EnvelopeSink& envelope, EnvelopeFields& fields,
                          std::optional<absl::Time>& publish_time) {
  RETURN_IF_ERROR(TakeString(envelope.Get(EnvelopeSink::kEventType),
                             "eventType", true, fields.event_type));
  fields.type = EventTypeFromString(fields.event_type);
  RETURN_IF_ERROR(TakeString(envelope.Get(EnvelopeSink::kWebhookId),
                             "webhookId", false, fields.webhook_id));
  RETURN_IF_ERROR(TakeString(envelope.Get(EnvelopeSink::kProjectId),
                             "projectId", false, fields.project_id));
  RETURN_IF_ERROR(ReadTimestamp(envelope.Get(EnvelopeSink::kPublishedAt),
                                "webhookPublishedAt", publish_time));
  const Member payload = envelope.Get(EnvelopeSink::kPayload);
  if (payload.has_value() && payload->kind != WireValue::kStruct) {
    return FieldError(kInvalidField, "payload", "must be an object");
  }
  if (payload.has_value()) fields.payload = payload->bytes;
  fields.has_extra_fields = envelope.has_extra_fields();
  return absl::OkStatus();
}

// Writes the event's encoding into `out.encoding`: the fields in their
// numbers' order, as protobuf writes them.
void AppendEvent(const EnvelopeFields& fields, absl::string_view body,
                 const EventNormalizer::Received& received,
                 const Scratch& scratch, EventNormalizer::EncodedEvent& out) {
  const absl::string_view payload = fields.payload.value_or("");
  std::string& encoding = out.encoding;
  encoding.clear();
  encoding.reserve(body.size() + payload.size() + scratch.extra_fields.size() +
                   scratch.typed.encoding.size() + received.endpoint.size() +
                   256);
  AppendString(2, fields.event_type, encoding);
  if (fields.type != v1::EVENT_TYPE_UNSPECIFIED) {
    AppendTag(3, kVarint, encoding);
    AppendVarint(static_cast<std::uint64_t>(fields.type), encoding);
  }
  AppendString(4, fields.webhook_id, encoding);
  AppendString(5, fields.project_id, encoding);
  if (out.publish_time) AppendTimestamp(6, *out.publish_time, encoding);
  if (received.receive_time) {
    AppendTimestamp(7, *received.receive_time, encoding);
  }
  AppendString(8, received.endpoint, encoding);
  AppendString(9, fields.workflow_id, encoding);
  AppendString(10, fields.workflow_execution_id, encoding);
  if (fields.payload.has_value()) {
    AppendTag(11, kDelimited, encoding);
    AppendVarint(payload.size(), encoding);
    encoding.append(payload.data(), payload.size());
  }
  if (fields.has_extra_fields) {
    AppendTag(12, kDelimited, encoding);
    AppendVarint(scratch.extra_fields.size(), encoding);
    encoding.append(scratch.extra_fields);
  }
  AppendString(13, body, encoding);
  if (scratch.typed.field != 0) {
    AppendTag(scratch.typed.field, kDelimited, encoding);
    AppendVarint(scratch.typed.encoding.size(), encoding);
    encoding.append(scratch.typed.encoding);
  }
}

}  // namespace

v1::EventType EventTypeFromString(absl::string_view event_type) {
  static const auto* const kTypes = [] {
    auto* types = new absl::flat_hash_map<absl::string_view, v1::EventType>();
    for (const EventTypeSpec& spec : kEventTypes) {
      types->emplace(spec.name, spec.type);
    }
    return types;
  }();
  auto it = kTypes->find(event_type);
  return it == kTypes->end() ? v1::EVENT_TYPE_UNSPECIFIED : it->second;
}

absl::Status EventNormalizer::Encode(absl::string_view body,
                                     const Received& received,
                                     EncodedEvent& out) const {
  thread_local Scratch scratch;
  scratch.Clear();
  EnvelopeSink envelope(scratch.values, scratch.extra_fields);
  RETURN_IF_ERROR(ParseJsonObject(body, options_.max_depth, envelope));
  EnvelopeFields fields;
  out.publish_time.reset();
  RETURN_IF_ERROR(ReadEnvelope(envelope, fields, out.publish_time));
  RETURN_IF_ERROR(ReadTypedPayload(
      fields.payload.value_or(""), fields.type, fields.workflow_id,
      fields.workflow_execution_id, scratch.typed));
  AppendEvent(fields, body, received, scratch, out);
  return absl::OkStatus();
}

absl::Status EventNormalizer::Normalize(absl::string_view body,
                                        v1::Event& event) const {
  EncodedEvent encoded;
  RETURN_IF_ERROR(Encode(body, Received(), encoded));
  google::protobuf::io::CodedInputStream input(
      reinterpret_cast<const std::uint8_t*>(encoded.encoding.data()),
      static_cast<int>(encoded.encoding.size()));
  // The parse bounded the payload's depth (max_depth) already.
  input.SetRecursionLimit(std::numeric_limits<int>::max());
  // The server's fields stay as the caller set them.
  const std::uint64_t sequence = event.sequence();
  std::string endpoint = std::move(*event.mutable_endpoint());
  const bool has_receive_time = event.has_receive_time();
  google::protobuf::Timestamp receive_time;
  if (has_receive_time) receive_time.Swap(event.mutable_receive_time());
  event.Clear();
  event.set_sequence(sequence);
  event.set_endpoint(std::move(endpoint));
  if (has_receive_time) event.mutable_receive_time()->Swap(&receive_time);
  if (!event.MergeFromCodedStream(&input)) {
    return MakeError(absl::StatusCode::kInternal, kInternalError,
                     "a normalized event does not decode");
  }
  return absl::OkStatus();
}

}  // namespace paradym::webhooks
