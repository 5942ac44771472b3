// The gRPC adapter in-process: a real server on a free port, driven through
// the generated stub.

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "server/core/memory_event_log.h"
#include "server/grpc/webhook_service_adapter.h"
#include "tests/testing/fake_clock.h"
#include "tests/testing/grpc_status.h"
#include "tests/testing/slow_reader_channel.h"
#include "tests/testing/test_data.h"

namespace paradym::webhooks {
namespace {

namespace v1 = ::paradym::webhooks::v1;
using ::google::protobuf::util::MessageDifferencer;
using ::paradym::webhooks::testing::FakeClock;
using ::paradym::webhooks::testing::GrpcBadFields;
using ::paradym::webhooks::testing::GrpcErrorMetadata;
using ::paradym::webhooks::testing::GrpcErrorReason;
using ::paradym::webhooks::testing::ListTestData;
using ::paradym::webhooks::testing::ReadTestData;
using ::paradym::webhooks::testing::UniqueBody;
using ::testing::ElementsAre;

constexpr char kSecret[] = "service-test-secret";

class WebhookServiceTest : public ::testing::Test {
 protected:
  explicit WebhookServiceTest(std::size_t subscriber_queue = 1000)
      : clock_(absl::FromUnixSeconds(1718184600)),
        log_({1000, std::size_t{1} << 30}),
        hub_(log_, {subscriber_queue}),
        ingestor_({},
                  SignatureVerifier(
                      std::vector<EndpointSecrets>{{"default", {kSecret}}}),
                  log_, hub_, clock_),
        service_(ingestor_, hub_, log_) {
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                             &port_);
    builder.RegisterService(&service_);
    server_ = builder.BuildAndStart();
    stub_ = v1::WebhookService::NewStub(grpc::CreateChannel(
        absl::StrCat("127.0.0.1:", port_), grpc::InsecureChannelCredentials()));
  }

  ~WebhookServiceTest() override {
    ingestor_.Shutdown();
    server_->Shutdown(std::chrono::system_clock::now() +
                      std::chrono::seconds(5));
  }

  grpc::Status Ingest(const std::string& body, v1::IngestResponse* response,
                      const std::string& signature_secret = kSecret) {
    v1::IngestRequest request;
    request.set_body(body);
    request.set_signature(SignBody(signature_secret, body));
    grpc::ClientContext context;
    return stub_->Ingest(&context, request, response);
  }

  // Opens a Subscribe stream and waits until the server has registered it.
  std::unique_ptr<grpc::ClientReader<v1::SubscribeResponse>> Subscribe(
      grpc::ClientContext& context, const v1::SubscribeRequest& request) {
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(30));
    auto reader = stub_->Subscribe(&context, request);
    reader->WaitForInitialMetadata();
    return reader;
  }

  // Reads until `count` events arrived; the stream must stay open.
  std::vector<v1::Event> ReadEvents(
      grpc::ClientReader<v1::SubscribeResponse>& reader, std::size_t count) {
    std::vector<v1::Event> events;
    v1::SubscribeResponse response;
    while (events.size() < count && reader.Read(&response)) {
      for (const auto& event : response.events()) events.push_back(event);
    }
    return events;
  }

  FakeClock clock_;
  MemoryEventLog log_;
  SubscriptionHub hub_;
  WebhookIngestor ingestor_;
  WebhookServiceAdapter service_;
  int port_ = 0;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<v1::WebhookService::Stub> stub_;
};

TEST_F(WebhookServiceTest, IngestReturnsTheStoredEvent) {
  const std::string body = ReadTestData("events/workflowExecution.failed.json");
  v1::IngestResponse response;
  const grpc::Status status = Ingest(body, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  const v1::Event& event = response.event();
  EXPECT_EQ(event.sequence(), 1u);
  EXPECT_EQ(event.type(), v1::EVENT_TYPE_WORKFLOW_EXECUTION_FAILED);
  EXPECT_EQ(event.workflow_execution_failed().error().code(),
            "presentation_rejected");
  EXPECT_EQ(event.endpoint(), "default");
  EXPECT_EQ(event.body(), body);
}

TEST_F(WebhookServiceTest, VerifyAndParseHasNoSideEffect) {
  const std::string body =
      ReadTestData("events/openid4vc.verification.verified.json");
  v1::VerifyAndParseRequest request;
  request.set_body(body);
  request.set_signature(SignBody(kSecret, body));
  v1::VerifyAndParseResponse response;
  grpc::ClientContext context;
  const grpc::Status status =
      stub_->VerifyAndParse(&context, request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.event().sequence(), 0u);
  EXPECT_EQ(response.event()
                .openid4vc_verification_verified()
                .openid4vc_verification_id(),
            "b2c3d4e5-0000-4000-8000-000000000002");
  EXPECT_EQ(log_.Range().last, 0u);
}

TEST_F(WebhookServiceTest, ErrorsCarryErrorInfoAndBadRequest) {
  v1::IngestResponse response;
  grpc::Status status =
      Ingest(ReadTestData("events/workflowExecution.started.json"), &response,
             "not-the-secret");
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(GrpcErrorReason(status), "SIGNATURE_MISMATCH");

  status = Ingest(R"({"eventType":"workflowExecution.started","payload":{}})",
                  &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(GrpcErrorReason(status), "MISSING_FIELD");
  EXPECT_THAT(GrpcBadFields(status),
              ElementsAre("payload.workflowExecutionId"));
}

TEST_F(WebhookServiceTest, SubscribeGetsIngestedEvent) {
  grpc::ClientContext context;
  auto reader = Subscribe(context, {});
  v1::IngestResponse ingested;
  ASSERT_TRUE(
      Ingest(ReadTestData("events/workflowExecution.started.json"), &ingested)
          .ok());
  std::vector<v1::Event> events = ReadEvents(*reader, 1);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].sequence(), 1u);
  EXPECT_EQ(events[0].type(), v1::EVENT_TYPE_WORKFLOW_EXECUTION_STARTED);
  EXPECT_EQ(events[0].workflow_execution_id(),
            "9d3c2b1a-0f9e-4d8c-b7a6-5e4f3d2c1b0a");
  context.TryCancel();
}

TEST_F(WebhookServiceTest, FilteredSubscribeGetsOnlyMatchingEventsInOrder) {
  grpc::ClientContext context;
  v1::SubscribeRequest request;
  request.add_event_types("openid4vc.*");
  auto reader = Subscribe(context, request);
  for (const std::string& name : ListTestData("events")) {
    v1::IngestResponse ingested;
    ASSERT_TRUE(Ingest(ReadTestData("events/" + name), &ingested).ok()) << name;
  }
  std::vector<v1::Event> events = ReadEvents(*reader, 7);
  ASSERT_EQ(events.size(), 7u);
  for (std::size_t i = 0; i < events.size(); ++i) {
    SCOPED_TRACE(events[i].event_type());
    EXPECT_EQ(events[i].event_type().rfind("openid4vc.", 0), 0u);
    if (i > 0) {
      EXPECT_GT(events[i].sequence(), events[i - 1].sequence());
    }
  }
  context.TryCancel();
}

TEST_F(WebhookServiceTest, SubscribeResumesAfterASequence) {
  for (int i = 0; i < 5; ++i) {
    v1::IngestResponse ingested;
    ASSERT_TRUE(Ingest(UniqueBody(i), &ingested).ok());
  }
  grpc::ClientContext context;
  v1::SubscribeRequest request;
  request.set_start_after_sequence(3);
  auto reader = Subscribe(context, request);
  v1::IngestResponse ingested;
  ASSERT_TRUE(Ingest(UniqueBody(5), &ingested).ok());
  std::vector<v1::Event> events = ReadEvents(*reader, 3);
  std::vector<std::uint64_t> sequences;
  for (const auto& e : events) sequences.push_back(e.sequence());
  EXPECT_THAT(sequences, ElementsAre(4, 5, 6));
  context.TryCancel();
}

TEST_F(WebhookServiceTest, SubscribeRefusesBadRequestsWithReasons) {
  {
    grpc::ClientContext context;
    v1::SubscribeRequest request;
    request.add_event_types("workflowExecution.started");
    request.add_event_types("open*id");
    auto reader = stub_->Subscribe(&context, request);
    v1::SubscribeResponse response;
    EXPECT_FALSE(reader->Read(&response));
    const grpc::Status status = reader->Finish();
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_EQ(GrpcErrorReason(status), "INVALID_REQUEST");
    EXPECT_THAT(GrpcBadFields(status), ElementsAre("event_types[1]"));
  }
  {
    grpc::ClientContext context;
    v1::SubscribeRequest request;
    request.set_start_after_sequence(7);
    auto reader = stub_->Subscribe(&context, request);
    v1::SubscribeResponse response;
    EXPECT_FALSE(reader->Read(&response));
    const grpc::Status status = reader->Finish();
    EXPECT_EQ(status.error_code(), grpc::StatusCode::OUT_OF_RANGE);
    EXPECT_EQ(GrpcErrorReason(status), "SEQUENCE_TOO_NEW");
  }
}

TEST_F(WebhookServiceTest, ListEventsPagesThroughTheStoredEventsAsIngested) {
  std::vector<v1::Event> ingested;
  for (const char* name :
       {"workflowExecution.started", "openid4vc.verification.verified",
        "workflowExecution.failed"}) {
    v1::IngestResponse response;
    ASSERT_TRUE(
        Ingest(ReadTestData(absl::StrCat("events/", name, ".json")), &response)
            .ok());
    ingested.push_back(response.event());
  }
  v1::ListEventsRequest request;
  request.set_page_size(2);
  v1::ListEventsResponse first;
  {
    grpc::ClientContext context;
    const grpc::Status status = stub_->ListEvents(&context, request, &first);
    ASSERT_TRUE(status.ok()) << status.error_message();
  }
  ASSERT_EQ(first.events_size(), 2);
  EXPECT_TRUE(MessageDifferencer::Equals(first.events(0), ingested[0]));
  EXPECT_TRUE(MessageDifferencer::Equals(first.events(1), ingested[1]));
  EXPECT_EQ(first.oldest_sequence(), 1u);
  EXPECT_EQ(first.last_sequence(), 3u);
  ASSERT_FALSE(first.next_page_token().empty());

  request.set_page_token(first.next_page_token());
  v1::ListEventsResponse second;
  {
    grpc::ClientContext context;
    ASSERT_TRUE(stub_->ListEvents(&context, request, &second).ok());
  }
  ASSERT_EQ(second.events_size(), 1);
  EXPECT_TRUE(MessageDifferencer::Equals(second.events(0), ingested[2]));
  EXPECT_EQ(second.next_page_token(), "");

  // The same filters as Subscribe.
  v1::ListEventsRequest filtered;
  filtered.add_event_types("workflowExecution.*");
  v1::ListEventsResponse matching;
  {
    grpc::ClientContext context;
    ASSERT_TRUE(stub_->ListEvents(&context, filtered, &matching).ok());
  }
  ASSERT_EQ(matching.events_size(), 2);
  EXPECT_EQ(matching.events(0).sequence(), 1u);
  EXPECT_EQ(matching.events(1).sequence(), 3u);
}

TEST_F(WebhookServiceTest, ListEventsErrorsNameTheProblem) {
  v1::ListEventsRequest bad_filter;
  bad_filter.add_project_ids("");
  v1::ListEventsRequest bad_token;
  bad_token.set_page_token("not-a-token");
  v1::ListEventsRequest bad_size;
  bad_size.set_page_size(-5);
  for (const auto& [request, reason, field] :
       {std::tuple{bad_filter, "INVALID_REQUEST", "project_ids[0]"},
        std::tuple{bad_token, "INVALID_PAGE_TOKEN", "page_token"},
        std::tuple{bad_size, "INVALID_REQUEST", "page_size"}}) {
    SCOPED_TRACE(reason);
    grpc::ClientContext context;
    v1::ListEventsResponse response;
    const grpc::Status status = stub_->ListEvents(&context, request, &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_EQ(GrpcErrorReason(status), reason);
    EXPECT_THAT(GrpcBadFields(status), ::testing::ElementsAre(field));
  }
}

TEST_F(WebhookServiceTest, ShutdownEndsOpenStreamsWithUnavailable) {
  grpc::ClientContext context;
  auto reader = Subscribe(context, {});
  ingestor_.Shutdown();
  v1::SubscribeResponse response;
  EXPECT_FALSE(reader->Read(&response));
  const grpc::Status status = reader->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(GrpcErrorReason(status), "SHUTTING_DOWN");
}

TEST_F(WebhookServiceTest, CancelledSubscriberIsRemovedFromTheHub) {
  {
    grpc::ClientContext context;
    auto reader = Subscribe(context, {});
    EXPECT_EQ(hub_.size(), 1u);
    context.TryCancel();
    v1::SubscribeResponse response;
    EXPECT_FALSE(reader->Read(&response));
    EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::CANCELLED);
  }
  // The server learns of the cancel asynchronously; wait for it, bounded.
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (hub_.size() != 0 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  EXPECT_EQ(hub_.size(), 0u);
}

class SlowSubscriberTest : public WebhookServiceTest {
 protected:
  SlowSubscriberTest() : WebhookServiceTest(/*subscriber_queue=*/4) {}
};

// A subscriber that does not read falls behind: once the transport's buffers
// and its queue are full, its stream ends with RESOURCE_EXHAUSTED carrying
// the last sequence it was sent, and everything before arrives in order.
TEST_F(SlowSubscriberTest, StreamEndsWithResourceExhaustedAndLastSequence) {
  auto slow_stub = v1::WebhookService::NewStub(
      testing::SlowReaderChannel(absl::StrCat("127.0.0.1:", port_)));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(60));
  auto reader = slow_stub->Subscribe(&context, {});
  reader->WaitForInitialMetadata();
  constexpr int kMaxEvents = 20000;
  int ingested_count = 0;
  while (hub_.overflows() == 0 && ingested_count < kMaxEvents) {
    v1::IngestResponse ingested;
    ASSERT_TRUE(Ingest(UniqueBody(ingested_count), &ingested).ok());
    ++ingested_count;
  }
  ASSERT_EQ(hub_.overflows(), 1u);
  std::uint64_t expected = 1;
  v1::SubscribeResponse response;
  while (reader->Read(&response)) {
    for (const auto& event : response.events()) {
      ASSERT_EQ(event.sequence(), expected);
      ++expected;
    }
  }
  const grpc::Status status = reader->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(GrpcErrorReason(status), "SUBSCRIBER_TOO_SLOW");
  EXPECT_EQ(GrpcErrorMetadata(status, "last_sequence"),
            std::to_string(expected - 1));
  EXPECT_LT(expected - 1, static_cast<std::uint64_t>(ingested_count));
}

}  // namespace
}  // namespace paradym::webhooks
