#include "server/http/webhook_http_adapter.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/core/errors.h"
#include "server/core/memory_event_log.h"
#include "tests/testing/fake_clock.h"

namespace paradym::webhooks {
namespace {

using ::paradym::webhooks::testing::FakeClock;
using ::testing::HasSubstr;

constexpr char kSecret[] = "adapter-secret";
constexpr char kBody[] =
    R"({"eventType":"workflowExecution.started","payload":{"workflowExecutionId":"e1"}})";

class WebhookHttpAdapterTest : public ::testing::Test {
 protected:
  WebhookHttpAdapterTest()
      : clock_(absl::FromUnixSeconds(1718184600)),
        log_({100, std::size_t{1} << 20}),
        hub_(log_, {100}),
        ingestor_(Options(),
                  SignatureVerifier(std::vector<EndpointSecrets>{
                      {"default", {kSecret}}, {"shop", {"shop-secret"}}}),
                  log_, hub_, clock_),
        adapter_(ingestor_, hub_, log_) {}

  static WebhookIngestor::Options Options() {
    WebhookIngestor::Options options;
    options.max_body_bytes = 1000;
    return options;
  }

  WebhookHttpAdapter::HeadDecision Head(
      absl::string_view method, absl::string_view target,
      absl::string_view content_type = "application/json",
      std::uint64_t length = 10, bool loopback_peer = true,
      bool metrics_listener = false) {
    HttpRequestHead head;
    head.method = method;
    head.target = target;
    head.content_type = content_type;
    head.has_content_length = true;
    head.content_length = length;
    head.loopback_peer = loopback_peer;
    head.metrics_listener = metrics_listener;
    return adapter_.OnHead(head);
  }

  HttpResponse Post(const std::string& body, const std::string& signature,
                    const std::string& endpoint = "") {
    HttpResponse result;
    result.status = -1;
    adapter_.OnBody(endpoint, body, signature, [&](HttpResponse response) {
      result = std::move(response);
    });
    return result;
  }

  FakeClock clock_;
  MemoryEventLog log_;
  SubscriptionHub hub_;
  WebhookIngestor ingestor_;
  WebhookHttpAdapter adapter_;
};

TEST_F(WebhookHttpAdapterTest, HeadDecisions) {
  struct Case {
    std::string name;
    WebhookHttpAdapter::HeadDecision decision;
    int status;  // 0: read the body
    std::string reason;
    std::string endpoint;
  };
  HttpRequestHead no_length;
  no_length.method = "POST";
  no_length.target = "/webhook";
  HttpRequestHead chunked = no_length;
  chunked.chunked = true;
  std::vector<Case> cases;
  cases.push_back({"webhook", Head("POST", "/webhook"), 0, "", ""});
  cases.push_back({"with query", Head("POST", "/webhook?x=1"), 0, "", ""});
  cases.push_back({"endpoint", Head("POST", "/webhooks/shop"), 0, "", "shop"});
  cases.push_back({"no content type", Head("POST", "/webhook", ""), 0, "", ""});
  cases.push_back({"JSON in capitals",
                   Head("POST", "/webhook", "Application/JSON; charset=UTF-8"),
                   0, "", ""});
  cases.push_back({"chunked", adapter_.OnHead(chunked), 0, "", ""});
  cases.push_back({"unknown endpoint", Head("POST", "/webhooks/nope"), 404,
                   "UNKNOWN_ENDPOINT", ""});
  cases.push_back({"unknown path", Head("POST", "/"), 404, "UNKNOWN_PATH", ""});
  cases.push_back(
      {"empty endpoint", Head("POST", "/webhooks/"), 404, "UNKNOWN_PATH", ""});
  cases.push_back(
      {"GET webhook", Head("GET", "/webhook"), 405, "METHOD_NOT_ALLOWED", ""});
  cases.push_back({"text", Head("POST", "/webhook", "text/json"), 415,
                   "UNSUPPORTED_MEDIA_TYPE", ""});
  cases.push_back(
      {"no length", adapter_.OnHead(no_length), 411, "LENGTH_REQUIRED", ""});
  cases.push_back({"too long",
                   Head("POST", "/webhook", "application/json", 1001), 413,
                   "BODY_TOO_LARGE", ""});
  cases.push_back({"at the limit",
                   Head("POST", "/webhook", "application/json", 1000), 0, "",
                   ""});
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    if (c.status == 0) {
      EXPECT_FALSE(c.decision.response.has_value());
      EXPECT_EQ(c.decision.endpoint, c.endpoint);
    } else {
      ASSERT_TRUE(c.decision.response.has_value());
      EXPECT_EQ(c.decision.response->status, c.status);
      EXPECT_EQ(c.decision.response->reason, c.reason);
    }
  }
}

TEST_F(WebhookHttpAdapterTest, BodyIsIngestedAndAnsweredWithTheSequence) {
  HttpResponse response = Post(kBody, SignBody(kSecret, kBody));
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.body, "{\"sequence\":1}\n");
  response = Post(kBody, SignBody("shop-secret", kBody), "shop");
  EXPECT_EQ(response.body, "{\"sequence\":2}\n");
  response = Post(kBody, SignBody("shop-secret", kBody), "default");
  EXPECT_EQ(response.status, 401);
  EXPECT_EQ(response.reason, "SIGNATURE_MISMATCH");
}

TEST_F(WebhookHttpAdapterTest, ErrorBodyIsJsonWithReasonMessageAndFields) {
  const std::string body = R"({"eventType":"workflowExecution.started"})";
  const HttpResponse response = Post(body, SignBody(kSecret, body));
  EXPECT_EQ(response.status, 400);
  EXPECT_EQ(response.content_type, "application/json");
  EXPECT_EQ(response.body,
            "{\"error\":{\"reason\":\"MISSING_FIELD\",\"message\":"
            "\"payload.workflowExecutionId: required string is missing\","
            "\"fields\":[{\"field\":\"payload.workflowExecutionId\","
            "\"description\":\"required string is missing\"}]}}\n");
}

TEST_F(WebhookHttpAdapterTest, StatusMappingIsOneTable) {
  struct Case {
    absl::Status status;
    int http;
  } cases[] = {
      {MakeError(absl::StatusCode::kUnauthenticated, kSignatureMismatch, "m"),
       401},
      {MakeError(absl::StatusCode::kInvalidArgument, kMalformedJson, "m"), 400},
      {MakeError(absl::StatusCode::kInvalidArgument, kBodyTooLarge, "m"), 413},
      {MakeError(absl::StatusCode::kNotFound, kUnknownEndpoint, "m"), 404},
      {MakeError(absl::StatusCode::kUnavailable, kShuttingDown, "m"), 503},
      {MakeError(absl::StatusCode::kDeadlineExceeded, kRequestTimeout, "m"),
       408},
      {MakeError(absl::StatusCode::kInvalidArgument, kHeadersTooLarge, "m"),
       431},
      {absl::InternalError("broken"), 500},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.status.ToString());
    EXPECT_EQ(adapter_.ErrorResponse(c.status).status, c.http);
  }
}

TEST_F(WebhookHttpAdapterTest, EveryCodeMapsAsGoogleRpcCodeSays) {
  // google/rpc/code.proto's HTTP mapping; CANCELLED is 500, not its 499.
  const struct {
    absl::StatusCode code;
    int http;
  } cases[] = {
      {absl::StatusCode::kOk, 200},
      {absl::StatusCode::kCancelled, 500},
      {absl::StatusCode::kUnknown, 500},
      {absl::StatusCode::kInvalidArgument, 400},
      {absl::StatusCode::kDeadlineExceeded, 504},
      {absl::StatusCode::kNotFound, 404},
      {absl::StatusCode::kAlreadyExists, 409},
      {absl::StatusCode::kPermissionDenied, 403},
      {absl::StatusCode::kResourceExhausted, 429},
      {absl::StatusCode::kFailedPrecondition, 400},
      {absl::StatusCode::kAborted, 409},
      {absl::StatusCode::kOutOfRange, 400},
      {absl::StatusCode::kUnimplemented, 501},
      {absl::StatusCode::kInternal, 500},
      {absl::StatusCode::kUnavailable, 503},
      {absl::StatusCode::kDataLoss, 500},
      {absl::StatusCode::kUnauthenticated, 401},
      {static_cast<absl::StatusCode>(99), 500},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(absl::StatusCodeToString(c.code));
    EXPECT_EQ(
        adapter_.ErrorResponse(MakeError(c.code, "SOME_REASON", "m")).status,
        c.http);
  }
}

TEST_F(WebhookHttpAdapterTest, ReasonsWithAStatusOfTheirOwnOverrideTheCode) {
  const struct {
    absl::string_view reason;
    int http;
  } cases[] = {
      {kRequestTimeout, 408},       {kMethodNotAllowed, 405},
      {kLengthRequired, 411},       {kBodyTooLarge, 413},
      {kUnsupportedMediaType, 415}, {kHeadersTooLarge, 431},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.reason);
    EXPECT_EQ(adapter_
                  .ErrorResponse(
                      MakeError(absl::StatusCode::kInternal, c.reason, "m"))
                  .status,
              c.http);
  }
}

TEST_F(WebhookHttpAdapterTest, ReadinessFollowsStartAndDrain) {
  auto readyz = [&] { return Head("GET", "/readyz").response->status; };
  EXPECT_EQ(readyz(), 503);
  adapter_.SetReady(true);
  EXPECT_EQ(readyz(), 200);
  EXPECT_EQ(Head("GET", "/healthz").response->status, 200);
  adapter_.BeginDrain();
  EXPECT_EQ(readyz(), 503);
  EXPECT_EQ(Head("GET", "/healthz").response->status, 200);
  auto refused = Head("POST", "/webhook");
  ASSERT_TRUE(refused.response.has_value());
  EXPECT_EQ(refused.response->status, 503);
  EXPECT_EQ(refused.response->reason, "SHUTTING_DOWN");
}

// /metrics tells how much traffic the service sees: loopback only on the
// webhook port, or only on a listener of its own.
TEST_F(WebhookHttpAdapterTest, MetricsAreServedToLoopbackOrOnTheirOwnListener) {
  auto metrics = [&](bool loopback, bool listener,
                     absl::string_view path = "/metrics") {
    return *Head("GET", path, "", 0, loopback, listener).response;
  };
  EXPECT_EQ(metrics(true, false).status, 200);
  const HttpResponse remote = metrics(false, false);
  EXPECT_EQ(remote.status, 403);
  EXPECT_EQ(remote.reason, "METRICS_LOOPBACK_ONLY");
  EXPECT_THAT(remote.body, HasSubstr("--metrics_address"));
  // Webhooks and probes are for everyone.
  EXPECT_EQ(Head("GET", "/healthz", "", 0, false).response->status, 200);
  EXPECT_FALSE(Head("POST", "/webhook", "application/json", 10, false)
                   .response.has_value());

  EXPECT_EQ(metrics(false, true).status, 200);
  const HttpResponse webhook_on_metrics_port =
      *Head("POST", "/webhook", "application/json", 10, false, true).response;
  EXPECT_EQ(webhook_on_metrics_port.status, 404);
  EXPECT_EQ(webhook_on_metrics_port.reason, "UNKNOWN_PATH");
  EXPECT_EQ(metrics(true, true, "/healthz").status, 404);

  adapter_.ServeMetricsElsewhere();
  const HttpResponse elsewhere = metrics(true, false);
  EXPECT_EQ(elsewhere.status, 404);
  EXPECT_EQ(elsewhere.reason, "UNKNOWN_PATH");
  EXPECT_EQ(metrics(false, true).status, 200);
}

TEST_F(WebhookHttpAdapterTest, MetricsPageCountsRequestsAndEvents) {
  Post(kBody, SignBody(kSecret, kBody));
  Post(kBody, "");
  const HttpResponse page = *Head("GET", "/metrics").response;
  EXPECT_EQ(page.status, 200);
  EXPECT_EQ(page.content_type, "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_THAT(page.body,
              HasSubstr("paradym_webhooks_http_requests_total{code=\"200\","
                        "reason=\"\"} 1\n"));
  EXPECT_THAT(page.body,
              HasSubstr("paradym_webhooks_http_requests_total{code=\"401\","
                        "reason=\"SIGNATURE_MISSING\"} 1\n"));
  EXPECT_THAT(page.body,
              HasSubstr("paradym_webhooks_events_accepted_total{event_type="
                        "\"workflowExecution.started\"} 1\n"));
  EXPECT_THAT(page.body, HasSubstr("paradym_webhooks_webhooks_refused_total{"
                                   "reason=\"SIGNATURE_MISSING\"} 1\n"));
  EXPECT_THAT(page.body, HasSubstr("paradym_webhooks_log_events 1\n"));
  EXPECT_THAT(page.body,
              HasSubstr("paradym_webhooks_ingest_duration_seconds_count 1\n"));
}

}  // namespace
}  // namespace paradym::webhooks
