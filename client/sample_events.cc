#include "client/sample_events.h"

#include <algorithm>
#include <cstdint>
#include <random>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/substitute.h"
#include "rapidjson/document.h"
#include "rapidjson/error/en.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"

namespace paradym::webhooks::cli {
namespace {

// A random version 4 UUID, as Paradym's ids are.
std::string RandomUuid() {
  static thread_local std::mt19937_64 generator{std::random_device{}()};
  const std::uint64_t high = generator();
  const std::uint64_t low = generator();
  return absl::StrFormat(
      "%08x-%04x-4%03x-%04x-%012x", high >> 32, (high >> 16) & 0xffff,
      high & 0x0fff, 0x8000 | ((low >> 48) & 0x3fff), low & 0xffffffffffffULL);
}

// The payload of each type; $0 a workflow id, $1 an execution id, $2 an
// issuance or verification id.
struct Sample {
  const char* type;
  const char* payload;
};

constexpr Sample kSamples[] = {
    {"workflowExecution.started",
     R"({"workflowId":"$0","workflowExecutionId":"$1"})"},
    {"workflowExecution.actionExecuted",
     R"({"workflowId":"$0","workflowExecutionId":"$1","workflowActionId":"issue-credential"})"},
    {"workflowExecution.completed",
     R"({"workflowId":"$0","workflowExecutionId":"$1"})"},
    {"workflowExecution.waitingForTrigger",
     R"({"workflowId":"$0","workflowExecutionId":"$1","workflowActionId":"await-approval"})"},
    {"workflowExecution.canceled",
     R"({"workflowId":"$0","workflowExecutionId":"$1"})"},
    {"workflowExecution.failed",
     R"({"workflowId":"$0","workflowExecutionId":"$1","workflowActionId":"verify-presentation","error":{"message":"The presentation was rejected","code":"presentation_rejected","details":"holder declined the request"}})"},
    {"openid4vc.issuance.offered",
     R"({"openId4VcIssuanceId":"$2","credentialOfferUri":"openid-credential-offer://?credential_offer_uri=https%3A%2F%2Fparadym.id%2Foffers%2F$2"})"},
    {"openid4vc.issuance.partiallyIssued",
     R"({"openId4VcIssuanceId":"$2","issuedCredentials":["PID"]})"},
    {"openid4vc.issuance.completed", R"({"openId4VcIssuanceId":"$2"})"},
    {"openid4vc.issuance.failed",
     R"({"openId4VcIssuanceId":"$2","error":{"message":"offer expired"}})"},
    {"openid4vc.verification.requested",
     R"({"openId4VcVerificationId":"$2","authorizationRequestUri":"openid4vp://?request_uri=https%3A%2F%2Fparadym.id%2Frequests%2F$2"})"},
    {"openid4vc.verification.verified",
     R"({"openId4VcVerificationId":"$2","presentedCredentials":[{"type":"PID","claims":{"given_name":"Erika","age_over_18":true}}]})"},
    {"openid4vc.verification.failed",
     R"({"openId4VcVerificationId":"$2","error":{"code":"invalid_presentation"}})"},
};

std::string ToJson(const rapidjson::Value& value) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  value.Accept(writer);
  return std::string(buffer.GetString(), buffer.GetSize());
}

// An override's VALUE: JSON when it parses as a JSON value, else a string.
rapidjson::Value OverrideValue(absl::string_view text,
                               rapidjson::Document::AllocatorType& allocator) {
  rapidjson::Document parsed(&allocator);
  parsed.Parse(text.data(), text.size());
  rapidjson::Value value;
  if (parsed.HasParseError()) {
    value.SetString(text.data(), static_cast<rapidjson::SizeType>(text.size()),
                    allocator);
  } else {
    value.CopyFrom(parsed, allocator);
  }
  return value;
}

// Sets `value` at `path` in `document`, creating the objects missing on the
// way. INVALID_ARGUMENT, naming the override `entry`, for an empty name or
// a path through something that is not an object.
absl::Status SetAtPath(rapidjson::Document& document,
                       const std::vector<absl::string_view>& path,
                       rapidjson::Value value, absl::string_view entry) {
  auto& allocator = document.GetAllocator();
  rapidjson::Value* object = &document;
  for (std::size_t i = 0; i < path.size(); ++i) {
    if (path[i].empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--set ", entry, ": empty name in the path"));
    }
    if (!object->IsObject()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--set ", entry, ": ",
                       absl::StrJoin(path.begin(), path.begin() + i, "."),
                       " is not an object"));
    }
    // A Value, not a StringRef: FindMember(const char*) would run to the
    // terminating NUL, past this name.
    const rapidjson::Value name(rapidjson::StringRef(
        path[i].data(), static_cast<rapidjson::SizeType>(path[i].size())));
    auto member = object->FindMember(name);
    const bool last = i + 1 == path.size();
    if (member == object->MemberEnd()) {
      rapidjson::Value child;
      if (last) {
        child = std::move(value);
      } else {
        child.SetObject();
      }
      rapidjson::Value key(path[i].data(),
                           static_cast<rapidjson::SizeType>(path[i].size()),
                           allocator);
      object->AddMember(key, child, allocator);
      member = object->FindMember(name);
    } else if (last) {
      member->value = std::move(value);
    }
    object = &member->value;
  }
  return absl::OkStatus();
}

}  // namespace

const std::vector<std::string>& SampleEventTypes() {
  static const auto* types = [] {
    auto* list = new std::vector<std::string>();
    for (const Sample& sample : kSamples) list->push_back(sample.type);
    return list;
  }();
  return *types;
}

absl::StatusOr<std::string> SampleBody(
    absl::string_view event_type, const std::vector<std::string>& overrides,
    absl::Time now) {
  const Sample* sample =
      std::find_if(std::begin(kSamples), std::end(kSamples),
                   [&](const Sample& s) { return s.type == event_type; });
  if (sample == std::end(kSamples)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "no sample of event type ", event_type,
        "; send --body=FILE for other types (paradym-webhooks send --help "
        "lists the samples)"));
  }
  const std::string payload = absl::Substitute(sample->payload, RandomUuid(),
                                               RandomUuid(), RandomUuid());
  const std::string body = absl::StrCat(
      R"({"webhookId":")", RandomUuid(), R"(","webhookPublishedAt":")",
      absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", now, absl::UTCTimeZone()),
      R"(","projectId":"c6f1c0d2-7a3b-4e8f-9c1d-2e3f4a5b6c7d","eventType":")",
      event_type, R"(","payload":)", payload, "}");
  return ApplyOverrides(body, overrides);
}

absl::StatusOr<std::string> ApplyOverrides(
    absl::string_view body, const std::vector<std::string>& overrides) {
  if (overrides.empty()) return std::string(body);
  rapidjson::Document document;
  document.Parse(body.data(), body.size());
  if (document.HasParseError() || !document.IsObject()) {
    return absl::InvalidArgumentError(
        "--set needs a body that is a JSON object");
  }
  for (const std::string& entry : overrides) {
    const std::size_t equals = entry.find('=');
    if (equals == std::string::npos || equals == 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--set ", entry, ": expected path=value, like payload.error.code=x"));
    }
    const absl::string_view name = absl::string_view(entry).substr(0, equals);
    const absl::string_view text = absl::string_view(entry).substr(equals + 1);
    if (absl::Status set =
            SetAtPath(document, absl::StrSplit(name, '.'),
                      OverrideValue(text, document.GetAllocator()), entry);
        !set.ok()) {
      return set;
    }
  }
  return ToJson(document);
}

}  // namespace paradym::webhooks::cli
