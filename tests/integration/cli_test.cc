// paradym-webhooks, the command-line client, against the real server.

#include <grpcpp/grpcpp.h>
#include <signal.h>

#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "paradym/webhooks/v1/webhook_service.grpc.pb.h"
#include "server/core/signature_verifier.h"
#include "tests/testing/server_process.h"
#include "tests/testing/test_data.h"

namespace paradym::webhooks {
namespace {

namespace v1 = ::paradym::webhooks::v1;
using ::paradym::webhooks::testing::ChildProcess;
using ::paradym::webhooks::testing::CommandResult;
using ::paradym::webhooks::testing::MakeTempDir;
using ::paradym::webhooks::testing::PathFromEnv;
using ::paradym::webhooks::testing::ReadTestData;
using ::paradym::webhooks::testing::RunCommand;
using ::paradym::webhooks::testing::StartServer;
using ::testing::HasSubstr;

constexpr char kSecret[] = "cli-test-secret";
// HMAC-SHA256("Hello, world!") keyed by "supersecret", the public test
// vector (`printf %s 'Hello, world!' | openssl dgst -sha256 -hmac
// supersecret`).
constexpr char kPublicVector[] =
    "90b6bb4be394220aae3e7628a15029f0b8eef8d1cf86856f65583fcc317a2743";

std::string Cli() { return PathFromEnv("PARADYM_WEBHOOKS_CLI"); }

CommandResult RunCli(const std::vector<std::string>& args,
                     const testing::Env& env = {},
                     const std::string& stdin_data = "") {
  absl::StatusOr<CommandResult> result =
      RunCommand(Cli(), args, env, stdin_data);
  EXPECT_TRUE(result.ok()) << result.status();
  return result.ok() ? *result : CommandResult{};
}

TEST(CliSign, PrintsThePublicVectorFromStdinAndFromAFile) {
  CommandResult result = RunCli(
      {"sign"}, {{"PARADYM_WEBHOOK_SECRET", "supersecret"}}, "Hello, world!");
  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(result.out, absl::StrCat(kPublicVector, "\n"));

  const std::string dir = MakeTempDir();
  std::ofstream(dir + "/body", std::ios::binary) << "Hello, world!";
  std::ofstream(dir + "/secret") << "supersecret\n";
  result = RunCli({"sign", "--secret-file=" + dir + "/secret", dir + "/body"});
  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(result.out, absl::StrCat(kPublicVector, "\n"));
}

TEST(CliSign, WithoutASecretIsAUsageError) {
  const CommandResult result = RunCli({"sign"}, {}, "body");
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_THAT(result.err, HasSubstr("PARADYM_WEBHOOK_SECRET"));
  EXPECT_TRUE(result.out.empty());
}

TEST(Cli, UsageErrorsExitWith2AndHelpWith0) {
  EXPECT_EQ(RunCli({}).exit_code, 2);
  EXPECT_EQ(RunCli({"frobnicate"}).exit_code, 2);
  EXPECT_EQ(RunCli({"subscribe", "--no-such-flag=1"}).exit_code, 2);
  EXPECT_EQ(RunCli({"subscribe", "--after=minus-one"}).exit_code, 2);
  const CommandResult help = RunCli({"subscribe", "--help"});
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_THAT(help.out, HasSubstr("--event-type"));
  EXPECT_EQ(RunCli({"--help"}).exit_code, 0);
}

class CliSubscribeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto server = StartServer({"--grpc_address=127.0.0.1:0"},
                              {{"PARADYM_WEBHOOK_SECRET", kSecret}});
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(server).value();
    stub_ = v1::WebhookService::NewStub(grpc::CreateChannel(
        server_->grpc_address(), grpc::InsecureChannelCredentials()));
  }

  void Ingest(const std::string& body) {
    v1::IngestRequest request;
    request.set_body(body);
    request.set_signature(SignBody(kSecret, body));
    v1::IngestResponse response;
    grpc::ClientContext context;
    ASSERT_TRUE(stub_->Ingest(&context, request, &response).ok());
  }

  std::unique_ptr<ChildProcess> StartCli(std::vector<std::string> args) {
    args.insert(args.begin(),
                {"subscribe", "--address=" + server_->grpc_address()});
    auto cli = ChildProcess::Start({Cli(), std::move(args), {}, false, ""});
    EXPECT_TRUE(cli.ok()) << cli.status();
    return cli.ok() ? std::move(cli).value() : nullptr;
  }

  static v1::Event ParseLine(const std::string& line) {
    v1::Event event;
    EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(line, &event).ok())
        << line;
    return event;
  }

  std::unique_ptr<ChildProcess> server_;
  std::unique_ptr<v1::WebhookService::Stub> stub_;
};

TEST_F(CliSubscribeTest, PrintsOneJsonEventPerLineAndReportsTheEnd) {
  Ingest(ReadTestData("events/workflowExecution.failed.json"));
  Ingest(ReadTestData("events/openid4vc.issuance.offered.json"));
  auto cli = StartCli({"--from-start"});
  ASSERT_NE(cli, nullptr);
  absl::StatusOr<std::string> line = cli->ReadStdoutLine(absl::Seconds(30));
  ASSERT_TRUE(line.ok()) << line.status() << cli->Stderr();
  v1::Event event = ParseLine(*line);
  EXPECT_EQ(event.sequence(), 1u);
  EXPECT_EQ(event.type(), v1::EVENT_TYPE_WORKFLOW_EXECUTION_FAILED);
  EXPECT_EQ(event.workflow_execution_failed().error().code(),
            "presentation_rejected");
  // The proto3 JSON mapping: lowerCamelCase names, enum names.
  EXPECT_THAT(*line, HasSubstr("\"workflowExecutionFailed\""));
  EXPECT_THAT(*line, HasSubstr("\"EVENT_TYPE_WORKFLOW_EXECUTION_FAILED\""));

  line = cli->ReadStdoutLine(absl::Seconds(30));
  ASSERT_TRUE(line.ok()) << line.status();
  EXPECT_EQ(
      ParseLine(*line).openid4vc_issuance_offered().openid4vc_issuance_id(),
      "a1b2c3d4-0000-4000-8000-000000000001");

  Ingest(ReadTestData("events/workflowExecution.completed.json"));  // live
  line = cli->ReadStdoutLine(absl::Seconds(30));
  ASSERT_TRUE(line.ok()) << line.status();
  EXPECT_EQ(ParseLine(*line).sequence(), 3u);

  ASSERT_TRUE(server_->Stop(SIGTERM, absl::Seconds(10)).ok());
  absl::StatusOr<int> exit_code = cli->Wait(absl::Seconds(10));
  ASSERT_TRUE(exit_code.ok()) << exit_code.status();
  EXPECT_EQ(*exit_code, 1);
  EXPECT_THAT(cli->Stderr(), HasSubstr("UNAVAILABLE (SHUTTING_DOWN)"));
}

TEST_F(CliSubscribeTest, FiltersAndStartsAfterASequence) {
  for (const char* name :
       {"workflowExecution.started", "openid4vc.issuance.offered",
        "openid4vc.verification.verified", "openid4vc.issuance.completed"}) {
    Ingest(ReadTestData(absl::StrCat("events/", name, ".json")));
  }
  auto cli = StartCli({"--event-type=openid4vc.issuance.*", "--after=2"});
  ASSERT_NE(cli, nullptr);
  absl::StatusOr<std::string> line = cli->ReadStdoutLine(absl::Seconds(30));
  ASSERT_TRUE(line.ok()) << line.status() << cli->Stderr();
  const v1::Event event = ParseLine(*line);
  EXPECT_EQ(event.sequence(), 4u);
  EXPECT_EQ(event.event_type(), "openid4vc.issuance.completed");
}

TEST_F(CliSubscribeTest, RefusalIsReportedWithCodeReasonAndExit1) {
  auto cli = StartCli({"--after=5"});
  ASSERT_NE(cli, nullptr);
  absl::StatusOr<int> exit_code = cli->Wait(absl::Seconds(30));
  ASSERT_TRUE(exit_code.ok());
  EXPECT_EQ(*exit_code, 1);
  EXPECT_THAT(cli->Stderr(), HasSubstr("OUT_OF_RANGE (SEQUENCE_TOO_NEW)"));
}

// A fast stream: every event arrives, in order, none twice.
TEST_F(CliSubscribeTest, KeepsUpWithAFastStream) {
  constexpr int kEvents = 5000;
  const std::string body =
      ReadTestData("events/workflowExecution.started.json");
  auto cli = StartCli({"--from-start"});
  ASSERT_NE(cli, nullptr);
  for (int i = 0; i < kEvents; ++i) Ingest(body);
  for (int expected = 1; expected <= kEvents; ++expected) {
    absl::StatusOr<std::string> line = cli->ReadStdoutLine(absl::Seconds(30));
    ASSERT_TRUE(line.ok()) << line.status() << cli->Stderr();
    ASSERT_EQ(ParseLine(*line).sequence(),
              static_cast<std::uint64_t>(expected));
  }
}

}  // namespace
}  // namespace paradym::webhooks
