// The README's grpcurl checks, run with buf curl (env PARADYM_BUF, from
// tools/node_modules) against the real binary: a generic client that knows
// the service only through server reflection. buf curl tries reflection v1
// first and falls back to v1alpha on UNIMPLEMENTED; each check runs with that
// default and with each version forced (--reflect-protocol).
//
// Secrets reach the server and `paradym-webhooks sign` through the
// environment only; buf gets request bodies on stdin.

#include <grpcpp/grpcpp.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "gmock/gmock.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/descriptor.pb.h"
#include "google/protobuf/descriptor_database.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/message_differencer.h"
#include "google/rpc/error_details.pb.h"
#include "grpc/reflection/v1/reflection.pb.h"
#include "gtest/gtest.h"
#include "paradym/webhooks/v1/webhook_service.grpc.pb.h"
#include "tests/testing/grpc_status.h"
#include "tests/testing/http_client.h"
#include "tests/testing/server_process.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_data.h"

namespace paradym::webhooks {
namespace {

namespace v1 = ::paradym::webhooks::v1;
using ::google::protobuf::util::JsonStringToMessage;
using ::google::protobuf::util::MessageDifferencer;
using ::paradym::webhooks::testing::ChildProcess;
using ::paradym::webhooks::testing::CommandResult;
using ::paradym::webhooks::testing::Env;
using ::paradym::webhooks::testing::HttpExchange;
using ::paradym::webhooks::testing::HttpReply;
using ::paradym::webhooks::testing::IsOk;
using ::paradym::webhooks::testing::MakeTempDir;
using ::paradym::webhooks::testing::PathFromEnv;
using ::paradym::webhooks::testing::PostRequest;
using ::paradym::webhooks::testing::ReadTestData;
using ::paradym::webhooks::testing::RunCommand;
using ::paradym::webhooks::testing::StartServer;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::UnorderedElementsAre;
using ::testing::Values;

constexpr char kSecret[] = "buf-curl-test-secret";
constexpr absl::Duration kTimeout = absl::Seconds(30);

std::vector<std::string> Lines(const std::string& text) {
  return absl::StrSplit(text, '\n', absl::SkipEmpty());
}

class BufCurlTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string buf = PathFromEnv("PARADYM_BUF");
    ASSERT_EQ(::access(buf.c_str(), X_OK), 0)
        << "buf is not installed at " << buf << ": run scripts/setup.sh";
    auto server =
        StartServer({"--store=memory"}, {{"PARADYM_WEBHOOK_SECRET", kSecret}});
    ASSERT_THAT(server, IsOk());
    server_ = std::move(server).value();
    // buf keeps a cache under $HOME otherwise.
    env_ = {{"BUF_CACHE_DIR", MakeTempDir()}};
  }

  std::string BaseUrl() const {
    return absl::StrCat("http://", server_->grpc_address());
  }

  // `buf curl --protocol=grpc [--reflect-protocol=...] <args>`.
  std::vector<std::string> BufArgs(std::vector<std::string> args) const {
    std::vector<std::string> all = {"curl", "--protocol=grpc",
                                    "--connect-timeout=10"};
    if (!reflect_protocol_.empty()) {
      all.push_back(absl::StrCat("--reflect-protocol=", reflect_protocol_));
    }
    all.insert(all.end(), args.begin(), args.end());
    return all;
  }

  CommandResult Buf(std::vector<std::string> args,
                    const std::string& stdin_data = "") {
    absl::StatusOr<CommandResult> result =
        RunCommand(PathFromEnv("PARADYM_BUF"), BufArgs(std::move(args)), env_,
                   stdin_data, absl::Seconds(60));
    EXPECT_THAT(result, IsOk());
    return result.ok() ? *result : CommandResult{};
  }

  // Calls `method` (Service/Method) with a JSON request on stdin.
  CommandResult Call(const std::string& method, const std::string& json) {
    return Buf({"--data=@-", absl::StrCat(BaseUrl(), "/", method)}, json);
  }

  // The hex signature of `body` from `paradym-webhooks sign`, the secret in
  // its environment.
  static std::string Sign(const std::string& body,
                          const std::string& secret = kSecret) {
    absl::StatusOr<CommandResult> result =
        RunCommand(PathFromEnv("PARADYM_WEBHOOKS_CLI"), {"sign"},
                   {{"PARADYM_WEBHOOK_SECRET", secret}}, body);
    EXPECT_THAT(result, IsOk());
    if (!result.ok()) return "";
    EXPECT_EQ(result->exit_code, 0) << result->err;
    return std::string(absl::StripSuffix(result->out, "\n"));
  }

  // POSTs a signed body to the HTTP front; the body of its answer.
  std::string PostWebhook(const std::string& body) {
    absl::StatusOr<HttpReply> reply =
        HttpExchange(server_->http_port(),
                     PostRequest("/webhook", body, Sign(body)), kTimeout);
    EXPECT_THAT(reply, IsOk());
    if (!reply.ok()) return "";
    EXPECT_EQ(reply->status, 200) << reply->body;
    return reply->body;
  }

  std::unique_ptr<v1::WebhookService::Stub> Stub() const {
    return v1::WebhookService::NewStub(grpc::CreateChannel(
        server_->grpc_address(), grpc::InsecureChannelCredentials()));
  }

  std::string reflect_protocol_;  // empty: buf's default
  std::unique_ptr<ChildProcess> server_;
  Env env_;
};

class EveryReflectProtocolTest
    : public BufCurlTest,
      public ::testing::WithParamInterface<const char*> {
 protected:
  EveryReflectProtocolTest() { reflect_protocol_ = GetParam(); }
};

INSTANTIATE_TEST_SUITE_P(BufCurl, EveryReflectProtocolTest,
                         Values("", "grpc-v1", "grpc-v1alpha"),
                         [](const auto& info) {
                           const std::string name = info.param;
                           return name.empty()        ? std::string("Default")
                                  : name == "grpc-v1" ? std::string("V1")
                                                      : std::string("V1alpha");
                         });

TEST_P(EveryReflectProtocolTest, ListMethodsNamesEveryMethod) {
  const CommandResult result = Buf({"--list-methods", BaseUrl()});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_THAT(
      Lines(result.out),
      UnorderedElementsAre(
          "paradym.webhooks.v1.WebhookService/VerifyAndParse",
          "paradym.webhooks.v1.WebhookService/Ingest",
          "paradym.webhooks.v1.WebhookService/Subscribe",
          "paradym.webhooks.v1.WebhookService/ListEvents",
          "grpc.health.v1.Health/Check", "grpc.health.v1.Health/Watch",
          "grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
          "grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo"));
}

TEST_P(EveryReflectProtocolTest, ListServicesNamesEveryService) {
  const CommandResult result = Buf({"--list-services", BaseUrl()});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_THAT(Lines(result.out),
              UnorderedElementsAre("paradym.webhooks.v1.WebhookService",
                                   "grpc.health.v1.Health",
                                   "grpc.reflection.v1.ServerReflection",
                                   "grpc.reflection.v1alpha.ServerReflection"));
}

// buf curl has no `describe`; asking either reflection service through buf
// curl itself is grpcurl's `describe paradym.webhooks.v1.WebhookService`.
TEST_P(EveryReflectProtocolTest, DescribesTheWebhookServiceThroughReflection) {
  for (const char* reflection : {"grpc.reflection.v1.ServerReflection",
                                 "grpc.reflection.v1alpha.ServerReflection"}) {
    SCOPED_TRACE(reflection);
    const CommandResult result = Call(
        absl::StrCat(reflection, "/ServerReflectionInfo"),
        R"({"file_containing_symbol": "paradym.webhooks.v1.WebhookService"})");
    ASSERT_EQ(result.exit_code, 0) << result.err;
    ::grpc::reflection::v1::ServerReflectionResponse response;
    ASSERT_THAT(JsonStringToMessage(result.out, &response), IsOk())
        << result.out;

    google::protobuf::SimpleDescriptorDatabase files;
    for (const std::string& bytes :
         response.file_descriptor_response().file_descriptor_proto()) {
      google::protobuf::FileDescriptorProto file;
      ASSERT_TRUE(file.ParseFromString(bytes));
      ASSERT_TRUE(files.Add(file));
    }
    google::protobuf::DescriptorPool pool(&files);
    const google::protobuf::ServiceDescriptor* service =
        pool.FindServiceByName("paradym.webhooks.v1.WebhookService");
    ASSERT_NE(service, nullptr) << result.out;
    std::vector<std::string> methods;
    for (int i = 0; i < service->method_count(); ++i) {
      methods.push_back(service->method(i)->name());
    }
    EXPECT_THAT(methods, ElementsAre("VerifyAndParse", "Ingest", "Subscribe",
                                     "ListEvents"));
    EXPECT_TRUE(service->FindMethodByName("Subscribe")->server_streaming());
  }
}

TEST_P(EveryReflectProtocolTest, SubscribeGetsTheTypedEventSentOverHttp) {
  // Only the second matches the filter.
  EXPECT_EQ(PostWebhook(ReadTestData("events/openid4vc.issuance.offered.json")),
            "{\"sequence\":1}\n");
  EXPECT_EQ(PostWebhook(ReadTestData("events/workflowExecution.started.json")),
            "{\"sequence\":2}\n");

  ChildProcess::Options options;
  options.binary = PathFromEnv("PARADYM_BUF");
  options.args =
      BufArgs({"--data=@-",
               absl::StrCat(BaseUrl(), "/paradym.webhooks.v1.WebhookService/",
                            "Subscribe")});
  options.env = env_;
  options.stdin_data =
      R"({"event_types": ["workflowExecution.*"], "start_after_sequence": 0})";
  absl::StatusOr<std::unique_ptr<ChildProcess>> buf =
      ChildProcess::Start(std::move(options));
  ASSERT_THAT(buf, IsOk());
  // The stream stays open: read up to the end of the first message (buf
  // pretty-prints one JSON object per message, its closing brace alone on a
  // line).
  std::string json;
  for (;;) {
    absl::StatusOr<std::string> line = (*buf)->ReadStdoutLine(kTimeout);
    ASSERT_THAT(line, IsOk()) << (*buf)->Stderr();
    absl::StrAppend(&json, *line, "\n");
    if (*line == "}") break;
  }
  EXPECT_THAT((*buf)->Stop(SIGTERM, kTimeout), IsOk());

  v1::SubscribeResponse response;
  ASSERT_THAT(JsonStringToMessage(json, &response), IsOk()) << json;
  ASSERT_EQ(response.events_size(), 1) << json;
  const v1::Event& event = response.events(0);
  EXPECT_EQ(event.sequence(), 2u);
  EXPECT_EQ(event.event_type(), "workflowExecution.started");
  EXPECT_EQ(event.type(), v1::EVENT_TYPE_WORKFLOW_EXECUTION_STARTED);
  EXPECT_TRUE(event.has_workflow_execution_started());

  // Exactly the stored event, as the generated stub reads it.
  v1::ListEventsRequest request;
  request.set_start_after_sequence(1);
  request.set_page_size(1);
  v1::ListEventsResponse stored;
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(30));
  ASSERT_THAT(Stub()->ListEvents(&context, request, &stored), IsOk());
  ASSERT_EQ(stored.events_size(), 1);
  EXPECT_TRUE(MessageDifferencer::Equals(event, stored.events(0)))
      << "buf: " << event.ShortDebugString()
      << "\nstored: " << stored.events(0).ShortDebugString();
}

TEST_P(EveryReflectProtocolTest, VerifyAndParseTypesABase64Body) {
  const std::string body =
      ReadTestData("events/openid4vc.verification.verified.json");
  const std::string signature = Sign(body);
  const CommandResult result =
      Call("paradym.webhooks.v1.WebhookService/VerifyAndParse",
           absl::StrCat(R"({"body": ")", absl::Base64Escape(body),
                        R"(", "signature": ")", signature, R"("})"));
  ASSERT_EQ(result.exit_code, 0) << result.err;
  v1::VerifyAndParseResponse response;
  ASSERT_THAT(JsonStringToMessage(result.out, &response), IsOk()) << result.out;
  EXPECT_EQ(response.event().event_type(), "openid4vc.verification.verified");
  EXPECT_EQ(response.event().body(), body);

  // The same event the generated stub gets, but for the time it arrived.
  v1::VerifyAndParseRequest request;
  request.set_body(body);
  request.set_signature(signature);
  v1::VerifyAndParseResponse expected;
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(30));
  ASSERT_THAT(Stub()->VerifyAndParse(&context, request, &expected), IsOk());
  MessageDifferencer differencer;
  differencer.IgnoreField(
      v1::Event::descriptor()->FindFieldByName("receive_time"));
  EXPECT_TRUE(differencer.Compare(response.event(), expected.event()))
      << "buf: " << response.event().ShortDebugString()
      << "\nstub: " << expected.event().ShortDebugString();
}

TEST_P(EveryReflectProtocolTest, AWrongSignatureIsUnauthenticated) {
  const std::string body = ReadTestData("events/workflowExecution.failed.json");
  const CommandResult result =
      Call("paradym.webhooks.v1.WebhookService/VerifyAndParse",
           absl::StrCat(R"({"body": ")", absl::Base64Escape(body),
                        R"(", "signature": ")", Sign(body, "another-secret"),
                        R"("})"));
  // buf curl exits with the gRPC code shifted left by three.
  EXPECT_EQ(result.exit_code, 16 << 3) << result.err;
  EXPECT_EQ(result.out, "");
  // It prints the status as JSON, the details as base64 Any values.
  google::protobuf::Struct status;
  ASSERT_THAT(JsonStringToMessage(result.err, &status), IsOk()) << result.err;
  EXPECT_EQ(status.fields().at("code").string_value(), "unauthenticated");
  const auto& details = status.fields().at("details").list_value();
  ASSERT_EQ(details.values_size(), 1) << result.err;
  const auto& detail = details.values(0).struct_value().fields();
  EXPECT_EQ(detail.at("type").string_value(), "google.rpc.ErrorInfo");
  std::string bytes;
  ASSERT_TRUE(absl::Base64Unescape(detail.at("value").string_value(), &bytes));
  google::rpc::ErrorInfo info;
  ASSERT_TRUE(info.ParseFromString(bytes));
  EXPECT_EQ(info.reason(), "SIGNATURE_MISMATCH");
  EXPECT_THAT(result.err, Not(HasSubstr(kSecret)));
}

// With both versions served, buf curl's first choice, v1, answers and v1alpha
// is never asked; --reflect-protocol asks only the version it names. buf says
// what it asks only with -v.
TEST_P(EveryReflectProtocolTest, AsksOnlyOneReflectionVersion) {
  const CommandResult result = Buf({"-v", "--list-services", BaseUrl()});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const bool v1alpha = reflect_protocol_ == "grpc-v1alpha";
  const std::string asked =
      absl::StrCat("POST /grpc.reflection.", v1alpha ? "v1alpha" : "v1",
                   ".ServerReflection/ServerReflectionInfo");
  const std::string not_asked = absl::StrCat(
      "/grpc.reflection.", v1alpha ? "v1" : "v1alpha", ".ServerReflection/");
  EXPECT_THAT(result.err, HasSubstr(asked));
  EXPECT_THAT(result.err, Not(HasSubstr(not_asked)));
}

}  // namespace
}  // namespace paradym::webhooks
