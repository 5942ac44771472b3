// paradym-webhooksd as users run it: the real binary on a free port, driven
// through the generated stub.

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <signal.h>
#include <sys/stat.h>

#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "paradym/webhooks/v1/webhook_service.grpc.pb.h"
#include "server/core/signature_verifier.h"
#include "tests/testing/grpc_status.h"
#include "tests/testing/server_process.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/subscribe_stream.h"
#include "tests/testing/test_data.h"

namespace paradym::webhooks {
namespace {

namespace v1 = ::paradym::webhooks::v1;
using ::paradym::webhooks::testing::ChildProcess;
using ::paradym::webhooks::testing::EndOf;
using ::paradym::webhooks::testing::Env;
using ::paradym::webhooks::testing::GrpcBadFields;
using ::paradym::webhooks::testing::GrpcErrorMetadata;
using ::paradym::webhooks::testing::HasReason;
using ::paradym::webhooks::testing::IsOk;
using ::paradym::webhooks::testing::ListTestData;
using ::paradym::webhooks::testing::MakeTempDir;
using ::paradym::webhooks::testing::ReadEvents;
using ::paradym::webhooks::testing::ReadTestData;
using ::paradym::webhooks::testing::StartServer;
using ::paradym::webhooks::testing::StatusIs;
using ::paradym::webhooks::testing::UniqueBody;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kSecret[] = "integration-secret-3f9a";

std::chrono::system_clock::time_point Deadline(int seconds = 30) {
  return std::chrono::system_clock::now() + std::chrono::seconds(seconds);
}

class ServerBinaryTest : public ::testing::Test {
 protected:
  void Start(std::vector<std::string> args = {},
             Env env = {{"PARADYM_WEBHOOK_SECRET", kSecret}}) {
    args.insert(args.begin(), "--grpc_address=127.0.0.1:0");
    auto server = StartServer(std::move(args), std::move(env));
    ASSERT_THAT(server, IsOk());
    server_ = std::move(server).value();
    channel_ = grpc::CreateChannel(server_->grpc_address(),
                                   grpc::InsecureChannelCredentials());
    stub_ = v1::WebhookService::NewStub(channel_);
  }

  void TearDown() override {
    if (server_ == nullptr) return;
    const std::string log = server_->Stderr();
    EXPECT_THAT(log, Not(HasSubstr(kSecret)));
    // Every line the server logs is one JSON object.
    for (absl::string_view line :
         absl::StrSplit(log, '\n', absl::SkipEmpty())) {
      EXPECT_TRUE(!line.empty() && line.front() == '{' && line.back() == '}')
          << line;
    }
  }

  grpc::Status Ingest(const std::string& body, const std::string& signature,
                      v1::IngestResponse* response,
                      const std::string& endpoint = "") {
    v1::IngestRequest request;
    request.set_body(body);
    request.set_signature(signature);
    request.set_endpoint(endpoint);
    grpc::ClientContext context;
    context.set_deadline(Deadline());
    return stub_->Ingest(&context, request, response);
  }

  grpc::Status IngestSigned(const std::string& body,
                            v1::IngestResponse* response = nullptr) {
    v1::IngestResponse ignored;
    return Ingest(body, SignBody(kSecret, body),
                  response != nullptr ? response : &ignored);
  }

  std::unique_ptr<grpc::ClientReader<v1::SubscribeResponse>> Subscribe(
      grpc::ClientContext& context, const v1::SubscribeRequest& request) {
    context.set_deadline(Deadline());
    auto reader = stub_->Subscribe(&context, request);
    reader->WaitForInitialMetadata();
    return reader;
  }

  std::unique_ptr<ChildProcess> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::WebhookService::Stub> stub_;
};

TEST_F(ServerBinaryTest, EveryEventTypeReachesAFilteredSubscriber) {
  Start();
  grpc::ClientContext all_context, workflow_context, project_context;
  auto all = Subscribe(all_context, {});
  v1::SubscribeRequest workflow_request;
  workflow_request.add_event_types("workflowExecution.*");
  workflow_request.add_workflow_execution_ids(
      "9d3c2b1a-0f9e-4d8c-b7a6-5e4f3d2c1b0a");
  auto workflow = Subscribe(workflow_context, workflow_request);
  v1::SubscribeRequest project_request;
  project_request.add_project_ids("another-project");
  auto project = Subscribe(project_context, project_request);

  const std::vector<std::string> names = ListTestData("events");
  ASSERT_EQ(names.size(), 14u);
  for (const std::string& name : names) {
    ASSERT_THAT(IngestSigned(ReadTestData("events/" + name)), IsOk()) << name;
  }
  const std::string other_project =
      R"({"eventType":"workflowExecution.started","projectId":"another-project","payload":{"workflowExecutionId":"x"}})";
  ASSERT_THAT(IngestSigned(other_project), IsOk());

  std::vector<v1::Event> events = ReadEvents(*all, names.size() + 1);
  ASSERT_EQ(events.size(), names.size() + 1);
  for (std::size_t i = 0; i < names.size(); ++i) {
    SCOPED_TRACE(names[i]);
    EXPECT_EQ(events[i].sequence(), i + 1);
    EXPECT_EQ(events[i].event_type() + ".json", names[i]);
    EXPECT_EQ(events[i].body(), ReadTestData("events/" + names[i]));
    EXPECT_EQ(events[i].endpoint(), "default");
    EXPECT_EQ(events[i].project_id(), "c6f1c0d2-7a3b-4e8f-9c1d-2e3f4a5b6c7d");
    EXPECT_TRUE(events[i].has_publish_time());
    EXPECT_TRUE(events[i].has_receive_time());
  }
  // Spot-check the typed payloads as a consumer would read them.
  auto by_type = [&](absl::string_view type) {
    for (const auto& e : events) {
      if (e.event_type() == type) return e;
    }
    return v1::Event();
  };
  const v1::Event failed = by_type("workflowExecution.failed");
  EXPECT_EQ(failed.type(), v1::EVENT_TYPE_WORKFLOW_EXECUTION_FAILED);
  EXPECT_EQ(failed.workflow_execution_failed().workflow_action_id(),
            "verify-presentation");
  EXPECT_EQ(failed.workflow_execution_failed().error().message(),
            "The presentation was rejected");
  EXPECT_EQ(by_type("workflowExecution.waitingForTrigger")
                .workflow_execution_waiting_for_trigger()
                .workflow_action_id(),
            "await-approval");
  EXPECT_EQ(by_type("openid4vc.issuance.partiallyIssued")
                .openid4vc_issuance_partially_issued()
                .openid4vc_issuance_id(),
            "a1b2c3d4-0000-4000-8000-000000000001");
  const v1::Event unknown = by_type("didcomm.connection.established");
  EXPECT_EQ(unknown.type(), v1::EVENT_TYPE_UNSPECIFIED);
  EXPECT_EQ(unknown.typed_payload_case(), v1::Event::TYPED_PAYLOAD_NOT_SET);
  EXPECT_EQ(unknown.payload().fields().at("theirLabel").string_value(),
            "Wallet");

  std::vector<v1::Event> workflow_events = ReadEvents(*workflow, 6);
  ASSERT_EQ(workflow_events.size(), 6u);
  for (const auto& e : workflow_events) {
    EXPECT_EQ(e.event_type().rfind("workflowExecution.", 0), 0u);
  }
  std::vector<v1::Event> project_events = ReadEvents(*project, 1);
  ASSERT_EQ(project_events.size(), 1u);
  EXPECT_EQ(project_events[0].sequence(), names.size() + 1);

  all_context.TryCancel();
  workflow_context.TryCancel();
  project_context.TryCancel();
}

TEST_F(ServerBinaryTest,
       EveryRefusalHasItsCodeAndReasonAndTheServerKeepsServing) {
  Start({"--max_body_bytes=300000"});
  const std::string good =
      ReadTestData("events/workflowExecution.started.json");
  const std::string deep =
      absl::StrCat(R"({"eventType":"x.y","payload":{"p":)",
                   std::string(100000, '['), std::string(100000, ']'), "}}");
  struct Case {
    std::string name;
    std::string body;
    std::string signature;
    std::string endpoint;
    grpc::StatusCode code;
    std::string reason;
    std::string field;
  };
  auto sign = [](const std::string& body) { return SignBody(kSecret, body); };
  const std::string missing_id =
      R"({"eventType":"workflowExecution.failed","payload":{"workflowId":"w"}})";
  const std::string bad_time =
      R"({"eventType":"x.y","webhookPublishedAt":"time-of-publication"})";
  const std::string duplicate = R"({"eventType":"a.b","eventType":"c.d"})";
  const std::string bad_utf8 = "{\"eventType\":\"x\xff\"}";
  const std::string nan = R"({"eventType":"x.y","payload":{"n":NaN}})";
  const std::vector<Case> cases = {
      {"no signature", good, "", "", grpc::StatusCode::UNAUTHENTICATED,
       "SIGNATURE_MISSING", ""},
      {"not hex", good, std::string(64, 'z'), "",
       grpc::StatusCode::UNAUTHENTICATED, "SIGNATURE_MALFORMED", ""},
      {"wrong secret", good, SignBody("guess", good), "",
       grpc::StatusCode::UNAUTHENTICATED, "SIGNATURE_MISMATCH", ""},
      {"unknown endpoint", good, sign(good), "shop",
       grpc::StatusCode::NOT_FOUND, "UNKNOWN_ENDPOINT", ""},
      {"too large", std::string(300001, ' '), "", "",
       grpc::StatusCode::INVALID_ARGUMENT, "BODY_TOO_LARGE", ""},
      {"not JSON", "hello", sign("hello"), "",
       grpc::StatusCode::INVALID_ARGUMENT, "MALFORMED_JSON", ""},
      {"NaN", nan, sign(nan), "", grpc::StatusCode::INVALID_ARGUMENT,
       "MALFORMED_JSON", ""},
      {"missing execution id", missing_id, sign(missing_id), "",
       grpc::StatusCode::INVALID_ARGUMENT, "MISSING_FIELD",
       "payload.workflowExecutionId"},
      {"bad timestamp", bad_time, sign(bad_time), "",
       grpc::StatusCode::INVALID_ARGUMENT, "INVALID_TIMESTAMP",
       "webhookPublishedAt"},
      {"duplicate key", duplicate, sign(duplicate), "",
       grpc::StatusCode::INVALID_ARGUMENT, "DUPLICATE_KEY", "eventType"},
      {"invalid UTF-8", bad_utf8, sign(bad_utf8), "",
       grpc::StatusCode::INVALID_ARGUMENT, "INVALID_UTF8", ""},
      {"100000 levels deep", deep, sign(deep), "",
       grpc::StatusCode::INVALID_ARGUMENT, "NESTING_TOO_DEEP", ""},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    v1::IngestResponse response;
    const grpc::Status status =
        Ingest(c.body, c.signature, &response, c.endpoint);
    EXPECT_THAT(status, StatusIs(c.code));
    EXPECT_THAT(status, HasReason(c.reason));
    if (!c.field.empty()) {
      EXPECT_THAT(GrpcBadFields(status), ElementsAre(c.field));
    }
    if (!c.signature.empty()) {
      EXPECT_THAT(status.error_message(), Not(HasSubstr(c.signature)));
    }
  }
  v1::IngestResponse response;
  ASSERT_THAT(IngestSigned(good, &response), IsOk());
  EXPECT_EQ(response.event().sequence(), 1u);
}

TEST_F(ServerBinaryTest, SubscribeRefusalsHaveTheirReasons) {
  Start({"--store=memory", "--memory_events=2"});
  for (int i = 0; i < 4; ++i) ASSERT_THAT(IngestSigned(UniqueBody(i)), IsOk());
  struct Case {
    std::string name;
    v1::SubscribeRequest request;
    grpc::StatusCode code;
    std::string reason;
  };
  std::vector<Case> cases(3);
  cases[0] = {
      "too old", {}, grpc::StatusCode::OUT_OF_RANGE, "SEQUENCE_TOO_OLD"};
  cases[0].request.set_start_after_sequence(1);
  cases[1] = {
      "too new", {}, grpc::StatusCode::OUT_OF_RANGE, "SEQUENCE_TOO_NEW"};
  cases[1].request.set_start_after_sequence(99);
  cases[2] = {
      "bad filter", {}, grpc::StatusCode::INVALID_ARGUMENT, "INVALID_REQUEST"};
  cases[2].request.add_project_ids("");
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    grpc::ClientContext context;
    context.set_deadline(Deadline());
    auto reader = stub_->Subscribe(&context, c.request);
    const grpc::Status status = EndOf(*reader);
    EXPECT_THAT(status, StatusIs(c.code));
    EXPECT_THAT(status, HasReason(c.reason));
  }
  grpc::ClientContext context;
  context.set_deadline(Deadline());
  v1::SubscribeRequest request;
  request.set_start_after_sequence(1);
  const grpc::Status status = EndOf(*stub_->Subscribe(&context, request));
  EXPECT_EQ(GrpcErrorMetadata(status, "oldest_sequence"), "3");
  EXPECT_THAT(status.error_message(), HasSubstr("oldest available is 3"));
}

TEST_F(ServerBinaryTest, SubscribeStreamsBeyondTheMostAreRefused) {
  Start({"--store=memory", "--max_subscribers=1"});
  grpc::ClientContext open_context;
  open_context.set_deadline(Deadline());
  auto open = stub_->Subscribe(&open_context, v1::SubscribeRequest());
  open->WaitForInitialMetadata();  // the subscription is in place
  grpc::ClientContext context;
  context.set_deadline(Deadline());
  const grpc::Status status =
      EndOf(*stub_->Subscribe(&context, v1::SubscribeRequest()));
  EXPECT_THAT(status, StatusIs(grpc::StatusCode::RESOURCE_EXHAUSTED));
  EXPECT_THAT(status, HasReason("TOO_MANY_SUBSCRIBERS"));
  open_context.TryCancel();
}

TEST_F(ServerBinaryTest, ResumeAfterASequenceGetsExactlyTheMissedThenLive) {
  Start();
  int next = 0;
  std::uint64_t last_seen = 0;
  {
    grpc::ClientContext context;
    auto reader = Subscribe(context, {});
    for (int i = 0; i < 3; ++i) {
      ASSERT_THAT(IngestSigned(UniqueBody(next++)), IsOk());
    }
    std::vector<v1::Event> events = ReadEvents(*reader, 3);
    ASSERT_EQ(events.size(), 3u);
    last_seen = events.back().sequence();
    context.TryCancel();
  }
  for (int i = 0; i < 4; ++i) {
    ASSERT_THAT(IngestSigned(UniqueBody(next++)), IsOk());  // missed
  }
  grpc::ClientContext context;
  v1::SubscribeRequest request;
  request.set_start_after_sequence(last_seen);
  auto reader = Subscribe(context, request);
  ASSERT_THAT(IngestSigned(UniqueBody(next++)), IsOk());  // live
  std::vector<std::uint64_t> sequences;
  for (const auto& e : ReadEvents(*reader, 5))
    sequences.push_back(e.sequence());
  EXPECT_THAT(sequences, ElementsAre(4, 5, 6, 7, 8));
  context.TryCancel();
}

TEST_F(ServerBinaryTest, SigtermEndsOpenStreamsWithUnavailableAndExitsCleanly) {
  Start();
  grpc::ClientContext context;
  auto reader = Subscribe(context, {});
  ASSERT_THAT(
      IngestSigned(ReadTestData("events/workflowExecution.started.json")),
      IsOk());
  ASSERT_EQ(ReadEvents(*reader, 1).size(), 1u);
  const auto started = std::chrono::steady_clock::now();
  ASSERT_EQ(::kill(server_->pid(), SIGTERM), 0);
  const grpc::Status status = EndOf(*reader);
  EXPECT_THAT(status, StatusIs(grpc::StatusCode::UNAVAILABLE));
  EXPECT_THAT(status, HasReason("SHUTTING_DOWN"));
  absl::StatusOr<int> exit_code = server_->Wait(absl::Seconds(10));
  ASSERT_THAT(exit_code, IsOk());
  EXPECT_EQ(*exit_code, 0);
  EXPECT_LT(std::chrono::steady_clock::now() - started,
            std::chrono::seconds(8));
}

TEST_F(ServerBinaryTest, SecretsFileConfiguresEndpointsAndRotation) {
  const std::string dir = MakeTempDir();
  const std::string path = dir + "/secrets";
  testing::WriteFileWithMode(path,
                             "# endpoints\nshop = shop-old\nshop=shop-new\n"
                             "crm=crm-secret\n");
  Start({"--secrets_file=" + path}, {});
  const std::string body =
      ReadTestData("events/workflowExecution.started.json");
  for (const char* secret : {"shop-old", "shop-new"}) {
    SCOPED_TRACE(secret);
    v1::IngestResponse response;
    ASSERT_THAT(Ingest(body, SignBody(secret, body), &response), IsOk());
    EXPECT_EQ(response.event().endpoint(), "shop");
    ASSERT_THAT(Ingest(body, SignBody(secret, body), &response, "shop"),
                IsOk());
  }
  v1::IngestResponse response;
  const grpc::Status status =
      Ingest(body, SignBody("crm-secret", body), &response, "shop");
  EXPECT_THAT(status, StatusIs(grpc::StatusCode::UNAUTHENTICATED));
  EXPECT_THAT(status, HasReason("SIGNATURE_MISMATCH"));
  ASSERT_THAT(Ingest(body, SignBody("crm-secret", body), &response), IsOk());
  EXPECT_EQ(response.event().endpoint(), "crm");
  EXPECT_THAT(server_->Stderr(), Not(HasSubstr("shop-old")));
}

TEST_F(ServerBinaryTest, WithoutConfigurationASecretIsGeneratedPrivately) {
  const std::string data_dir = MakeTempDir() + "/data";
  Start({"--data_dir=" + data_dir}, {});
  const std::string secret_path = data_dir + "/webhook-secret";
  struct stat file_stat {};
  ASSERT_EQ(::stat(secret_path.c_str(), &file_stat), 0);
  EXPECT_EQ(file_stat.st_mode & 0777, 0600u);
  std::string secret;
  std::getline(std::ifstream(secret_path), secret);
  EXPECT_EQ(secret.size(), 64u);
  const std::string body =
      ReadTestData("events/workflowExecution.started.json");
  v1::IngestResponse response;
  ASSERT_THAT(Ingest(body, SignBody(secret, body), &response), IsOk());
  EXPECT_THAT(server_->Stderr(), Not(HasSubstr(secret)));
  EXPECT_THAT(server_->Stderr(), HasSubstr(secret_path));
}

TEST_F(ServerBinaryTest, BadConfigurationFailsAtStartupWithExitCode1) {
  auto server = StartServer(
      {"--grpc_address=127.0.0.1:0", "--secrets_file=/nonexistent/secrets"},
      {});
  ASSERT_THAT(server, Not(IsOk()));
  EXPECT_THAT(std::string(server.status().message()),
              HasSubstr("cannot read /nonexistent/secrets"));
}

// The protobuf wire form of a message whose only field is string #number.
std::string StringField(int number, const std::string& value) {
  std::string out;
  out.push_back(static_cast<char>((number << 3) | 2));
  out.push_back(static_cast<char>(value.size()));
  return out + value;
}

std::string ToString(const grpc::ByteBuffer& buffer) {
  std::vector<grpc::Slice> slices;
  std::string out;
  if (!buffer.Dump(&slices).ok()) return out;
  for (const auto& slice : slices) {
    out.append(reinterpret_cast<const char*>(slice.begin()), slice.size());
  }
  return out;
}

TEST_F(ServerBinaryTest, HealthAndReflectionAreServed) {
  Start();
  grpc::GenericStub generic(channel_);
  grpc::CompletionQueue cq;
  void* tag = nullptr;
  bool ok = false;
  auto step = [&](int expected_tag) {
    EXPECT_TRUE(cq.Next(&tag, &ok));
    EXPECT_EQ(tag, reinterpret_cast<void*>(expected_tag));
    return ok;
  };

  // grpc.health.v1.Health/Check for our service: SERVING (status = 1).
  {
    grpc::ClientContext context;
    context.set_deadline(Deadline());
    grpc::Slice slice(StringField(1, "paradym.webhooks.v1.WebhookService"));
    grpc::ByteBuffer request(&slice, 1), response;
    auto call = generic.PrepareUnaryCall(
        &context, "/grpc.health.v1.Health/Check", request, &cq);
    call->StartCall();
    grpc::Status status;
    call->Finish(&response, &status, reinterpret_cast<void*>(1));
    step(1);
    ASSERT_THAT(status, IsOk());
    EXPECT_EQ(ToString(response), std::string("\x08\x01", 2));
  }

  // Reflection lists the service (list_services = field 7).
  {
    grpc::ClientContext context;
    context.set_deadline(Deadline());
    auto call = generic.PrepareCall(
        &context,
        "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", &cq);
    call->StartCall(reinterpret_cast<void*>(1));
    ASSERT_TRUE(step(1));
    grpc::Slice slice(StringField(7, "*"));
    grpc::ByteBuffer request(&slice, 1), response;
    call->Write(request, reinterpret_cast<void*>(2));
    ASSERT_TRUE(step(2));
    call->Read(&response, reinterpret_cast<void*>(3));
    ASSERT_TRUE(step(3));
    EXPECT_THAT(ToString(response),
                HasSubstr("paradym.webhooks.v1.WebhookService"));
    // Every listed service can be described, the health service included
    // (file_containing_symbol = field 4).
    for (const char* service :
         {"paradym.webhooks.v1.WebhookService", "grpc.health.v1.Health"}) {
      SCOPED_TRACE(service);
      grpc::Slice symbol(StringField(4, service));
      grpc::ByteBuffer describe(&symbol, 1);
      call->Write(describe, reinterpret_cast<void*>(2));
      ASSERT_TRUE(step(2));
      call->Read(&response, reinterpret_cast<void*>(3));
      ASSERT_TRUE(step(3));
      EXPECT_THAT(ToString(response), Not(HasSubstr("not found")));
      EXPECT_THAT(ToString(response), HasSubstr(".proto"));
    }
    call->WritesDone(reinterpret_cast<void*>(4));
    step(4);
    grpc::Status status;
    call->Finish(&status, reinterpret_cast<void*>(5));
    step(5);
    EXPECT_THAT(status, IsOk());
  }
  cq.Shutdown();
  while (cq.Next(&tag, &ok)) {
  }
}

}  // namespace
}  // namespace paradym::webhooks
