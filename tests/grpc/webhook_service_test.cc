// The gRPC adapter in-process: a real server on a free port, driven through
// the generated stub.

#include <grpcpp/grpcpp.h>

#include <map>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "server/core/memory_event_log.h"
#include "server/grpc/webhook_service_adapter.h"
#include "tests/testing/fake_clock.h"
#include "tests/testing/grpc_status.h"
#include "tests/testing/raw_grpc_call.h"
#include "tests/testing/slow_reader_channel.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/subscribe_stream.h"
#include "tests/testing/test_data.h"
#include "tests/testing/wait_for.h"

namespace paradym::webhooks {
namespace {

namespace v1 = ::paradym::webhooks::v1;
using ::google::protobuf::util::MessageDifferencer;
using ::paradym::webhooks::testing::EndOf;
using ::paradym::webhooks::testing::FakeClock;
using ::paradym::webhooks::testing::GrpcBadFields;
using ::paradym::webhooks::testing::GrpcErrorMetadata;
using ::paradym::webhooks::testing::HasReason;
using ::paradym::webhooks::testing::IsOk;
using ::paradym::webhooks::testing::ListTestData;
using ::paradym::webhooks::testing::ReadEvents;
using ::paradym::webhooks::testing::ReadTestData;
using ::paradym::webhooks::testing::StatusIs;
using ::paradym::webhooks::testing::UniqueBody;
using ::paradym::webhooks::testing::WaitFor;
using ::testing::ElementsAre;

constexpr char kSecret[] = "service-test-secret";

class WebhookServiceTest : public ::testing::Test {
 protected:
  explicit WebhookServiceTest(std::size_t subscriber_queue = 1000,
                              WebhookServiceAdapter::Options options = {})
      : clock_(absl::FromUnixSeconds(1718184600)),
        log_({1000, std::size_t{1} << 30}),
        hub_(log_, {subscriber_queue}),
        ingestor_({},
                  SignatureVerifier(
                      std::vector<EndpointSecrets>{{"default", {kSecret}}}),
                  log_, hub_, clock_),
        service_(ingestor_, hub_, log_, access_, options) {
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

  // Ingests UniqueBody(0) .. UniqueBody(count - 1); the first refusal, or
  // OK.
  grpc::Status IngestUniqueBodies(int count) {
    for (int i = 0; i < count; ++i) {
      v1::IngestResponse ingested;
      grpc::Status status = Ingest(UniqueBody(i), &ingested);
      if (!status.ok()) return status;
    }
    return grpc::Status::OK;
  }

  FakeClock clock_;
  MemoryEventLog log_;
  SubscriptionHub hub_;
  WebhookIngestor ingestor_;
  // Protected mode: the tests call from loopback.
  AccessControl access_{{}, std::nullopt};
  WebhookServiceAdapter service_;
  int port_ = 0;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<v1::WebhookService::Stub> stub_;
};

TEST_F(WebhookServiceTest, IngestReturnsTheStoredEvent) {
  const std::string body = ReadTestData("events/workflowExecution.failed.json");
  v1::IngestResponse response;
  const grpc::Status status = Ingest(body, &response);
  ASSERT_THAT(status, IsOk());
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
  ASSERT_THAT(status, IsOk());
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
  EXPECT_THAT(status, StatusIs(grpc::StatusCode::UNAUTHENTICATED));
  EXPECT_THAT(status, HasReason("SIGNATURE_MISMATCH"));

  status = Ingest(R"({"eventType":"workflowExecution.started","payload":{}})",
                  &response);
  EXPECT_THAT(status, StatusIs(grpc::StatusCode::INVALID_ARGUMENT));
  EXPECT_THAT(status, HasReason("MISSING_FIELD"));
  EXPECT_THAT(GrpcBadFields(status),
              ElementsAre("payload.workflowExecutionId"));
}

TEST_F(WebhookServiceTest, SubscribeGetsIngestedEvent) {
  grpc::ClientContext context;
  auto reader = Subscribe(context, {});
  v1::IngestResponse ingested;
  ASSERT_THAT(
      Ingest(ReadTestData("events/workflowExecution.started.json"), &ingested),
      IsOk());
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
    ASSERT_THAT(Ingest(ReadTestData("events/" + name), &ingested), IsOk())
        << name;
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
  ASSERT_THAT(IngestUniqueBodies(5), IsOk());
  grpc::ClientContext context;
  v1::SubscribeRequest request;
  request.set_start_after_sequence(3);
  auto reader = Subscribe(context, request);
  v1::IngestResponse ingested;
  ASSERT_THAT(Ingest(UniqueBody(5), &ingested), IsOk());
  std::vector<v1::Event> events = ReadEvents(*reader, 3);
  std::vector<std::uint64_t> sequences;
  for (const auto& e : events) sequences.push_back(e.sequence());
  EXPECT_THAT(sequences, ElementsAre(4, 5, 6));
  context.TryCancel();
}

// Many streams share each event's encoding; each still gets every event,
// once, in order.
TEST_F(WebhookServiceTest, ManySubscribersEachGetEveryEventInOrder) {
  constexpr int kStreams = 20;
  constexpr int kEvents = 200;
  std::vector<std::unique_ptr<grpc::ClientContext>> contexts;
  std::vector<std::unique_ptr<grpc::ClientReader<v1::SubscribeResponse>>>
      readers;
  for (int i = 0; i < kStreams; ++i) {
    contexts.push_back(std::make_unique<grpc::ClientContext>());
    v1::SubscribeRequest request;
    // Half of them through the filter index, matching every event anyway.
    if (i % 2 == 1) request.add_event_types("workflowExecution.*");
    readers.push_back(Subscribe(*contexts.back(), request));
  }
  ASSERT_THAT(IngestUniqueBodies(kEvents), IsOk());
  for (int i = 0; i < kStreams; ++i) {
    SCOPED_TRACE(i);
    std::vector<v1::Event> events = ReadEvents(*readers[i], kEvents);
    ASSERT_EQ(events.size(), static_cast<std::size_t>(kEvents));
    for (int j = 0; j < kEvents; ++j) {
      ASSERT_EQ(events[j].sequence(), static_cast<std::uint64_t>(j + 1));
    }
    EXPECT_EQ(events.back().body(), UniqueBody(kEvents - 1));
    contexts[i]->TryCancel();
  }
}

// Pacing spaces writes of partial batches only: a full batch is followed
// by the next at once, however long the interval.
class PacedSubscribeTest : public WebhookServiceTest {
 protected:
  static WebhookServiceAdapter::Options SlowPacing() {
    WebhookServiceAdapter::Options options;
    options.max_batch_events = 2;
    options.min_write_interval = absl::Hours(1);
    options.max_write_interval = absl::Hours(1);
    return options;
  }
  PacedSubscribeTest() : WebhookServiceTest(1000, SlowPacing()) {}
};

TEST_F(PacedSubscribeTest, FullBatchesAreNotHeldBack) {
  ASSERT_THAT(IngestUniqueBodies(6), IsOk());
  grpc::ClientContext context;
  v1::SubscribeRequest request;
  request.set_start_after_sequence(0);
  auto reader = Subscribe(context, request);  // 30 s deadline
  std::vector<std::uint64_t> sequences;
  v1::SubscribeResponse response;
  while (sequences.size() < 6 && reader->Read(&response)) {
    EXPECT_LE(response.events_size(), 2);
    for (const auto& event : response.events()) {
      sequences.push_back(event.sequence());
    }
  }
  EXPECT_THAT(sequences, ElementsAre(1, 2, 3, 4, 5, 6));
  // The last write was full too: the next event goes out when it comes.
  v1::IngestResponse ingested;
  ASSERT_THAT(Ingest(UniqueBody(6), &ingested), IsOk());
  ASSERT_TRUE(reader->Read(&response));
  ASSERT_EQ(response.events_size(), 1);
  EXPECT_EQ(response.events(0).sequence(), 7u);
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
    EXPECT_THAT(status, StatusIs(grpc::StatusCode::INVALID_ARGUMENT));
    EXPECT_THAT(status, HasReason("INVALID_REQUEST"));
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
    EXPECT_THAT(status, StatusIs(grpc::StatusCode::OUT_OF_RANGE));
    EXPECT_THAT(status, HasReason("SEQUENCE_TOO_NEW"));
  }
}

TEST_F(WebhookServiceTest, ListEventsPagesThroughTheStoredEventsAsIngested) {
  std::vector<v1::Event> ingested;
  for (const char* name :
       {"workflowExecution.started", "openid4vc.verification.verified",
        "workflowExecution.failed"}) {
    v1::IngestResponse response;
    ASSERT_THAT(
        Ingest(ReadTestData(absl::StrCat("events/", name, ".json")), &response),
        IsOk());
    ingested.push_back(response.event());
  }
  v1::ListEventsRequest request;
  request.set_page_size(2);
  v1::ListEventsResponse first;
  {
    grpc::ClientContext context;
    const grpc::Status status = stub_->ListEvents(&context, request, &first);
    ASSERT_THAT(status, IsOk());
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
    ASSERT_THAT(stub_->ListEvents(&context, request, &second), IsOk());
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
    ASSERT_THAT(stub_->ListEvents(&context, filtered, &matching), IsOk());
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
    EXPECT_THAT(status, StatusIs(grpc::StatusCode::INVALID_ARGUMENT));
    EXPECT_THAT(status, HasReason(reason));
    EXPECT_THAT(GrpcBadFields(status), ::testing::ElementsAre(field));
  }
}

grpc::Status CallWithBytes(int port, const std::string& method,
                           const std::string& bytes) {
  return testing::CallWithBytes(
      grpc::CreateChannel(absl::StrCat("127.0.0.1:", port),
                          grpc::InsecureChannelCredentials()),
      absl::StrCat("/paradym.webhooks.v1.WebhookService/", method), bytes);
}

// A request gRPC could not decode is a bad request, not an unknown method.
TEST_F(WebhookServiceTest, UndecodableRequestsAreInvalidArgument) {
  struct Case {
    std::string method;
    std::string bytes;
    std::string reason;
    std::vector<std::string> fields;
  };
  const std::string not_utf8 = "\xff\xfe";
  const std::vector<Case> cases = {
      // `signature` (field 2) holds bytes that are not UTF-8.
      {"Ingest",
       "\x0a\x02{}\x12\x02" + not_utf8,
       "INVALID_UTF8",
       {"signature"}},
      {"VerifyAndParse", "\x1a\x02" + not_utf8, "INVALID_UTF8", {"endpoint"}},
      {"ListEvents",
       std::string("\x0a\x01x\x0a\x02", 5) + not_utf8,
       "INVALID_UTF8",
       {"event_types"}},
      {"ListEvents", "\x3a\x02" + not_utf8, "INVALID_UTF8", {"page_token"}},
      {"Subscribe", "\x12\x02" + not_utf8, "INVALID_UTF8", {"project_ids"}},
      // A length past the end, a truncated varint, a tag of zero, an
      // end-group that never started.
      {"Ingest", "\x0a\x7f{}", "MALFORMED_REQUEST", {}},
      {"VerifyAndParse", "\x28\xff", "MALFORMED_REQUEST", {}},
      {"ListEvents", std::string("\x00\x00", 2), "MALFORMED_REQUEST", {}},
      {"Subscribe", "\x0c", "MALFORMED_REQUEST", {}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.method + " " + c.reason);
    const grpc::Status status = CallWithBytes(port_, c.method, c.bytes);
    EXPECT_THAT(status, StatusIs(grpc::StatusCode::INVALID_ARGUMENT));
    EXPECT_THAT(status, HasReason(c.reason));
    EXPECT_EQ(GrpcBadFields(status), c.fields);
    EXPECT_FALSE(status.error_message().empty());
  }
  EXPECT_EQ(log_.Range().last, 0u);
}

// Unknown fields and a well-formed request still work through the byte path.
TEST_F(WebhookServiceTest, WellFormedBytesWithUnknownFieldsAreServed) {
  v1::ListEventsRequest request;
  request.set_page_size(5);
  std::string bytes = request.SerializeAsString();
  bytes += "\xa0\x06\x01";  // field 100, varint 1: not in the message
  const grpc::Status status = CallWithBytes(port_, "ListEvents", bytes);
  EXPECT_THAT(status, IsOk());
}

TEST_F(WebhookServiceTest, ShutdownEndsOpenStreamsWithUnavailable) {
  grpc::ClientContext context;
  auto reader = Subscribe(context, {});
  ingestor_.Shutdown();
  v1::SubscribeResponse response;
  EXPECT_FALSE(reader->Read(&response));
  const grpc::Status status = reader->Finish();
  EXPECT_THAT(status, StatusIs(grpc::StatusCode::UNAVAILABLE));
  EXPECT_THAT(status, HasReason("SHUTTING_DOWN"));
}

TEST_F(WebhookServiceTest, CancelledSubscriberIsRemovedFromTheHub) {
  {
    grpc::ClientContext context;
    auto reader = Subscribe(context, {});
    EXPECT_EQ(hub_.size(), 1u);
    context.TryCancel();
    v1::SubscribeResponse response;
    EXPECT_FALSE(reader->Read(&response));
    EXPECT_THAT(reader->Finish(), StatusIs(grpc::StatusCode::CANCELLED));
  }
  // The server learns of the cancel asynchronously; wait for it, bounded.
  EXPECT_TRUE(WaitFor([&] { return hub_.size() == 0; }, absl::Seconds(10)))
      << hub_.size() << " subscriptions left";
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
    ASSERT_THAT(Ingest(UniqueBody(ingested_count), &ingested), IsOk());
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
  EXPECT_THAT(status, StatusIs(grpc::StatusCode::RESOURCE_EXHAUSTED));
  EXPECT_THAT(status, HasReason("SUBSCRIBER_TOO_SLOW"));
  EXPECT_EQ(GrpcErrorMetadata(status, "last_sequence"),
            std::to_string(expected - 1));
  EXPECT_LT(expected - 1, static_cast<std::uint64_t>(ingested_count));
}

TEST(IsLoopbackPeer, KnowsLoopbackAddresses) {
  EXPECT_TRUE(IsLoopbackPeer("ipv4:127.0.0.1:41234"));
  EXPECT_TRUE(IsLoopbackPeer("ipv4:127.8.9.10:1"));
  EXPECT_TRUE(IsLoopbackPeer("ipv6:[::1]:41234"));
  EXPECT_TRUE(IsLoopbackPeer("ipv6:[::ffff:127.0.0.1]:41234"));
  EXPECT_FALSE(IsLoopbackPeer("ipv4:10.0.0.1:41234"));
  EXPECT_FALSE(IsLoopbackPeer("ipv4:1.127.0.0:41234"));
  EXPECT_FALSE(IsLoopbackPeer("ipv6:[::2]:41234"));
  EXPECT_FALSE(IsLoopbackPeer("ipv6:[::ffff:10.0.0.1]:41234"));
  EXPECT_FALSE(IsLoopbackPeer("unix:/tmp/socket"));
  EXPECT_FALSE(IsLoopbackPeer(""));
}

constexpr char kReaderToken[] = "reader-token-0123456789abcdef";
constexpr char kIngesterToken[] = "ingester-token-0123456789abcdef";

// Tokens configured: every RPC needs one with its scope, loopback or not.
class WebhookServiceTokenTest : public WebhookServiceTest {
 protected:
  WebhookServiceTokenTest() {
    access_.SetTokens(*TokenTable::Parse(
        absl::StrCat("reader read ", kReaderToken, "\ningester ingest,verify ",
                     kIngesterToken, "\n")));
  }

  // Calls every RPC with `authorization` (none when empty).
  std::map<std::string, grpc::Status> CallAll(
      const std::string& authorization) {
    std::map<std::string, grpc::Status> statuses;
    const std::string body =
        ReadTestData("events/workflowExecution.started.json");
    auto with = [&](grpc::ClientContext& context) {
      if (!authorization.empty()) {
        context.AddMetadata("authorization", authorization);
      }
    };
    {
      grpc::ClientContext context;
      with(context);
      v1::IngestRequest request;
      request.set_body(body);
      request.set_signature(SignBody(kSecret, body));
      v1::IngestResponse response;
      statuses["Ingest"] = stub_->Ingest(&context, request, &response);
    }
    {
      grpc::ClientContext context;
      with(context);
      v1::VerifyAndParseRequest request;
      request.set_body(body);
      request.set_signature(SignBody(kSecret, body));
      v1::VerifyAndParseResponse response;
      statuses["VerifyAndParse"] =
          stub_->VerifyAndParse(&context, request, &response);
    }
    {
      grpc::ClientContext context;
      with(context);
      v1::ListEventsResponse response;
      statuses["ListEvents"] = stub_->ListEvents(&context, {}, &response);
    }
    {
      grpc::ClientContext context;
      with(context);
      // An admitted stream stays open until its deadline: DEADLINE_EXCEEDED.
      context.set_deadline(std::chrono::system_clock::now() +
                           std::chrono::milliseconds(500));
      v1::SubscribeRequest request;
      request.set_start_after_sequence(0);
      statuses["Subscribe"] = EndOf(*stub_->Subscribe(&context, request));
    }
    return statuses;
  }
};

TEST_F(WebhookServiceTokenTest, NoOrUnknownTokenIsUnauthenticated) {
  struct Case {
    std::string authorization;
    std::string reason;
  };
  for (const Case& c : std::vector<Case>{
           {"", "TOKEN_MISSING"},
           {"Bearer not-a-configured-token-at-all", "TOKEN_INVALID"},
           {absl::StrCat("Basic ", kReaderToken), "TOKEN_INVALID"},
           {absl::StrCat("Bearer ", kReaderToken, "x"), "TOKEN_INVALID"}}) {
    for (const auto& [method, status] : CallAll(c.authorization)) {
      SCOPED_TRACE(method + " with '" + c.authorization + "'");
      EXPECT_THAT(status, StatusIs(grpc::StatusCode::UNAUTHENTICATED));
      EXPECT_THAT(status, HasReason(c.reason));
      EXPECT_THAT(status.error_message(),
                  ::testing::Not(::testing::HasSubstr(kReaderToken)));
    }
  }
  EXPECT_EQ(log_.Range().last, 0u);
}

TEST_F(WebhookServiceTokenTest, ATokenGrantsItsScopesOnly) {
  const std::map<std::string, grpc::Status> reader =
      CallAll(absl::StrCat("Bearer ", kReaderToken));
  EXPECT_THAT(reader.at("ListEvents"), IsOk());
  EXPECT_THAT(reader.at("Subscribe"),
              StatusIs(grpc::StatusCode::DEADLINE_EXCEEDED));
  for (const std::string method : {"Ingest", "VerifyAndParse"}) {
    SCOPED_TRACE(method);
    EXPECT_THAT(reader.at(method),
                StatusIs(grpc::StatusCode::PERMISSION_DENIED));
    EXPECT_THAT(reader.at(method), HasReason("SCOPE_MISSING"));
    EXPECT_EQ(GrpcErrorMetadata(reader.at(method), "token_name"), "reader");
  }
  EXPECT_EQ(log_.Range().last, 0u);

  // The scheme is case-insensitive.
  const std::map<std::string, grpc::Status> ingester =
      CallAll(absl::StrCat("bearer ", kIngesterToken));
  EXPECT_THAT(ingester.at("Ingest"), IsOk());
  EXPECT_THAT(ingester.at("VerifyAndParse"), IsOk());
  for (const std::string method : {"ListEvents", "Subscribe"}) {
    SCOPED_TRACE(method);
    EXPECT_THAT(ingester.at(method),
                StatusIs(grpc::StatusCode::PERMISSION_DENIED));
    EXPECT_EQ(GrpcErrorMetadata(ingester.at(method), "scope"), "read");
  }
  EXPECT_EQ(log_.Range().last, 1u);
}

// A reload replaces the tokens for new calls; an open stream keeps going.
TEST_F(WebhookServiceTokenTest, NewTokensApplyToNewCallsAndStreamsStayOpen) {
  grpc::ClientContext context;
  context.AddMetadata("authorization", absl::StrCat("Bearer ", kReaderToken));
  auto reader = Subscribe(context, {});

  constexpr char kNewToken[] = "rotated-token-0123456789abcdef";
  access_.SetTokens(
      *TokenTable::Parse(absl::StrCat("reader * ", kNewToken, "\n")));
  v1::IngestResponse ingested;
  {
    const std::string body =
        ReadTestData("events/workflowExecution.failed.json");
    v1::IngestRequest request;
    request.set_body(body);
    request.set_signature(SignBody(kSecret, body));
    grpc::ClientContext old_context;
    old_context.AddMetadata("authorization",
                            absl::StrCat("Bearer ", kIngesterToken));
    const grpc::Status old_status =
        stub_->Ingest(&old_context, request, &ingested);
    EXPECT_THAT(old_status, HasReason("TOKEN_INVALID"));
    grpc::ClientContext new_context;
    new_context.AddMetadata("authorization",
                            absl::StrCat("Bearer ", kNewToken));
    ASSERT_THAT(stub_->Ingest(&new_context, request, &ingested), IsOk());
  }
  const std::vector<v1::Event> events = ReadEvents(*reader, 1);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].sequence(), ingested.event().sequence());
  context.TryCancel();
}

}  // namespace
}  // namespace paradym::webhooks
