// The language examples in client/examples (Python with Debian's grpcio,
// Node.js with @grpc/grpc-js) against the real server: events sent through
// the HTTP front arrive typed, filtered, and, across a server restart on the
// same store, without gap or repeat.
//
// Where the interpreters, the examples and the protos are comes from the
// environment (tests/CMakeLists.txt): PARADYM_PYTHON, PARADYM_NODE,
// PARADYM_PYTHON_EXAMPLE_DIR, PARADYM_NODE_EXAMPLE_DIR, PARADYM_PROTO_DIR,
// PARADYM_PROTOC, PARADYM_GRPC_PYTHON_PLUGIN.

#include <signal.h>
#include <sys/stat.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/core/signature_verifier.h"
#include "tests/testing/http_client.h"
#include "tests/testing/server_process.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_certificates.h"
#include "tests/testing/test_data.h"
#include "tests/testing/wait_for.h"

namespace paradym::webhooks {
namespace {

using ::paradym::webhooks::testing::ChildProcess;
using ::paradym::webhooks::testing::GetRequest;
using ::paradym::webhooks::testing::HttpReply;
using ::paradym::webhooks::testing::IsOk;
using ::paradym::webhooks::testing::MakeTempDir;
using ::paradym::webhooks::testing::PathFromEnv;
using ::paradym::webhooks::testing::PostRequest;
using ::paradym::webhooks::testing::ReadTestData;
using ::paradym::webhooks::testing::StartServer;
using ::paradym::webhooks::testing::WaitFor;
using ::testing::ElementsAre;
using ::testing::ElementsAreArray;
using ::testing::IsEmpty;

constexpr char kSecret[] = "client-examples-secret-7c1e";
constexpr absl::Duration kTimeout = absl::Seconds(60);

constexpr char kIssuance[] = "a1b2c3d4-0000-4000-8000-000000000001";
constexpr char kVerification[] = "b2c3d4e5-0000-4000-8000-000000000002";
constexpr char kExecution[] = "9d3c2b1a-0f9e-4d8c-b7a6-5e4f3d2c1b0a";

// Every fixture in tests/testdata/events, in the order sent (sequence 1 on),
// with the typed field the examples print for it.
struct Fixture {
  const char* event_type;
  std::string detail;
};
const std::vector<Fixture>& Fixtures() {
  static const auto* fixtures = new std::vector<Fixture>{
      {"didcomm.connection.established", "-"},  // unknown: no typed payload
      {"openid4vc.issuance.completed", kIssuance},
      {"openid4vc.issuance.failed", kIssuance},
      {"openid4vc.issuance.offered", kIssuance},
      {"openid4vc.issuance.partiallyIssued", kIssuance},
      {"openid4vc.verification.failed", kVerification},
      {"openid4vc.verification.requested", kVerification},
      {"openid4vc.verification.verified", kVerification},
      {"workflowExecution.actionExecuted", "issue-credential"},
      {"workflowExecution.canceled", kExecution},
      {"workflowExecution.completed", kExecution},
      {"workflowExecution.failed", "presentation_rejected"},
      {"workflowExecution.started", kExecution},
      {"workflowExecution.waitingForTrigger", "await-approval"},
  };
  return *fixtures;
}

// The line an example prints for fixture `index` sent as sequence
// `sequence`.
std::string Line(std::uint64_t sequence, std::size_t index) {
  const Fixture& fixture = Fixtures()[index];
  return absl::StrCat(sequence, " ", fixture.event_type, " ", fixture.detail);
}

std::vector<std::string> Lines(absl::string_view output) {
  return absl::StrSplit(output, '\n', absl::SkipEmpty());
}

// How to run one example: its interpreter and the arguments before ours.
struct Example {
  std::string name;
  std::string interpreter;
  std::vector<std::string> args;
};

Example PythonExample() {
  return {
      "python",
      PathFromEnv("PARADYM_PYTHON"),
      {PathFromEnv("PARADYM_PYTHON_EXAMPLE_DIR") + "/subscriber.py",
       "--proto-dir=" + PathFromEnv("PARADYM_PROTO_DIR"),
       "--protoc=" + PathFromEnv("PARADYM_PROTOC"),
       "--grpc-python-plugin=" + PathFromEnv("PARADYM_GRPC_PYTHON_PLUGIN")}};
}

Example NodeExample() {
  return {"node",
          PathFromEnv("PARADYM_NODE"),
          {PathFromEnv("PARADYM_NODE_EXAMPLE_DIR") + "/subscriber.js",
           "--proto-dir=" + PathFromEnv("PARADYM_PROTO_DIR")}};
}

class ClientExampleTest : public ::testing::TestWithParam<Example (*)()> {
 protected:
  void SetUp() override {
    example_ = GetParam()();
    if (example_.name == "node") {
      struct stat info;
      const std::string modules = PathFromEnv("PARADYM_NODE_EXAMPLE_DIR") +
                                  "/node_modules/@grpc/grpc-js";
      ASSERT_EQ(::stat(modules.c_str(), &info), 0)
          << modules << " is missing: run scripts/setup.sh";
    }
    StartOnDataDir();
  }

  // Starts the server on data_dir_; on `grpc_port` when it is not 0.
  void StartOnDataDir(int grpc_port = 0, std::vector<std::string> args = {}) {
    args.push_back("--data_dir=" + data_dir_);
    if (grpc_port != 0) {
      args.push_back(absl::StrCat("--grpc_address=127.0.0.1:", grpc_port));
    }
    auto server =
        StartServer(std::move(args), {{"PARADYM_WEBHOOK_SECRET", kSecret}});
    ASSERT_THAT(server, IsOk());
    server_ = std::move(server).value();
  }

  // Sends fixture `index` through the HTTP front; expects it stored as
  // `sequence`.
  void Send(std::size_t index, std::uint64_t sequence) {
    const std::string body = ReadTestData(
        absl::StrCat("events/", Fixtures()[index].event_type, ".json"));
    absl::StatusOr<HttpReply> reply = testing::HttpExchange(
        server_->http_port(),
        PostRequest("/webhook", body, SignBody(kSecret, body)), kTimeout);
    ASSERT_THAT(reply, IsOk());
    ASSERT_EQ(reply->status, 200) << reply->body;
    ASSERT_EQ(absl::StripTrailingAsciiWhitespace(reply->body),
              absl::StrCat("{\"sequence\":", sequence, "}"));
  }

  // Waits (bounded) until the server counts `n` open Subscribe streams
  // (gauge paradym_webhooks_subscribers on GET /metrics).
  void WaitForSubscribers(int n) {
    const std::string line =
        absl::StrCat("\nparadym_webhooks_subscribers ", n, "\n");
    absl::StatusOr<HttpReply> page;
    const auto counted = [&] {
      page = testing::HttpExchange(server_->http_port(), GetRequest("/metrics"),
                                   kTimeout);
      return !page.ok() || absl::StrContains(page->body, line);
    };
    ASSERT_TRUE(WaitFor(counted, kTimeout, absl::Milliseconds(20)))
        << "no " << n << " subscribers within " << kTimeout;
    ASSERT_THAT(page, IsOk());
  }

  // Stops the server with SIGTERM (its streams end UNAVAILABLE) and starts
  // it again on the same data directory and gRPC port: the store is
  // durable, so the log is still there.
  void Restart() {
    const int grpc_port = server_->grpc_port();
    absl::StatusOr<int> stopped = server_->Stop(SIGTERM, kTimeout);
    ASSERT_THAT(stopped, IsOk());
    ASSERT_EQ(*stopped, 0) << server_->Stderr();
    ASSERT_NO_FATAL_FAILURE(StartOnDataDir(grpc_port));
  }

  std::unique_ptr<ChildProcess> StartExample(std::vector<std::string> flags) {
    std::vector<std::string> args = example_.args;
    args.push_back("--address=" + server_->grpc_address());
    for (auto& flag : flags) args.push_back(std::move(flag));
    ChildProcess::Options options;
    options.binary = example_.interpreter;
    options.args = std::move(args);
    auto child = ChildProcess::Start(std::move(options));
    EXPECT_THAT(child, IsOk());
    return child.ok() ? std::move(child).value() : nullptr;
  }

  // Everything the example prints until it exits, and its exit code.
  std::vector<std::string> RunToExit(ChildProcess& example, int& exit_code) {
    absl::StatusOr<std::string> out = example.ReadStdoutToEnd(kTimeout);
    EXPECT_THAT(out, IsOk()) << example.Stderr();
    absl::StatusOr<int> code = example.Wait(kTimeout);
    EXPECT_THAT(code, IsOk());
    exit_code = code.ok() ? *code : -1;
    return out.ok() ? Lines(*out) : std::vector<std::string>{};
  }

  Example example_;
  const std::string data_dir_ = MakeTempDir() + "/data";
  std::unique_ptr<ChildProcess> server_;
};

TEST_P(ClientExampleTest, PrintsEveryEventWithItsTypedField) {
  std::vector<std::string> expected;
  for (std::size_t i = 0; i < Fixtures().size(); ++i) {
    ASSERT_NO_FATAL_FAILURE(Send(i, i + 1));
    expected.push_back(Line(i + 1, i));
  }
  auto example =
      StartExample({"--after=0", absl::StrCat("--count=", Fixtures().size())});
  ASSERT_NE(example, nullptr);
  int exit_code = -1;
  EXPECT_THAT(RunToExit(*example, exit_code), ElementsAreArray(expected));
  EXPECT_EQ(exit_code, 0) << example->Stderr();
}

TEST_P(ClientExampleTest, FiltersByEventTypeAfterASequence) {
  for (std::size_t i = 0; i < Fixtures().size(); ++i) {
    ASSERT_NO_FATAL_FAILURE(Send(i, i + 1));
  }
  auto example = StartExample({"--event-type=workflowExecution.failed",
                               "--event-type=openid4vc.verification.*",
                               "--after=6", "--count=3"});
  ASSERT_NE(example, nullptr);
  int exit_code = -1;
  // Sequence 6 (openid4vc.verification.failed) is not after 6.
  EXPECT_THAT(RunToExit(*example, exit_code),
              ElementsAre(Line(7, 6), Line(8, 7), Line(12, 11)));
  EXPECT_EQ(exit_code, 0) << example->Stderr();
}

TEST_P(ClientExampleTest, StopsWithExit1WhenTheServerRefusesTheStart) {
  ASSERT_NO_FATAL_FAILURE(Send(0, 1));
  // Beyond the log: OUT_OF_RANGE, which asking again would not change.
  auto example = StartExample({"--after=5"});
  ASSERT_NE(example, nullptr);
  int exit_code = -1;
  EXPECT_THAT(RunToExit(*example, exit_code), IsEmpty());
  EXPECT_EQ(exit_code, 1) << example->Stderr();
}

// A server that wants a client certificate of its CA and a bearer token.
TEST_P(ClientExampleTest, ConnectsWithMutualTlsAndABearerToken) {
  const std::string dir = MakeTempDir();
  ASSERT_THAT(testing::MakeTestCertificates(dir), IsOk());
  constexpr char kToken[] = "example-token-0c9d8e7f6a5b4c3d";
  testing::WriteFileWithMode(dir + "/tokens",
                             absl::StrCat("example read ", kToken, "\n"));
  testing::WriteFileWithMode(dir + "/token", absl::StrCat(kToken, "\n"));
  ASSERT_THAT(server_->Stop(SIGTERM, kTimeout), IsOk());
  ASSERT_NO_FATAL_FAILURE(
      StartOnDataDir(0, {"--grpc_tls_cert=" + dir + "/server.pem",
                         "--grpc_tls_key=" + dir + "/server.key",
                         "--grpc_client_ca=" + dir + "/ca.pem",
                         "--grpc_tokens_file=" + dir + "/tokens"}));
  ASSERT_NO_FATAL_FAILURE(Send(0, 1));
  const std::vector<std::string> tls = {"--ca-file=" + dir + "/ca.pem",
                                        "--cert-file=" + dir + "/client.pem",
                                        "--key-file=" + dir + "/client.key"};

  std::vector<std::string> flags = tls;
  flags.push_back("--token-file=" + dir + "/token");
  flags.push_back("--after=0");
  flags.push_back("--count=1");
  auto example = StartExample(flags);
  ASSERT_NE(example, nullptr);
  int exit_code = -1;
  EXPECT_THAT(RunToExit(*example, exit_code), ElementsAre(Line(1, 0)));
  EXPECT_EQ(exit_code, 0) << example->Stderr();

  // Without the token: refused for good, and told how to fix it.
  flags = tls;
  flags.push_back("--after=0");
  example = StartExample(flags);
  ASSERT_NE(example, nullptr);
  EXPECT_THAT(RunToExit(*example, exit_code), IsEmpty());
  EXPECT_EQ(exit_code, 1);
  EXPECT_THAT(example->Stderr(), ::testing::HasSubstr("UNAUTHENTICATED"));
  EXPECT_THAT(example->Stderr(),
              ::testing::HasSubstr("authorization: Bearer TOKEN"));
}

TEST_P(ClientExampleTest, ResumesAfterAServerRestartWithoutGapOrRepeat) {
  ASSERT_NO_FATAL_FAILURE(Send(11, 1));  // workflowExecution.failed
  ASSERT_NO_FATAL_FAILURE(Send(3, 2));   // openid4vc.issuance.offered
  auto example = StartExample({"--after=0", "--count=6"});
  ASSERT_NE(example, nullptr);
  for (const std::string& expected : {Line(1, 11), Line(2, 3)}) {
    absl::StatusOr<std::string> line = example->ReadStdoutLine(kTimeout);
    ASSERT_THAT(line, IsOk()) << example->Stderr();
    EXPECT_EQ(*line, expected);
  }
  ASSERT_NO_FATAL_FAILURE(
      Send(8, 3));  // live: workflowExecution.actionExecuted
  absl::StatusOr<std::string> line = example->ReadStdoutLine(kTimeout);
  ASSERT_THAT(line, IsOk()) << example->Stderr();
  EXPECT_EQ(*line, Line(3, 8));

  ASSERT_NO_FATAL_FAILURE(Restart());
  ASSERT_NO_FATAL_FAILURE(Send(13, 4));  // workflowExecution.waitingForTrigger
  ASSERT_NO_FATAL_FAILURE(Send(5, 5));   // openid4vc.verification.failed
  ASSERT_NO_FATAL_FAILURE(Send(0, 6));   // didcomm.connection.established

  int exit_code = -1;
  EXPECT_THAT(RunToExit(*example, exit_code),
              ElementsAre(Line(4, 13), Line(5, 5), Line(6, 0)));
  EXPECT_EQ(exit_code, 0) << example->Stderr();
}

// Without --after the example starts "from now on", but at a known
// sequence, so that even a drop before its first event loses nothing.
TEST_P(ClientExampleTest, FromNowOnKeepsItsPlaceBeforeItsFirstEvent) {
  ASSERT_NO_FATAL_FAILURE(Send(11, 1));
  ASSERT_NO_FATAL_FAILURE(Send(3, 2));
  auto example = StartExample({"--count=2"});
  ASSERT_NE(example, nullptr);
  ASSERT_NO_FATAL_FAILURE(WaitForSubscribers(1));
  ASSERT_NO_FATAL_FAILURE(Restart());
  // Sent at once, most likely before the example is back.
  ASSERT_NO_FATAL_FAILURE(Send(8, 3));
  ASSERT_NO_FATAL_FAILURE(Send(13, 4));
  int exit_code = -1;
  EXPECT_THAT(RunToExit(*example, exit_code),
              ElementsAre(Line(3, 8), Line(4, 13)));
  EXPECT_EQ(exit_code, 0) << example->Stderr();
}

TEST_P(ClientExampleTest, WaitsForAServerThatIsNotUpYet) {
  const int grpc_port = server_->grpc_port();
  ASSERT_THAT(server_->Stop(SIGTERM, kTimeout), IsOk());
  auto example = StartExample({"--after=0", "--count=1"});
  ASSERT_NE(example, nullptr);
  ASSERT_NO_FATAL_FAILURE(StartOnDataDir(grpc_port));
  ASSERT_NO_FATAL_FAILURE(Send(11, 1));
  int exit_code = -1;
  EXPECT_THAT(RunToExit(*example, exit_code), ElementsAre(Line(1, 11)));
  EXPECT_EQ(exit_code, 0) << example->Stderr();
}

INSTANTIATE_TEST_SUITE_P(Languages, ClientExampleTest,
                         ::testing::Values(&PythonExample, &NodeExample),
                         [](const auto& info) {
                           return info.param == &PythonExample ? "Python"
                                                               : "Node";
                         });

}  // namespace
}  // namespace paradym::webhooks
