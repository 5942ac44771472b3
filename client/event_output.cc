#include "client/event_output.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "google/protobuf/util/json_util.h"
#include "server/core/proto_time.h"

namespace paradym::webhooks::cli {
namespace {

namespace v1 = ::paradym::webhooks::v1;

constexpr char kRowFormat[] = "%-8s %-12s %-38s %-10s %-10s %s\n";

// The first 8 characters of an id: enough to tell ids apart in a table.
absl::string_view Short(absl::string_view id) {
  return id.empty() ? "-" : id.substr(0, 8);
}

}  // namespace

std::optional<EventPrinter::Format> EventPrinter::ParseFormat(
    absl::string_view name) {
  if (name == "json") return Format::kJson;
  if (name == "table") return Format::kTable;
  return std::nullopt;
}

std::string EventPrinter::Header() const {
  if (format_ == Format::kJson) return "";
  return absl::StrFormat(kRowFormat, "SEQUENCE", "RECEIVED", "EVENT TYPE",
                         "PROJECT", "EXECUTION", "DETAIL");
}

absl::Status EventPrinter::Append(const v1::Event& event,
                                  std::string& out) const {
  if (format_ == Format::kJson) {
    std::string json;
    // Protobuf 3.21 has a Status type of its own.
    if (!google::protobuf::util::MessageToJsonString(event, &json).ok()) {
      return absl::InternalError(
          absl::StrCat("cannot print event ", event.sequence(), " as JSON"));
    }
    absl::StrAppend(&out, json, "\n");
    return absl::OkStatus();
  }
  const absl::Time received = ToTime(event.receive_time());
  absl::StrAppendFormat(
      &out, kRowFormat, absl::StrCat(event.sequence()),
      absl::FormatTime("%H:%M:%E3S", received, absl::UTCTimeZone()),
      event.event_type(), Short(event.project_id()),
      Short(event.workflow_execution_id()), EventDetail(event));
  return absl::OkStatus();
}

std::string EventDetail(const v1::Event& event) {
  switch (event.typed_payload_case()) {
    case v1::Event::kWorkflowExecutionActionExecuted:
      return event.workflow_execution_action_executed().workflow_action_id();
    case v1::Event::kWorkflowExecutionWaitingForTrigger:
      return event.workflow_execution_waiting_for_trigger()
          .workflow_action_id();
    case v1::Event::kWorkflowExecutionFailed: {
      const auto& error = event.workflow_execution_failed().error();
      return error.code().empty() ? error.message() : error.code();
    }
    case v1::Event::kOpenid4VcIssuanceOffered:
      return event.openid4vc_issuance_offered().openid4vc_issuance_id();
    case v1::Event::kOpenid4VcIssuancePartiallyIssued:
      return event.openid4vc_issuance_partially_issued()
          .openid4vc_issuance_id();
    case v1::Event::kOpenid4VcIssuanceCompleted:
      return event.openid4vc_issuance_completed().openid4vc_issuance_id();
    case v1::Event::kOpenid4VcIssuanceFailed:
      return event.openid4vc_issuance_failed().openid4vc_issuance_id();
    case v1::Event::kOpenid4VcVerificationRequested:
      return event.openid4vc_verification_requested()
          .openid4vc_verification_id();
    case v1::Event::kOpenid4VcVerificationVerified:
      return event.openid4vc_verification_verified()
          .openid4vc_verification_id();
    case v1::Event::kOpenid4VcVerificationFailed:
      return event.openid4vc_verification_failed().openid4vc_verification_id();
    default:
      return "-";
  }
}

std::optional<std::uint64_t> LastSequenceInJsonLines(absl::string_view text) {
  // Only a line ended by '\n' is complete; a torn last line (a crash while
  // writing) is ignored, and its event is received again.
  const std::size_t end = text.rfind('\n');
  if (end == absl::string_view::npos) return std::nullopt;
  const absl::string_view complete = text.substr(0, end);
  const std::size_t start = complete.rfind('\n');
  const absl::string_view line =
      start == absl::string_view::npos ? complete : complete.substr(start + 1);
  // proto3 JSON writes uint64 as a string: "sequence":"42".
  constexpr absl::string_view kKey = "\"sequence\":\"";
  const std::size_t at = line.find(kKey);
  if (at == absl::string_view::npos) return std::nullopt;
  const std::size_t value = at + kKey.size();
  const std::size_t close = line.find('"', value);
  std::uint64_t sequence = 0;
  if (close == absl::string_view::npos ||
      !absl::SimpleAtoi(line.substr(value, close - value), &sequence)) {
    return std::nullopt;
  }
  return sequence;
}

}  // namespace paradym::webhooks::cli
