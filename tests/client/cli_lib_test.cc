// The pieces of the command-line client: sample webhooks, --set overrides,
// URLs for `send`, and event printing.

#include <string>

#include "client/event_output.h"
#include "client/sample_events.h"
#include "client/webhook_post.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/core/event_normalizer.h"
#include "tests/testing/status_matchers.h"

namespace paradym::webhooks::cli {
namespace {

namespace v1 = ::paradym::webhooks::v1;
using ::paradym::webhooks::testing::IsOk;
using ::paradym::webhooks::testing::StatusIs;
using ::testing::HasSubstr;

const absl::Time kNow = absl::FromUnixMillis(1718184600123);

TEST(SampleEvents, EveryTypeIsAcceptedAndTypedByTheServersNormalizer) {
  ASSERT_EQ(SampleEventTypes().size(), 13u);
  for (const std::string& type : SampleEventTypes()) {
    SCOPED_TRACE(type);
    absl::StatusOr<std::string> body = SampleBody(type, {}, kNow);
    ASSERT_THAT(body, IsOk());
    v1::Event event;
    ASSERT_THAT(EventNormalizer().Normalize(*body, event), IsOk()) << *body;
    EXPECT_EQ(event.event_type(), type);
    EXPECT_NE(event.type(), v1::EVENT_TYPE_UNSPECIFIED);
    EXPECT_NE(event.typed_payload_case(), v1::Event::TYPED_PAYLOAD_NOT_SET);
    EXPECT_EQ(event.publish_time().seconds(), 1718184600);
    EXPECT_EQ(event.publish_time().nanos(), 123000000);
    EXPECT_THAT(event.webhook_id(),
                ::testing::MatchesRegex("[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-"
                                        "[89ab][0-9a-f]{3}-[0-9a-f]{12}"));
  }
  // Fresh ids every time.
  EXPECT_NE(*SampleBody("workflowExecution.started", {}, kNow),
            *SampleBody("workflowExecution.started", {}, kNow));
}

TEST(SampleEvents, UnknownTypesAreRefused) {
  EXPECT_THAT(SampleBody("no.such.type", {}, kNow),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(ApplyOverrides, SetsReplacesAndCreatesFieldsWithJsonOrStringValues) {
  const std::string body = R"({"a":{"b":1},"c":"x"})";
  EXPECT_EQ(*ApplyOverrides(body, {"a.b=2"}), R"({"a":{"b":2},"c":"x"})");
  EXPECT_EQ(*ApplyOverrides(body, {"a.d.e=true"}),
            R"({"a":{"b":1,"d":{"e":true}},"c":"x"})");
  EXPECT_EQ(*ApplyOverrides(body, {"c=hello world"}),
            R"({"a":{"b":1},"c":"hello world"})");
  EXPECT_EQ(*ApplyOverrides(body, {R"(c="7")"}), R"({"a":{"b":1},"c":"7"})");
  EXPECT_EQ(*ApplyOverrides(body, {R"(n={"k":[1,null]})"}),
            R"({"a":{"b":1},"c":"x","n":{"k":[1,null]}})");
  EXPECT_EQ(*ApplyOverrides(body, {"c=a=b"}), R"({"a":{"b":1},"c":"a=b"})");
  EXPECT_EQ(*ApplyOverrides(body, {}), body);
}

TEST(ApplyOverrides, MalformedOverridesAreInvalidArgument) {
  const std::string body = R"({"a":{"b":1},"c":"x"})";
  for (const char* bad : {"novalue", "=x", "a..b=1", "c.d=1"}) {
    SCOPED_TRACE(bad);
    absl::StatusOr<std::string> result = ApplyOverrides(body, {bad});
    EXPECT_THAT(result, StatusIs(absl::StatusCode::kInvalidArgument));
  }
  EXPECT_THAT(ApplyOverrides(body, {"c.d=1"}).status().message(),
              HasSubstr("c is not an object"));
  EXPECT_THAT(ApplyOverrides("[1]", {"a=1"}),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(WebhookUrl, ParsesHttpUrlsAndRefusesTheRest) {
  absl::StatusOr<WebhookUrl> url =
      ParseWebhookUrl("http://127.0.0.1:8080/webhook");
  ASSERT_THAT(url, IsOk());
  EXPECT_EQ(url->host, "127.0.0.1");
  EXPECT_EQ(url->port, "8080");
  EXPECT_EQ(url->target, "/webhook");
  url = ParseWebhookUrl("http://[::1]:9000/webhooks/shop?x=1");
  ASSERT_THAT(url, IsOk());
  EXPECT_EQ(url->host, "::1");
  EXPECT_EQ(url->port, "9000");
  EXPECT_EQ(url->target, "/webhooks/shop?x=1");
  url = ParseWebhookUrl("http://example.com");
  ASSERT_THAT(url, IsOk());
  EXPECT_EQ(url->port, "80");
  EXPECT_EQ(url->target, "/");
  for (const char* bad :
       {"https://example.com/webhook", "ftp://x", "x:80", "http://:80/",
        "http://h:0/", "http://h:99999/", "http://[::1/"}) {
    SCOPED_TRACE(bad);
    EXPECT_THAT(ParseWebhookUrl(bad),
                StatusIs(absl::StatusCode::kInvalidArgument));
  }
}

TEST(EventOutput, TableRowsShowTheTypedDetail) {
  v1::Event event;
  event.set_sequence(42);
  event.set_event_type("workflowExecution.failed");
  event.set_project_id("c6f1c0d2-7a3b-4e8f-9c1d-2e3f4a5b6c7d");
  event.set_workflow_execution_id("9d3c2b1a-0f9e-4d8c-b7a6-5e4f3d2c1b0a");
  event.mutable_receive_time()->set_seconds(1718184600);
  event.mutable_receive_time()->set_nanos(5000000);
  event.mutable_workflow_execution_failed()->mutable_error()->set_code("x1");
  const EventPrinter table(EventPrinter::Format::kTable);
  std::string text;
  ASSERT_THAT(table.Append(event, text), IsOk());
  EXPECT_EQ(text,
            "42       09:30:00.005 workflowExecution.failed               "
            "c6f1c0d2   9d3c2b1a   x1\n");
  EXPECT_THAT(table.Header(), ::testing::StartsWith("SEQUENCE RECEIVED"));
  EXPECT_EQ(EventPrinter(EventPrinter::Format::kJson).Header(), "");
  EXPECT_FALSE(EventPrinter::ParseFormat("yaml").has_value());
}

TEST(EventOutput, JsonLinesResumeFromTheLastCompleteLine) {
  v1::Event event;
  event.set_sequence(7);
  event.set_event_type("x.y");
  std::string text;
  ASSERT_THAT(EventPrinter(EventPrinter::Format::kJson).Append(event, text),
              IsOk());
  EXPECT_EQ(text, "{\"sequence\":\"7\",\"eventType\":\"x.y\"}\n");
  EXPECT_EQ(LastSequenceInJsonLines(text), 7u);
  event.set_sequence(8);
  ASSERT_THAT(EventPrinter(EventPrinter::Format::kJson).Append(event, text),
              IsOk());
  EXPECT_EQ(LastSequenceInJsonLines(text), 8u);
  // A torn last line does not count.
  EXPECT_EQ(LastSequenceInJsonLines(text + "{\"sequence\":\"9\",\"ev"), 8u);
  EXPECT_FALSE(LastSequenceInJsonLines("").has_value());
  EXPECT_FALSE(LastSequenceInJsonLines("{\"sequence\":\"3\"").has_value());
}

}  // namespace
}  // namespace paradym::webhooks::cli
