// paradym-webhooks, the command-line client, against the real server.

#include <grpcpp/grpcpp.h>
#include <signal.h>

#include <algorithm>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "paradym/webhooks/v1/webhook_service.grpc.pb.h"
#include "server/core/signature_verifier.h"
#include "tests/testing/grpc_status.h"
#include "tests/testing/server_process.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_data.h"
#include "tests/testing/wait_for.h"

namespace paradym::webhooks {
namespace {

namespace v1 = ::paradym::webhooks::v1;
using ::paradym::webhooks::testing::ChildProcess;
using ::paradym::webhooks::testing::CommandResult;
using ::paradym::webhooks::testing::IsOk;
using ::paradym::webhooks::testing::MakeTempDir;
using ::paradym::webhooks::testing::PathFromEnv;
using ::paradym::webhooks::testing::ReadTestData;
using ::paradym::webhooks::testing::RunCommand;
using ::paradym::webhooks::testing::StartServer;
using ::paradym::webhooks::testing::UniqueBody;
using ::paradym::webhooks::testing::WaitFor;
using ::testing::HasSubstr;
using ::testing::Not;

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
  EXPECT_THAT(result, IsOk());
  return result.ok() ? *result : CommandResult{};
}

v1::Event ParseEvent(const std::string& json_line) {
  v1::Event event;
  EXPECT_THAT(google::protobuf::util::JsonStringToMessage(json_line, &event),
              IsOk())
      << json_line;
  return event;
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
  void SetUp() override { StartTheServer(); }

  // (Re)starts the server on the same data directory and, after the first
  // time, the same ports, as a deploy does.
  void StartTheServer() {
    std::vector<std::string> args = {"--data_dir=" + data_dir_};
    if (server_ != nullptr) {
      args.push_back("--grpc_address=" + server_->grpc_address());
      args.push_back(
          absl::StrCat("--http_address=127.0.0.1:", server_->http_port()));
      server_.reset();
    }
    auto server =
        StartServer(std::move(args), {{"PARADYM_WEBHOOK_SECRET", kSecret}});
    ASSERT_THAT(server, IsOk());
    server_ = std::move(server).value();
    stub_ = v1::WebhookService::NewStub(grpc::CreateChannel(
        server_->grpc_address(), grpc::InsecureChannelCredentials()));
  }

  std::string http_url() const {
    return absl::StrCat("--url=http://127.0.0.1:", server_->http_port(),
                        "/webhook");
  }

  void Ingest(const std::string& body) {
    v1::IngestRequest request;
    request.set_body(body);
    request.set_signature(SignBody(kSecret, body));
    v1::IngestResponse response;
    grpc::ClientContext context;
    ASSERT_THAT(stub_->Ingest(&context, request, &response), IsOk());
  }

  std::unique_ptr<ChildProcess> StartCli(std::vector<std::string> args) {
    args.insert(args.begin(),
                {"subscribe", "--address=" + server_->grpc_address()});
    auto cli = ChildProcess::Start({Cli(), std::move(args), {}, false, ""});
    EXPECT_THAT(cli, IsOk());
    return cli.ok() ? std::move(cli).value() : nullptr;
  }

  static v1::Event ParseLine(const std::string& line) {
    v1::Event event;
    EXPECT_THAT(google::protobuf::util::JsonStringToMessage(line, &event),
                IsOk())
        << line;
    return event;
  }

  const std::string data_dir_ = MakeTempDir() + "/data";
  std::unique_ptr<ChildProcess> server_;
  std::unique_ptr<v1::WebhookService::Stub> stub_;
};

TEST_F(CliSubscribeTest, PrintsOneJsonEventPerLineAndReportsTheEnd) {
  Ingest(ReadTestData("events/workflowExecution.failed.json"));
  Ingest(ReadTestData("events/openid4vc.issuance.offered.json"));
  auto cli = StartCli({"--from-start", "--no-reconnect"});
  ASSERT_NE(cli, nullptr);
  absl::StatusOr<std::string> line = cli->ReadStdoutLine(absl::Seconds(30));
  ASSERT_THAT(line, IsOk()) << cli->Stderr();
  v1::Event event = ParseLine(*line);
  EXPECT_EQ(event.sequence(), 1u);
  EXPECT_EQ(event.type(), v1::EVENT_TYPE_WORKFLOW_EXECUTION_FAILED);
  EXPECT_EQ(event.workflow_execution_failed().error().code(),
            "presentation_rejected");
  // The proto3 JSON mapping: lowerCamelCase names, enum names.
  EXPECT_THAT(*line, HasSubstr("\"workflowExecutionFailed\""));
  EXPECT_THAT(*line, HasSubstr("\"EVENT_TYPE_WORKFLOW_EXECUTION_FAILED\""));

  line = cli->ReadStdoutLine(absl::Seconds(30));
  ASSERT_THAT(line, IsOk());
  EXPECT_EQ(
      ParseLine(*line).openid4vc_issuance_offered().openid4vc_issuance_id(),
      "a1b2c3d4-0000-4000-8000-000000000001");

  Ingest(ReadTestData("events/workflowExecution.completed.json"));  // live
  line = cli->ReadStdoutLine(absl::Seconds(30));
  ASSERT_THAT(line, IsOk());
  EXPECT_EQ(ParseLine(*line).sequence(), 3u);

  ASSERT_THAT(server_->Stop(SIGTERM, absl::Seconds(10)), IsOk());
  absl::StatusOr<int> exit_code = cli->Wait(absl::Seconds(10));
  ASSERT_THAT(exit_code, IsOk());
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
  ASSERT_THAT(line, IsOk()) << cli->Stderr();
  const v1::Event event = ParseLine(*line);
  EXPECT_EQ(event.sequence(), 4u);
  EXPECT_EQ(event.event_type(), "openid4vc.issuance.completed");
}

TEST_F(CliSubscribeTest, RefusalIsReportedWithCodeReasonAndExit1) {
  auto cli = StartCli({"--after=5"});
  ASSERT_NE(cli, nullptr);
  absl::StatusOr<int> exit_code = cli->Wait(absl::Seconds(30));
  ASSERT_THAT(exit_code, IsOk());
  EXPECT_EQ(*exit_code, 1);
  EXPECT_THAT(cli->Stderr(), HasSubstr("OUT_OF_RANGE (SEQUENCE_TOO_NEW)"));
}

// A fast stream: every event arrives, in order, none twice.
TEST_F(CliSubscribeTest, KeepsUpWithAFastStream) {
  constexpr int kEvents = 5000;
  auto cli = StartCli({"--from-start"});
  ASSERT_NE(cli, nullptr);
  for (int i = 0; i < kEvents; ++i) Ingest(UniqueBody(i));
  for (int expected = 1; expected <= kEvents; ++expected) {
    absl::StatusOr<std::string> line = cli->ReadStdoutLine(absl::Seconds(30));
    ASSERT_THAT(line, IsOk()) << cli->Stderr();
    ASSERT_EQ(ParseLine(*line).sequence(),
              static_cast<std::uint64_t>(expected));
  }
}

TEST_F(CliSubscribeTest, ReconnectsAcrossARestartWithoutGapOrRepeat) {
  Ingest(ReadTestData("events/workflowExecution.started.json"));
  auto cli = StartCli({"--from-start"});
  ASSERT_NE(cli, nullptr);
  absl::StatusOr<std::string> line = cli->ReadStdoutLine(absl::Seconds(30));
  ASSERT_THAT(line, IsOk()) << cli->Stderr();
  EXPECT_EQ(ParseLine(*line).sequence(), 1u);
  // A deploy: the stream ends with UNAVAILABLE, the server comes back on
  // the same store and ports, and events arrive meanwhile and after.
  ASSERT_EQ(server_->Stop(SIGTERM, absl::Seconds(10)).value_or(-1), 0);
  StartTheServer();
  for (int i = 0; i < 3; ++i) Ingest(UniqueBody(i));
  for (std::uint64_t expected = 2; expected <= 4; ++expected) {
    line = cli->ReadStdoutLine(absl::Seconds(30));
    ASSERT_THAT(line, IsOk()) << cli->Stderr();
    EXPECT_EQ(ParseLine(*line).sequence(), expected);
  }
  EXPECT_THAT(cli->Stderr(),
              HasSubstr("UNAVAILABLE (SHUTTING_DOWN): the server is shutting "
                        "down; reconnect and resume after the last sequence "
                        "received; reconnecting in"));
  EXPECT_THAT(cli->Stderr(), HasSubstr("resuming after sequence 1"));
}

TEST_F(CliSubscribeTest, OutputFileIsADurableConsumerThatResumes) {
  const std::string output = MakeTempDir() + "/events.jsonl";
  Ingest(ReadTestData("events/workflowExecution.started.json"));
  Ingest(ReadTestData("events/workflowExecution.completed.json"));
  // The sequences of the complete lines in the file.
  auto read_sequences = [&] {
    std::ifstream in(output, std::ios::binary);
    const std::string text((std::istreambuf_iterator<char>(in)),
                           std::istreambuf_iterator<char>());
    std::vector<std::uint64_t> sequences;
    std::vector<absl::string_view> lines = absl::StrSplit(text, '\n');
    lines.pop_back();  // after the last '\n': empty, or a torn line
    for (absl::string_view line : lines) {
      sequences.push_back(ParseLine(std::string(line)).sequence());
    }
    return sequences;
  };
  // The checks after it say what arrived.
  auto wait_for = [&](std::size_t count) {
    WaitFor([&] { return read_sequences().size() >= count; }, absl::Seconds(30),
            absl::Milliseconds(20));
  };
  {
    auto cli = StartCli({"--from-start", "--output=" + output});
    ASSERT_NE(cli, nullptr);
    wait_for(2);
  }  // killed, as by a crash
  EXPECT_THAT(read_sequences(), ::testing::ElementsAre(1, 2));
  // A torn last line, as a crash mid-write leaves it.
  std::ofstream(output, std::ios::app) << "{\"sequence\":\"3\",\"eventTy";
  Ingest(ReadTestData("events/openid4vc.issuance.offered.json"));
  Ingest(ReadTestData("events/openid4vc.issuance.completed.json"));
  // Restarted with the same file: it resumes after 2, repairs the tear.
  auto cli = StartCli({"--from-start", "--output=" + output});
  ASSERT_NE(cli, nullptr);
  wait_for(4);
  EXPECT_THAT(read_sequences(), ::testing::ElementsAre(1, 2, 3, 4));
  EXPECT_THAT(cli->Stderr(), HasSubstr("resuming after it"));
}

TEST_F(CliSubscribeTest, TableFormatIsOneLinePerEvent) {
  Ingest(ReadTestData("events/workflowExecution.failed.json"));
  auto cli = StartCli({"--from-start", "--format=table"});
  ASSERT_NE(cli, nullptr);
  absl::StatusOr<std::string> header = cli->ReadStdoutLine(absl::Seconds(30));
  ASSERT_THAT(header, IsOk());
  EXPECT_THAT(*header, ::testing::StartsWith("SEQUENCE RECEIVED"));
  absl::StatusOr<std::string> row = cli->ReadStdoutLine(absl::Seconds(30));
  ASSERT_THAT(row, IsOk());
  EXPECT_THAT(*row, ::testing::MatchesRegex(
                        "1 +[0-9:.]+ +workflowExecution.failed +c6f1c0d2 +"
                        "9d3c2b1a +presentation_rejected"));
}

// send, list and verify against the real server.
class CliCommandsTest : public CliSubscribeTest {
 protected:
  CommandResult Run(std::vector<std::string> args,
                    const std::string& stdin_data = "") {
    return RunCli(args, {{"PARADYM_WEBHOOK_SECRET", kSecret}}, stdin_data);
  }
  std::string address() const { return "--address=" + server_->grpc_address(); }
};

TEST_F(CliCommandsTest, SendAllSendsEveryTypeAndListShowsThemTyped) {
  const CommandResult sent = Run({"send", "--all", http_url()});
  ASSERT_EQ(sent.exit_code, 0) << sent.err;
  const std::vector<std::string> lines =
      absl::StrSplit(sent.out, '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 13u) << sent.out;
  EXPECT_EQ(lines[0], "200 sequence=1 workflowExecution.started");
  EXPECT_EQ(lines[5], "200 sequence=6 workflowExecution.failed");
  EXPECT_EQ(lines[12], "200 sequence=13 openid4vc.verification.failed");

  const CommandResult listed = Run({"list", address(), "--page-size=5"});
  ASSERT_EQ(listed.exit_code, 0) << listed.err;
  const std::vector<std::string> events =
      absl::StrSplit(listed.out, '\n', absl::SkipEmpty());
  ASSERT_EQ(events.size(), 13u);  // three pages
  for (std::size_t i = 0; i < events.size(); ++i) {
    const v1::Event event = ParseLine(events[i]);
    EXPECT_EQ(event.sequence(), i + 1);
    // Every sample is typed: none falls back to EVENT_TYPE_UNSPECIFIED.
    EXPECT_NE(event.type(), v1::EVENT_TYPE_UNSPECIFIED) << events[i];
  }
  EXPECT_EQ(ParseLine(events[5]).workflow_execution_failed().error().code(),
            "presentation_rejected");
}

TEST_F(CliCommandsTest, SendSetsFieldsAndListFiltersPagesAndLimits) {
  const CommandResult sent = Run(
      {"send", "workflowExecution.failed", "workflowExecution.started", "--set",
       "payload.error.code=expired", "--set=payload.attempt=3", http_url()});
  ASSERT_EQ(sent.exit_code, 0) << sent.err;
  CommandResult listed =
      Run({"list", address(), "--event-type=workflowExecution.failed"});
  ASSERT_EQ(listed.exit_code, 0) << listed.err;
  const v1::Event failed = ParseLine(listed.out);
  EXPECT_EQ(failed.sequence(), 1u);
  EXPECT_EQ(failed.workflow_execution_failed().error().code(), "expired");
  EXPECT_EQ(failed.payload().fields().at("attempt").number_value(), 3);

  listed = Run({"list", address(), "--format=table", "--after=1"});
  ASSERT_EQ(listed.exit_code, 0) << listed.err;
  EXPECT_THAT(listed.out, ::testing::StartsWith("SEQUENCE RECEIVED"));
  EXPECT_THAT(listed.out, HasSubstr("workflowExecution.started"));
  EXPECT_THAT(listed.out, Not(HasSubstr("workflowExecution.failed")));
  listed = Run({"list", address(), "--limit=1"});
  EXPECT_EQ(std::count(listed.out.begin(), listed.out.end(), '\n'), 1);
}

TEST_F(CliCommandsTest, SendReportsEveryRefusalAndExitsNonZero) {
  const std::string dir = MakeTempDir();
  std::ofstream(dir + "/wrong") << "not-the-secret\n";
  CommandResult sent = Run({"send", "workflowExecution.started", http_url(),
                            "--secret-file=" + dir + "/wrong"});
  EXPECT_EQ(sent.exit_code, 1);
  EXPECT_EQ(sent.out, "401 SIGNATURE_MISMATCH workflowExecution.started\n");

  std::ofstream(dir + "/body.json")
      << R"({"eventType":"workflowExecution.failed","payload":{}})";
  sent = Run({"send", "--body=" + dir + "/body.json", http_url()});
  EXPECT_EQ(sent.exit_code, 1);
  EXPECT_THAT(sent.out, ::testing::StartsWith("400 MISSING_FIELD "));

  // Usage errors send nothing.
  EXPECT_EQ(Run({"send", http_url()}).exit_code, 2);
  EXPECT_EQ(Run({"send", "no.such.type", http_url()}).exit_code, 2);
  EXPECT_EQ(Run({"send", "--all", "--set=novalue", http_url()}).exit_code, 2);
  EXPECT_EQ(
      Run({"send", "--all", "--url=https://example.com/webhook"}).exit_code, 2);
  EXPECT_EQ(RunCli({"send", "--all", http_url()}).exit_code, 2);  // no secret
  EXPECT_EQ(Run({"list", address()}).out, "");
  // Nobody listening: exit 3.
  EXPECT_EQ(
      Run({"send", "--all", "--url=http://127.0.0.1:1/webhook"}).exit_code, 3);
}

TEST_F(CliCommandsTest, VerifyChecksSignatureThenBodyOffline) {
  const std::string dir = MakeTempDir();
  const std::string body = ReadTestData("events/workflowExecution.failed.json");
  const std::string signature = SignBody(kSecret, body);
  std::ofstream(dir + "/body.json", std::ios::binary) << body;
  CommandResult verified =
      Run({"verify", "--signature=" + signature, dir + "/body.json"});
  EXPECT_EQ(verified.exit_code, 0) << verified.out << verified.err;
  EXPECT_THAT(verified.out, HasSubstr("valid: workflowExecution.failed"));

  verified = Run({"verify", "--signature=" + signature}, body + "\n");
  EXPECT_EQ(verified.exit_code, 1);
  EXPECT_THAT(verified.out, HasSubstr("invalid signature: SIGNATURE_MISMATCH"));
  EXPECT_THAT(verified.out, HasSubstr("without its trailing newline"));

  verified = Run({"verify", "--signature=abc"}, body);
  EXPECT_EQ(verified.exit_code, 1);
  EXPECT_THAT(verified.out, HasSubstr("SIGNATURE_MALFORMED"));

  const std::string bad =
      R"({"eventType":"workflowExecution.failed","payload":{}})";
  verified = Run({"verify", "--signature=" + SignBody(kSecret, bad)}, bad);
  EXPECT_EQ(verified.exit_code, 1);
  EXPECT_THAT(verified.out,
              HasSubstr("valid signature, but the server refuses the body: "
                        "MISSING_FIELD"));
  EXPECT_THAT(verified.out + verified.err, Not(HasSubstr(kSecret)));
  EXPECT_EQ(Run({"verify"}, body).exit_code, 2);  // no --signature
  EXPECT_EQ(RunCli({"verify", "--signature=" + signature}, {}, body).exit_code,
            2);  // no secret
}

TEST_F(CliCommandsTest, ConnectionFlagsFailClearly) {
  // Unreadable CA or token files are usage errors; TLS against this
  // plaintext server cannot connect (exit 3).
  EXPECT_EQ(Run({"list", address(), "--ca-file=/nonexistent/ca.pem"}).exit_code,
            2);
  EXPECT_EQ(
      Run({"list", address(), "--token-file=/nonexistent/token"}).exit_code, 2);
  const CommandResult tls = Run({"list", address(), "--tls"});
  EXPECT_EQ(tls.exit_code, 3) << tls.err;
  EXPECT_THAT(tls.err, HasSubstr("UNAVAILABLE"));
}

TEST(Cli, EveryCommandHasHelp) {
  for (const char* command : {"subscribe", "list", "send", "verify", "sign"}) {
    SCOPED_TRACE(command);
    const CommandResult help = RunCli({command, "--help"});
    EXPECT_EQ(help.exit_code, 0);
    EXPECT_THAT(help.out,
                HasSubstr(absl::StrCat("paradym-webhooks ", command)));
  }
  EXPECT_THAT(RunCli({"send", "--help"}).out,
              HasSubstr("openid4vc.verification.verified"));
  EXPECT_THAT(RunCli({"--help"}).out,
              HasSubstr("3 the server cannot be reached"));
}

// A stand-in for a server behind TLS with bearer-token auth (the security
// issue's server), to check what the client's connection flags send.
class TokenCheckingService final : public v1::WebhookService::Service {
 public:
  grpc::Status ListEvents(grpc::ServerContext* context,
                          const v1::ListEventsRequest* /*request*/,
                          v1::ListEventsResponse* response) override {
    const auto& metadata = context->client_metadata();
    const auto it = metadata.find("authorization");
    if (it == metadata.end() ||
        std::string(it->second.data(), it->second.size()) !=
            "Bearer token-42") {
      return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "no token");
    }
    v1::Event* event = response->add_events();
    event->set_sequence(1);
    event->set_event_type("workflowExecution.started");
    response->set_last_sequence(1);
    return grpc::Status::OK;
  }
};

TEST(CliConnection, TlsWithACaFileAndABearerToken) {
  const std::string dir = MakeTempDir();
  const CommandResult openssl =
      RunCommand(
          "/usr/bin/openssl",
          {"req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
           "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1",
           "-keyout", dir + "/key.pem", "-out", dir + "/cert.pem"})
          .value_or(CommandResult{});
  ASSERT_EQ(openssl.exit_code, 0) << openssl.err;
  auto read = [](const std::string& path) {
    std::ifstream in(path);
    return std::string((std::istreambuf_iterator<char>(in)),
                       std::istreambuf_iterator<char>());
  };
  grpc::SslServerCredentialsOptions tls;
  tls.pem_key_cert_pairs.push_back(
      {read(dir + "/key.pem"), read(dir + "/cert.pem")});
  TokenCheckingService service;
  int port = 0;
  grpc::ServerBuilder builder;
  builder.AddListeningPort("127.0.0.1:0", grpc::SslServerCredentials(tls),
                           &port);
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  ASSERT_NE(port, 0);
  std::ofstream(dir + "/token") << "token-42\n";
  const std::string address = absl::StrCat("--address=127.0.0.1:", port);

  CommandResult listed =
      RunCli({"list", address, "--ca-file=" + dir + "/cert.pem",
              "--token-file=" + dir + "/token"});
  EXPECT_EQ(listed.exit_code, 0) << listed.err;
  EXPECT_EQ(ParseEvent(listed.out).event_type(), "workflowExecution.started");
  // Without the token the server refuses; without TLS nothing connects.
  listed = RunCli({"list", address, "--ca-file=" + dir + "/cert.pem"});
  EXPECT_EQ(listed.exit_code, 1);
  EXPECT_THAT(listed.err, HasSubstr("UNAUTHENTICATED"));
  listed = RunCli({"list", address, "--token-file=" + dir + "/token"});
  EXPECT_EQ(listed.exit_code, 3);
  server->Shutdown();
}

}  // namespace
}  // namespace paradym::webhooks
