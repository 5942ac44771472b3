#include "server/core/event_normalizer.h"

#include <map>
#include <ostream>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/text_format.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "server/core/errors.h"
#include "tests/testing/core_printers.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_data.h"

namespace paradym::webhooks {

namespace {

using ::google::protobuf::Struct;
using ::google::protobuf::Value;
using ::paradym::webhooks::testing::HasReason;
using ::paradym::webhooks::testing::IsOk;
using ::paradym::webhooks::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::Field;
using ::testing::IsEmpty;

constexpr absl::string_view kProjectId = "c6f1c0d2-7a3b-4e8f-9c1d-2e3f4a5b6c7d";
constexpr absl::string_view kWorkflowId =
    "2f8e6a51-3c4d-4b6a-8e9f-0a1b2c3d4e5f";
constexpr absl::string_view kExecutionId =
    "9d3c2b1a-0f9e-4d8c-b7a6-5e4f3d2c1b0a";
// 2024-06-12T09:30:00Z, from `date -u -d 2024-06-12T09:30:00Z +%s`. The
// fixture with webhookId ...4eNN was published NN seconds later, plus 123 ms.
constexpr int64_t kBaseSeconds = 1718184600;

template <typename Message>
Message FromText(const std::string& text) {
  Message message;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &message))
      << text;
  return message;
}

template <typename Message>
void ExpectProtoEq(const Message& actual, const Message& expected) {
  google::protobuf::util::MessageDifferencer differencer;
  std::string differences;
  differencer.ReportDifferencesToString(&differences);
  EXPECT_TRUE(differencer.Compare(expected, actual))
      << differences << "\nactual:\n"
      << actual.DebugString();
}

// The `payload` of `body` parsed by protobuf's own JSON reader, independent
// of the parser under test.
Struct PayloadOf(const std::string& body) {
  Struct envelope;
  const auto status =
      google::protobuf::util::JsonStringToMessage(body, &envelope);
  EXPECT_THAT(status, IsOk());
  return envelope.fields().at("payload").struct_value();
}

// The common envelope of the fixture with webhookId ...4e<nn>.
std::string Envelope(absl::string_view event_type, int nn) {
  return absl::StrCat(
      "event_type: \"", event_type, "\"\n",
      "webhook_id: \"5b0c9b64-2f0e-4a4c-9d7e-0a1b2c3d4e", nn < 10 ? "0" : "",
      nn, "\"\n", "project_id: \"", kProjectId, "\"\n",
      "publish_time { seconds: ", kBaseSeconds + nn, " nanos: 123000000 }\n");
}

std::string WorkflowIds() {
  return absl::StrCat("workflow_id: \"", kWorkflowId, "\"\n",
                      "workflow_execution_id: \"", kExecutionId, "\"\n");
}

// The expected Event for every file in tests/testdata/events, apart from
// `payload` and `body`, which are compared with the file itself.
std::map<std::string, std::string> ExpectedEvents() {
  return {
      {"workflowExecution.started.json",
       absl::StrCat(Envelope("workflowExecution.started", 0),
                    "type: EVENT_TYPE_WORKFLOW_EXECUTION_STARTED\n",
                    WorkflowIds(), "workflow_execution_started {}\n")},
      {"workflowExecution.actionExecuted.json",
       absl::StrCat(Envelope("workflowExecution.actionExecuted", 1),
                    "type: EVENT_TYPE_WORKFLOW_EXECUTION_ACTION_EXECUTED\n",
                    WorkflowIds(),
                    "workflow_execution_action_executed {"
                    " workflow_action_id: \"issue-credential\" }\n")},
      {"workflowExecution.completed.json",
       absl::StrCat(Envelope("workflowExecution.completed", 2),
                    "type: EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED\n",
                    WorkflowIds(), "workflow_execution_completed {}\n")},
      {"workflowExecution.waitingForTrigger.json",
       absl::StrCat(Envelope("workflowExecution.waitingForTrigger", 3),
                    "type: EVENT_TYPE_WORKFLOW_EXECUTION_WAITING_FOR_TRIGGER\n",
                    WorkflowIds(),
                    "workflow_execution_waiting_for_trigger {"
                    " workflow_action_id: \"await-approval\" }\n")},
      {"workflowExecution.canceled.json",
       absl::StrCat(Envelope("workflowExecution.canceled", 4),
                    "type: EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED\n",
                    WorkflowIds(), "workflow_execution_canceled {}\n")},
      {"workflowExecution.failed.json",
       absl::StrCat(Envelope("workflowExecution.failed", 5),
                    "type: EVENT_TYPE_WORKFLOW_EXECUTION_FAILED\n",
                    WorkflowIds(),
                    "workflow_execution_failed {\n"
                    "  workflow_action_id: \"verify-presentation\"\n"
                    "  error {\n"
                    "    message: \"The presentation was rejected\"\n"
                    "    code: \"presentation_rejected\"\n"
                    "    details: \"holder declined the request\"\n"
                    "  }\n"
                    "}\n")},
      {"openid4vc.issuance.offered.json",
       absl::StrCat(Envelope("openid4vc.issuance.offered", 6),
                    "type: EVENT_TYPE_OPENID4VC_ISSUANCE_OFFERED\n",
                    "openid4vc_issuance_offered { openid4vc_issuance_id:"
                    " \"a1b2c3d4-0000-4000-8000-000000000001\" }\n")},
      {"openid4vc.issuance.partiallyIssued.json",
       absl::StrCat(Envelope("openid4vc.issuance.partiallyIssued", 7),
                    "type: EVENT_TYPE_OPENID4VC_ISSUANCE_PARTIALLY_ISSUED\n",
                    "openid4vc_issuance_partially_issued {"
                    " openid4vc_issuance_id:"
                    " \"a1b2c3d4-0000-4000-8000-000000000001\" }\n")},
      {"openid4vc.issuance.completed.json",
       absl::StrCat(Envelope("openid4vc.issuance.completed", 8),
                    "type: EVENT_TYPE_OPENID4VC_ISSUANCE_COMPLETED\n",
                    "openid4vc_issuance_completed { openid4vc_issuance_id:"
                    " \"a1b2c3d4-0000-4000-8000-000000000001\" }\n")},
      {"openid4vc.issuance.failed.json",
       absl::StrCat(Envelope("openid4vc.issuance.failed", 9),
                    "type: EVENT_TYPE_OPENID4VC_ISSUANCE_FAILED\n",
                    "openid4vc_issuance_failed { openid4vc_issuance_id:"
                    " \"a1b2c3d4-0000-4000-8000-000000000001\" }\n")},
      {"openid4vc.verification.requested.json",
       absl::StrCat(Envelope("openid4vc.verification.requested", 10),
                    "type: EVENT_TYPE_OPENID4VC_VERIFICATION_REQUESTED\n",
                    "openid4vc_verification_requested {"
                    " openid4vc_verification_id:"
                    " \"b2c3d4e5-0000-4000-8000-000000000002\" }\n")},
      {"openid4vc.verification.verified.json",
       absl::StrCat(Envelope("openid4vc.verification.verified", 11),
                    "type: EVENT_TYPE_OPENID4VC_VERIFICATION_VERIFIED\n",
                    "openid4vc_verification_verified {"
                    " openid4vc_verification_id:"
                    " \"b2c3d4e5-0000-4000-8000-000000000002\" }\n")},
      {"openid4vc.verification.failed.json",
       absl::StrCat(Envelope("openid4vc.verification.failed", 12),
                    "type: EVENT_TYPE_OPENID4VC_VERIFICATION_FAILED\n",
                    "openid4vc_verification_failed {"
                    " openid4vc_verification_id:"
                    " \"b2c3d4e5-0000-4000-8000-000000000002\" }\n")},
      // A type this version does not know: no typed payload, all kept.
      {"didcomm.connection.established.json",
       absl::StrCat(Envelope("didcomm.connection.established", 13),
                    "type: EVENT_TYPE_UNSPECIFIED\n")},
  };
}

TEST(EventNormalizer, FixturesAndExpectationsMatch) {
  std::set<std::string> expected;
  for (const auto& [name, text] : ExpectedEvents()) expected.insert(name);
  const std::vector<std::string> files = testing::ListTestData("events");
  EXPECT_EQ(std::set<std::string>(files.begin(), files.end()), expected);
}

TEST(EventNormalizer, NormalizesEveryFixture) {
  const EventNormalizer normalizer;
  const std::map<std::string, std::string> expected_events = ExpectedEvents();
  const std::vector<std::string> files = testing::ListTestData("events");
  ASSERT_FALSE(files.empty());
  for (const std::string& file : files) {
    SCOPED_TRACE(file);
    auto expected_it = expected_events.find(file);
    ASSERT_NE(expected_it, expected_events.end())
        << "no expectation for " << file;
    const std::string body = testing::ReadTestData("events/" + file);
    ASSERT_FALSE(body.empty());

    v1::Event event;
    const absl::Status status = normalizer.Normalize(body, event);
    ASSERT_THAT(status, IsOk());

    // The file name is the eventType.
    EXPECT_EQ(event.event_type() + ".json", file);
    EXPECT_EQ(event.type(), EventTypeFromString(event.event_type()));
    EXPECT_EQ(event.body(), body);
    ExpectProtoEq(event.payload(), PayloadOf(body));
    EXPECT_THAT(event.extra_fields().fields(), IsEmpty());

    const v1::Event expected = FromText<v1::Event>(expected_it->second);
    EXPECT_EQ(event.typed_payload_case(), expected.typed_payload_case());
    v1::Event rest = event;
    rest.clear_payload();
    rest.clear_body();
    ExpectProtoEq(rest, expected);
  }
}

TEST(EventNormalizer, UnknownTypeKeepsWholePayload) {
  const std::string body =
      testing::ReadTestData("events/didcomm.connection.established.json");
  v1::Event event;
  const absl::Status status = EventNormalizer().Normalize(body, event);
  ASSERT_THAT(status, IsOk());
  EXPECT_EQ(event.type(), v1::EVENT_TYPE_UNSPECIFIED);
  EXPECT_EQ(event.event_type(), "didcomm.connection.established");
  EXPECT_EQ(event.typed_payload_case(), v1::Event::TYPED_PAYLOAD_NOT_SET);
  ExpectProtoEq(event.payload(), FromText<Struct>(R"(
    fields {
      key: "connectionId"
      value { string_value: "c3d4e5f6-0000-4000-8000-000000000003" }
    }
    fields { key: "theirLabel" value { string_value: "Wallet" } }
  )"));
}

TEST(EventNormalizer, LeavesServiceFieldsAlone) {
  const std::string body =
      testing::ReadTestData("events/workflowExecution.started.json");
  v1::Event event;
  event.set_sequence(42);
  event.set_endpoint("shop");
  event.mutable_receive_time()->set_seconds(7);
  const absl::Status status = EventNormalizer().Normalize(body, event);
  ASSERT_THAT(status, IsOk());
  EXPECT_EQ(event.sequence(), 42u);
  EXPECT_EQ(event.endpoint(), "shop");
  EXPECT_EQ(event.receive_time().seconds(), 7);
  EXPECT_EQ(event.type(), v1::EVENT_TYPE_WORKFLOW_EXECUTION_STARTED);
}

struct BadCase {
  std::string file;
  std::string reason;
  std::string field;  // empty when the MANIFEST names none
};

std::vector<BadCase> ReadManifest() {
  std::vector<BadCase> cases;
  const std::string manifest = testing::ReadTestData("bad/MANIFEST");
  for (absl::string_view line : absl::StrSplit(manifest, '\n')) {
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || line.front() == '#') continue;
    const std::vector<std::string> parts =
        absl::StrSplit(line, absl::ByAnyChar(" \t"), absl::SkipEmpty());
    if (parts.size() < 2 || parts.size() > 3) {
      ADD_FAILURE() << "bad MANIFEST line: " << line;
      continue;
    }
    cases.push_back({parts[0], parts[1], parts.size() == 3 ? parts[2] : ""});
  }
  return cases;
}

TEST(EventNormalizer, ManifestListsEveryBadFile) {
  const std::vector<BadCase> cases = ReadManifest();
  ASSERT_FALSE(cases.empty());
  std::set<std::string> listed;
  for (const BadCase& c : cases) {
    EXPECT_TRUE(listed.insert(c.file).second) << c.file << " listed twice";
  }
  std::set<std::string> files;
  for (const std::string& name : testing::ListTestData("bad")) {
    if (name != "MANIFEST") files.insert(name);
  }
  EXPECT_EQ(files, listed);
}

TEST(EventNormalizer, RejectsEveryBadFileWithManifestReason) {
  const EventNormalizer normalizer;
  const std::vector<BadCase> cases = ReadManifest();
  ASSERT_FALSE(cases.empty());
  for (const BadCase& c : cases) {
    SCOPED_TRACE(absl::StrCat(c.file, " ", c.reason, " ", c.field));
    const std::string body = testing::ReadTestData("bad/" + c.file);
    v1::Event event;
    const absl::Status status = normalizer.Normalize(body, event);
    ASSERT_THAT(status, StatusIs(absl::StatusCode::kInvalidArgument));
    EXPECT_THAT(status, HasReason(c.reason));
    if (!c.field.empty()) {
      EXPECT_THAT(ErrorFieldViolations(status),
                  ElementsAre(Field(&FieldViolation::field, c.field)))
          << status;
    }
  }
}

absl::Status Normalize(absl::string_view body, v1::Event& event) {
  return EventNormalizer().Normalize(body, event);
}

// A body nested `depth` levels deep in all, the envelope being the first:
// objects ({"a":{"a":...}}) or, inside the payload object, arrays.
std::string Nested(int depth, bool arrays) {
  std::string inner = "1";
  for (int i = 0; i < depth - 2; ++i) {
    inner = arrays ? absl::StrCat("[", inner, "]")
                   : absl::StrCat("{\"a\":", inner, "}");
  }
  return absl::StrCat(
      R"({"eventType":"x.y","webhookId":"w","projectId":"p","payload":{"a":)",
      inner, "}}");
}

// Whatever depth the normalizer accepts must decode with the default
// recursion limit of protobuf decoders (100 in C++, Java and Python): a
// Struct level takes two or three message levels, so the JSON limit is set
// in those, not in JSON levels. Otherwise a stored event would be a poison
// pill that every default client fails on.
TEST(EventNormalizer, EveryAcceptedDepthDecodesWithDefaultLimits) {
  const int max_depth = EventNormalizer::Options().max_depth;
  for (bool arrays : {false, true}) {
    SCOPED_TRACE(arrays ? "arrays" : "objects");
    v1::Event event;
    ASSERT_THAT(Normalize(Nested(max_depth, arrays), event), IsOk());
    std::string bytes;
    event.set_sequence(1);
    ASSERT_TRUE(event.SerializeToString(&bytes));
    v1::Event decoded;
    EXPECT_TRUE(decoded.ParseFromString(bytes));
    // One level more is refused, before anything is stored.
    const absl::Status deeper = Normalize(Nested(max_depth + 1, arrays), event);
    EXPECT_THAT(deeper, HasReason(kNestingTooDeep));
  }
}

TEST(EventNormalizer, ExtraTopLevelFieldsLandInExtraFields) {
  const std::string body =
      R"({"eventType":"workflowExecution.started","attempt":3,)"
      R"("meta":{"region":"eu"},"webhookId":"w1",)"
      R"("payload":{"workflowExecutionId":"e1"},"note":null})";
  v1::Event event;
  const absl::Status status = Normalize(body, event);
  ASSERT_THAT(status, IsOk());
  ExpectProtoEq(event.extra_fields(), FromText<Struct>(R"(
    fields { key: "attempt" value { number_value: 3 } }
    fields {
      key: "meta"
      value {
        struct_value {
          fields { key: "region" value { string_value: "eu" } }
        }
      }
    }
    fields { key: "note" value { null_value: NULL_VALUE } }
  )"));
  EXPECT_EQ(event.webhook_id(), "w1");
  EXPECT_EQ(event.workflow_execution_id(), "e1");
}

TEST(EventNormalizer, ExtraPayloadFieldsStayInPayload) {
  const std::string body =
      R"({"eventType":"workflowExecution.actionExecuted",)"
      R"("payload":{"workflowExecutionId":"e1","workflowActionId":"a1",)"
      R"("output":{"credentials":[1,2]},"newField":"x"}})";
  v1::Event event;
  const absl::Status status = Normalize(body, event);
  ASSERT_THAT(status, IsOk());
  EXPECT_THAT(event.extra_fields().fields(), IsEmpty());
  ExpectProtoEq(event.payload(), PayloadOf(body));
  EXPECT_EQ(event.workflow_execution_action_executed().workflow_action_id(),
            "a1");
}

TEST(EventNormalizer, NullOptionalFieldsAreAbsent) {
  const std::string body =
      R"({"eventType":"workflowExecution.failed","webhookId":null,)"
      R"("projectId":null,"webhookPublishedAt":null,)"
      R"("payload":{"workflowExecutionId":"e1","workflowId":null,)"
      R"("workflowActionId":null,"error":null}})";
  v1::Event event;
  const absl::Status status = Normalize(body, event);
  ASSERT_THAT(status, IsOk());
  EXPECT_EQ(event.webhook_id(), "");
  EXPECT_EQ(event.project_id(), "");
  EXPECT_FALSE(event.has_publish_time());
  EXPECT_EQ(event.workflow_id(), "");
  EXPECT_EQ(event.workflow_execution_id(), "e1");
  ASSERT_TRUE(event.has_workflow_execution_failed());
  EXPECT_FALSE(event.workflow_execution_failed().has_workflow_action_id());
  EXPECT_FALSE(event.workflow_execution_failed().has_error());
  // The nulls are still part of the payload as sent.
  EXPECT_EQ(event.payload().fields().at("error").kind_case(),
            Value::kNullValue);
}

TEST(EventNormalizer, NullErrorFieldsAreAbsent) {
  const std::string body =
      R"({"eventType":"workflowExecution.failed","payload":)"
      R"({"workflowExecutionId":"e1","error":)"
      R"({"message":null,"code":"c1","details":null}}})";
  v1::Event event;
  const absl::Status status = Normalize(body, event);
  ASSERT_THAT(status, IsOk());
  ExpectProtoEq(
      event.workflow_execution_failed(),
      FromText<v1::WorkflowExecutionFailed>(R"(error { code: "c1" })"));
}

TEST(EventNormalizer, NullPayloadIsAbsent) {
  v1::Event event;
  absl::Status status =
      Normalize(R"({"eventType":"didcomm.x","payload":null})", event);
  ASSERT_THAT(status, IsOk());
  EXPECT_THAT(event.payload().fields(), IsEmpty());
  EXPECT_THAT(event.extra_fields().fields(), IsEmpty());

  status = Normalize(R"({"eventType":"workflowExecution.started",)"
                     R"("payload":null})",
                     event);
  EXPECT_THAT(status, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(status, HasReason(kMissingField));
  EXPECT_THAT(ErrorFieldViolations(status),
              ElementsAre(Field(&FieldViolation::field,
                                "payload.workflowExecutionId")));
}

TEST(EventNormalizer, FailedWithoutActionIdHasNoActionId) {
  const std::string body =
      R"({"eventType":"workflowExecution.failed","payload":)"
      R"({"workflowExecutionId":"e1","error":{"message":"m"}}})";
  v1::Event event;
  const absl::Status status = Normalize(body, event);
  ASSERT_THAT(status, IsOk());
  ASSERT_TRUE(event.has_workflow_execution_failed());
  EXPECT_FALSE(event.workflow_execution_failed().has_workflow_action_id());
  EXPECT_EQ(event.workflow_execution_failed().error().message(), "m");
}

TEST(EventNormalizer, FailedWithoutErrorHasNoError) {
  const std::string body =
      R"({"eventType":"workflowExecution.failed","payload":)"
      R"({"workflowExecutionId":"e1","workflowActionId":"a1"}})";
  v1::Event event;
  const absl::Status status = Normalize(body, event);
  ASSERT_THAT(status, IsOk());
  ASSERT_TRUE(event.has_workflow_execution_failed());
  EXPECT_TRUE(event.workflow_execution_failed().has_workflow_action_id());
  EXPECT_EQ(event.workflow_execution_failed().workflow_action_id(), "a1");
  EXPECT_FALSE(event.workflow_execution_failed().has_error());
}

TEST(EventNormalizer, ErrorDetailsAreKeptAsText) {
  struct Case {
    std::string details_json;
    std::string expected;
  };
  const std::vector<Case> cases = {
      {R"("plain text")", "plain text"},
      {R"("")", ""},
      {R"({"step" : {"attempts" : [1, 2.5, "x", true, null]}})",
       R"({"step":{"attempts":[1,2.5,"x",true,null]}})"},
      {R"({})", R"({})"},
      {R"([ "a" , {"b":false} ])", R"(["a",{"b":false}])"},
      {R"(42)", "42"},
      {R"(true)", "true"},
      {R"("quote \" and \\ backslash")", "quote \" and \\ backslash"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.details_json);
    const std::string body =
        absl::StrCat(R"({"eventType":"workflowExecution.failed","payload":)",
                     R"({"workflowExecutionId":"e1","error":{"details":)",
                     c.details_json, "}}}");
    v1::Event event;
    const absl::Status status = Normalize(body, event);
    ASSERT_THAT(status, IsOk());
    ASSERT_TRUE(event.workflow_execution_failed().has_error());
    EXPECT_EQ(event.workflow_execution_failed().error().details(), c.expected);
  }
}

TEST(EventNormalizer, ParsesTimestamps) {
  struct Case {
    std::string text;
    int64_t seconds;
    int32_t nanos;
  };
  // Seconds from `date -u -d <UTC time> +%s`.
  const std::vector<Case> cases = {
      {"2024-06-12T09:30:00Z", 1718184600, 0},
      {"2024-06-12T09:30:00.123Z", 1718184600, 123000000},
      {"2024-06-12T09:30:00.5Z", 1718184600, 500000000},
      {"2024-06-12T09:30:00.000001Z", 1718184600, 1000},
      {"2024-06-12T09:30:00.123456789Z", 1718184600, 123456789},
      {"2024-06-12T11:30:00+02:00", 1718184600, 0},
      {"2024-06-12T11:30:00.25+02:00", 1718184600, 250000000},
      {"2024-06-12T04:00:00-05:30", 1718184600, 0},
      {"2024-06-12T09:30:00+00:00", 1718184600, 0},
      {"1970-01-01T00:00:00Z", 0, 0},
      {"1969-12-31T23:59:59.5Z", -1, 500000000},
      {"0001-01-01T00:00:00Z", -62135596800, 0},
      {"9999-12-31T23:59:59.999999999Z", 253402300799, 999999999},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.text);
    const std::string body = absl::StrCat(
        R"({"eventType":"x.y","webhookPublishedAt":")", c.text, R"("})");
    v1::Event event;
    const absl::Status status = Normalize(body, event);
    ASSERT_THAT(status, IsOk());
    ASSERT_TRUE(event.has_publish_time());
    EXPECT_EQ(event.publish_time().seconds(), c.seconds);
    EXPECT_EQ(event.publish_time().nanos(), c.nanos);
  }
}

// The common form (`...T09:30:00.123Z`) takes a faster path than
// absl::ParseTime; both must read every such text alike, and refuse alike.
TEST(EventNormalizer, CommonTimestampFormReadsAsAbslParseTime) {
  std::vector<std::string> texts;
  for (const char* date :
       {"2024-02-28", "2024-02-29", "2023-02-28", "2023-02-29", "2000-02-29",
        "1900-02-29", "2024-01-31", "2024-04-30", "2024-04-31", "2024-12-31",
        "2024-13-01", "2024-00-10", "2024-06-00", "0001-01-01", "0000-12-31",
        "9999-12-31", "1969-12-31", "2038-01-19"}) {
    for (const char* time : {"00:00:00", "23:59:59", "12:34:56", "24:00:00",
                             "23:60:00", "23:59:60"}) {
      for (const char* fraction : {"", ".1", ".12", ".123", ".123456",
                                   ".123456789", ".1234567891", "."}) {
        texts.push_back(absl::StrCat(date, "T", time, fraction, "Z"));
      }
    }
  }
  for (const std::string& text : texts) {
    SCOPED_TRACE(text);
    absl::Time expected;
    std::string error;
    const bool valid =
        absl::ParseTime(absl::RFC3339_full, text, &expected, &error) &&
        expected >=
            absl::FromCivil(absl::CivilSecond(1, 1, 1), absl::UTCTimeZone()) &&
        expected < absl::FromCivil(absl::CivilSecond(10000, 1, 1),
                                   absl::UTCTimeZone());
    const std::string body = absl::StrCat(
        R"({"eventType":"x.y","webhookPublishedAt":")", text, R"("})");
    v1::Event event;
    const absl::Status status = Normalize(body, event);
    if (!valid) {
      EXPECT_THAT(status, HasReason(kInvalidTimestamp));
      continue;
    }
    ASSERT_THAT(status, IsOk());
    google::protobuf::Timestamp want;
    want.set_seconds(absl::ToUnixSeconds(expected));
    want.set_nanos(static_cast<int32_t>(absl::ToInt64Nanoseconds(
        expected - absl::FromUnixSeconds(want.seconds()))));
    EXPECT_EQ(event.publish_time().seconds(), want.seconds());
    EXPECT_EQ(event.publish_time().nanos(), want.nanos());
  }
}

// Encode writes the same Event Normalize fills in, plus what the server
// adds, in field number order (as protobuf writes an Event whose payload and
// extra fields have one member each).
TEST(EventNormalizer, EncodeIsNormalizeWithTheServerFields) {
  const std::string body = absl::StrCat(
      R"({"eventType":"workflowExecution.failed","webhookId":"w-1",)",
      R"("projectId":")", kProjectId, R"(","webhookPublishedAt":)",
      R"("2024-06-12T09:30:00.123Z","payload":{"workflowExecutionId":")",
      kExecutionId, R"("},"region":"eu"})");
  EventNormalizer normalizer;
  EventNormalizer::EncodedEvent encoded;
  const absl::Time received = absl::FromUnixMillis(1718184601500);
  ASSERT_THAT(normalizer.Encode(body, {"shop", received}, encoded), IsOk());
  ASSERT_TRUE(encoded.publish_time.has_value());
  EXPECT_EQ(*encoded.publish_time, absl::FromUnixMillis(1718184600123));

  v1::Event expected;
  ASSERT_THAT(normalizer.Normalize(body, expected), IsOk());
  expected.set_endpoint("shop");
  expected.mutable_receive_time()->set_seconds(1718184601);
  expected.mutable_receive_time()->set_nanos(500000000);
  v1::Event decoded;
  ASSERT_TRUE(decoded.ParseFromString(encoded.encoding));
  ExpectProtoEq(decoded, expected);
  EXPECT_EQ(encoded.encoding, expected.SerializeAsString());
}

TEST(EventNormalizer, RejectsBadTimestamps) {
  for (const std::string text :
       {"", "2024-06-12", "2024-06-12 09:30:00Z", "2024-06-12T09:30:00",
        "2024-06-12T25:00:00Z", "2024-02-30T00:00:00Z",
        "2024-06-12T09:30:00+25:00", "10000-01-01T00:00:00Z",
        "Wed, 12 Jun 2024 09:30:00 GMT"}) {
    SCOPED_TRACE(text);
    const std::string body = absl::StrCat(
        R"({"eventType":"x.y","webhookPublishedAt":")", text, R"("})");
    v1::Event event;
    const absl::Status status = Normalize(body, event);
    ASSERT_THAT(status, StatusIs(absl::StatusCode::kInvalidArgument));
    EXPECT_THAT(status, HasReason(kInvalidTimestamp));
    EXPECT_THAT(
        ErrorFieldViolations(status),
        ElementsAre(Field(&FieldViolation::field, "webhookPublishedAt")));
  }
}

TEST(EventNormalizer, MissingPublishTimeIsUnset) {
  v1::Event event;
  const absl::Status status = Normalize(R"({"eventType":"x.y"})", event);
  ASSERT_THAT(status, IsOk());
  EXPECT_FALSE(event.has_publish_time());
  EXPECT_EQ(event.webhook_id(), "");
  EXPECT_EQ(event.project_id(), "");
  EXPECT_EQ(event.type(), v1::EVENT_TYPE_UNSPECIFIED);
  EXPECT_EQ(event.event_type(), "x.y");
}

TEST(EventNormalizer, OtherTypesCopyStringWorkflowIdsOnly) {
  const std::string body =
      R"({"eventType":"openid4vc.issuance.offered","payload":)"
      R"({"workflowId":5,"workflowExecutionId":"e9",)"
      R"("openId4VcIssuanceId":"i1"}})";
  v1::Event event;
  const absl::Status status = Normalize(body, event);
  ASSERT_THAT(status, IsOk());
  EXPECT_EQ(event.workflow_id(), "");
  EXPECT_EQ(event.workflow_execution_id(), "e9");
  EXPECT_EQ(event.openid4vc_issuance_offered().openid4vc_issuance_id(), "i1");
}

TEST(EventNormalizer, WorkflowIdIsOptionalForWorkflowTypes) {
  v1::Event event;
  const absl::Status status =
      Normalize(R"({"eventType":"workflowExecution.completed",)"
                R"("payload":{"workflowExecutionId":"e1"}})",
                event);
  ASSERT_THAT(status, IsOk());
  EXPECT_EQ(event.workflow_id(), "");
  EXPECT_EQ(event.workflow_execution_id(), "e1");
  EXPECT_TRUE(event.has_workflow_execution_completed());
}

TEST(EventNormalizer, EmptyWorkflowExecutionIdIsMissing) {
  v1::Event event;
  const absl::Status status =
      Normalize(R"({"eventType":"workflowExecution.started",)"
                R"("payload":{"workflowExecutionId":""}})",
                event);
  EXPECT_THAT(status, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(status, HasReason(kMissingField));
  EXPECT_THAT(ErrorFieldViolations(status),
              ElementsAre(Field(&FieldViolation::field,
                                "payload.workflowExecutionId")));
  // The message names the field too, for people reading logs.
  EXPECT_EQ(status.message(),
            "payload.workflowExecutionId: required string is empty");
}

TEST(EventNormalizer, WrongTypeOfErrorMessageIsInvalidField) {
  v1::Event event;
  const absl::Status status = Normalize(
      R"({"eventType":"workflowExecution.failed",)"
      R"("payload":{"workflowExecutionId":"e1","error":{"message":[]}}})",
      event);
  EXPECT_THAT(status, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(status, HasReason(kInvalidField));
  EXPECT_THAT(
      ErrorFieldViolations(status),
      ElementsAre(Field(&FieldViolation::field, "payload.error.message")));
}

TEST(EventNormalizer, DepthLimitCountsTheEnvelope) {
  // Envelope 1, payload 2, then `arrays` levels of nesting.
  auto body = [](int arrays) {
    return absl::StrCat(R"({"eventType":"x.y","payload":{"p":)",
                        std::string(arrays, '['), std::string(arrays, ']'),
                        "}}");
  };
  v1::Event event;
  absl::Status status = EventNormalizer().Normalize(body(30), event);
  EXPECT_THAT(status, IsOk());
  status = EventNormalizer().Normalize(body(31), event);
  EXPECT_THAT(status, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(status, HasReason(kNestingTooDeep));

  EventNormalizer::Options options;
  options.max_depth = 4;
  const EventNormalizer shallow(options);
  status = shallow.Normalize(body(2), event);
  EXPECT_THAT(status, IsOk());
  status = shallow.Normalize(body(3), event);
  EXPECT_THAT(status, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(status, HasReason(kNestingTooDeep));
}

TEST(EventNormalizer, EventTypeFromString) {
  struct Case {
    std::string text;
    v1::EventType type;
  };
  const std::vector<Case> cases = {
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
      {"", v1::EVENT_TYPE_UNSPECIFIED},
      {"didcomm.connection.established", v1::EVENT_TYPE_UNSPECIFIED},
      {"workflowExecution", v1::EVENT_TYPE_UNSPECIFIED},
      {"workflowExecution.", v1::EVENT_TYPE_UNSPECIFIED},
      {"WorkflowExecution.started", v1::EVENT_TYPE_UNSPECIFIED},
      {"workflowexecution.started", v1::EVENT_TYPE_UNSPECIFIED},
      {"workflowExecution.started ", v1::EVENT_TYPE_UNSPECIFIED},
      {"openid4vc.issuance.partially_issued", v1::EVENT_TYPE_UNSPECIFIED},
      {"EVENT_TYPE_WORKFLOW_EXECUTION_STARTED", v1::EVENT_TYPE_UNSPECIFIED},
  };
  std::set<int> covered;
  for (const Case& c : cases) {
    SCOPED_TRACE(c.text);
    EXPECT_EQ(EventTypeFromString(c.text), c.type);
    covered.insert(c.type);
  }
  // Every value of the enum has its string in the table above.
  const auto* descriptor = v1::EventType_descriptor();
  for (int i = 0; i < descriptor->value_count(); ++i) {
    EXPECT_TRUE(covered.count(descriptor->value(i)->number()))
        << descriptor->value(i)->name();
  }
}

}  // namespace
}  // namespace paradym::webhooks
