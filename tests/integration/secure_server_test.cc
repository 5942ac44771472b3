// paradym-webhooksd exposed safely, as an operator runs it: bearer tokens,
// TLS and mutual TLS on the gRPC port, files with secrets, reloads on
// SIGHUP, and reflection that can be turned off. Real binary, real TLS.

#include <grpcpp/grpcpp.h>
#include <signal.h>

#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "paradym/webhooks/v1/webhook_service.grpc.pb.h"
#include "server/core/signature_verifier.h"
#include "tests/testing/grpc_status.h"
#include "tests/testing/raw_grpc_call.h"
#include "tests/testing/server_process.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_certificates.h"
#include "tests/testing/test_data.h"
#include "tests/testing/wait_for.h"

namespace paradym::webhooks {
namespace {

namespace v1 = ::paradym::webhooks::v1;
using ::paradym::webhooks::testing::CallWithBytes;
using ::paradym::webhooks::testing::ChildProcess;
using ::paradym::webhooks::testing::HasReason;
using ::paradym::webhooks::testing::IsOk;
using ::paradym::webhooks::testing::MakeTempDir;
using ::paradym::webhooks::testing::ReadTestData;
using ::paradym::webhooks::testing::StatusIs;
using ::paradym::webhooks::testing::WriteFileWithMode;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kSecret[] = "secure-test-secret-5d1c";
constexpr char kReaderToken[] = "reader-token-4b1f0a9e77c2d3e1";
constexpr char kIngestToken[] = "ingest-token-8e2a6c0b13f9d4a7";

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream contents;
  contents << in.rdbuf();
  return contents.str();
}

std::chrono::system_clock::time_point Deadline(int seconds = 10) {
  return std::chrono::system_clock::now() + std::chrono::seconds(seconds);
}

class SecureServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_THAT(testing::MakeTestCertificates(dir_), IsOk());
    WriteFileWithMode(
        Path("tokens"),
        absl::StrCat("# who may call\nreader read ", kReaderToken,
                     "\nsender ingest,verify ", kIngestToken, "\n"));
    WriteFileWithMode(Path("secrets"), absl::StrCat("default=", kSecret, "\n"));
  }

  void TearDown() override {
    if (server_ == nullptr) return;
    const std::string log = server_->Stderr();
    for (const char* secret : {kSecret, kReaderToken, kIngestToken}) {
      EXPECT_THAT(log, Not(HasSubstr(secret)));
    }
  }

  std::string Path(const char* name) const { return dir_ + "/" + name; }

  void Start(std::vector<std::string> args) {
    args.push_back("--secrets_file=" + Path("secrets"));
    auto server = testing::StartServer(std::move(args), {});
    ASSERT_THAT(server, IsOk());
    server_ = std::move(server).value();
  }

  // A TLS channel that trusts the test CA, with `client` ("client",
  // "stranger") as the client certificate, or none.
  std::shared_ptr<grpc::Channel> TlsChannel(const std::string& client = "") {
    grpc::SslCredentialsOptions options;
    options.pem_root_certs = ReadFile(Path("ca.pem"));
    if (!client.empty()) {
      options.pem_cert_chain = ReadFile(Path((client + ".pem").c_str()));
      options.pem_private_key = ReadFile(Path((client + ".key").c_str()));
    }
    return grpc::CreateChannel(server_->grpc_address(),
                               grpc::SslCredentials(options));
  }

  static grpc::Status ListEvents(const std::shared_ptr<grpc::Channel>& channel,
                                 const std::string& token = "") {
    auto stub = v1::WebhookService::NewStub(channel);
    grpc::ClientContext context;
    context.set_deadline(Deadline());
    if (!token.empty()) {
      context.AddMetadata("authorization", absl::StrCat("Bearer ", token));
    }
    v1::ListEventsResponse response;
    return stub->ListEvents(&context, {}, &response);
  }

  static grpc::Status Ingest(const std::shared_ptr<grpc::Channel>& channel,
                             const std::string& token, const std::string& body,
                             const std::string& secret,
                             v1::IngestResponse* response) {
    auto stub = v1::WebhookService::NewStub(channel);
    grpc::ClientContext context;
    context.set_deadline(Deadline());
    context.AddMetadata("authorization", absl::StrCat("Bearer ", token));
    v1::IngestRequest request;
    request.set_body(body);
    request.set_signature(SignBody(secret, body));
    return stub->Ingest(&context, request, response);
  }

  const std::string dir_ = MakeTempDir();
  std::unique_ptr<ChildProcess> server_;
};

TEST_F(SecureServerTest, TokensOverTlsGuardTheServiceButNotHealth) {
  Start({"--grpc_tokens_file=" + Path("tokens"),
         "--grpc_tls_cert=" + Path("server.pem"),
         "--grpc_tls_key=" + Path("server.key")});
  // Plaintext does not get through the TLS port.
  const grpc::Status plaintext =
      ListEvents(grpc::CreateChannel(server_->grpc_address(),
                                     grpc::InsecureChannelCredentials()),
                 kReaderToken);
  EXPECT_THAT(plaintext, StatusIs(grpc::StatusCode::UNAVAILABLE));

  const std::shared_ptr<grpc::Channel> channel = TlsChannel();
  grpc::Status status = ListEvents(channel);
  EXPECT_THAT(status, StatusIs(grpc::StatusCode::UNAUTHENTICATED));
  EXPECT_THAT(status, HasReason("TOKEN_MISSING"));
  status = ListEvents(channel, kReaderToken);
  EXPECT_THAT(status, IsOk());

  const std::string body =
      ReadTestData("events/workflowExecution.started.json");
  v1::IngestResponse response;
  status = Ingest(channel, kReaderToken, body, kSecret, &response);
  EXPECT_THAT(status, StatusIs(grpc::StatusCode::PERMISSION_DENIED));
  EXPECT_THAT(status, HasReason("SCOPE_MISSING"));
  status = Ingest(channel, kIngestToken, body, kSecret, &response);
  ASSERT_THAT(status, IsOk());
  EXPECT_EQ(response.event().sequence(), 1u);

  // Probes need no token; reflection neither (it is on by default).
  EXPECT_THAT(CallWithBytes(channel, "/grpc.health.v1.Health/Check", ""),
              IsOk());
  EXPECT_THAT(CallWithBytes(channel,
                            "/grpc.reflection.v1.ServerReflection/"
                            "ServerReflectionInfo",
                            "\x3a\x01*"),
              IsOk());
}

TEST_F(SecureServerTest, MutualTlsAdmitsOnlyClientsOfTheCa) {
  Start({"--grpc_tls_cert=" + Path("server.pem"),
         "--grpc_tls_key=" + Path("server.key"),
         "--grpc_client_ca=" + Path("ca.pem")});
  const grpc::Status with_certificate = ListEvents(TlsChannel("client"));
  EXPECT_THAT(with_certificate, IsOk());
  EXPECT_THAT(ListEvents(TlsChannel("stranger")),
              StatusIs(grpc::StatusCode::UNAVAILABLE));
  EXPECT_THAT(ListEvents(TlsChannel()),
              StatusIs(grpc::StatusCode::UNAVAILABLE));
}

// The bundled CLI reaches a server with mutual TLS and tokens.
TEST_F(SecureServerTest, TheCliUsesClientCertificatesAndTokens) {
  Start({"--grpc_tokens_file=" + Path("tokens"),
         "--grpc_tls_cert=" + Path("server.pem"),
         "--grpc_tls_key=" + Path("server.key"),
         "--grpc_client_ca=" + Path("ca.pem")});
  WriteFileWithMode(Path("reader-token"), absl::StrCat(kReaderToken, "\n"));
  const std::vector<std::string> tls = {
      "--address=" + server_->grpc_address(), "--ca-file=" + Path("ca.pem"),
      "--cert-file=" + Path("client.pem"), "--key-file=" + Path("client.key")};
  auto cli = [&](std::vector<std::string> args) {
    absl::StatusOr<testing::CommandResult> result =
        testing::RunCommand(testing::PathFromEnv("PARADYM_WEBHOOKS_CLI"), args);
    EXPECT_THAT(result, IsOk());
    return result.ok() ? *result : testing::CommandResult{};
  };
  std::vector<std::string> args = {"list"};
  args.insert(args.end(), tls.begin(), tls.end());
  testing::CommandResult refused = cli(args);
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_THAT(refused.err, HasSubstr("TOKEN_MISSING"));

  args.push_back("--token-file=" + Path("reader-token"));
  testing::CommandResult listed = cli(args);
  EXPECT_EQ(listed.exit_code, 0) << listed.err;

  // No client certificate: the handshake fails; the CLI says unreachable.
  args = {"list", "--address=" + server_->grpc_address(),
          "--ca-file=" + Path("ca.pem"),
          "--token-file=" + Path("reader-token")};
  EXPECT_EQ(cli(args).exit_code, 3);
}

TEST_F(SecureServerTest, ReflectionCanBeTurnedOff) {
  Start({"--reflection=false"});
  const std::shared_ptr<grpc::Channel> channel = grpc::CreateChannel(
      server_->grpc_address(), grpc::InsecureChannelCredentials());
  for (const char* version : {"v1", "v1alpha"}) {
    SCOPED_TRACE(version);
    EXPECT_THAT(
        CallWithBytes(channel,
                      absl::StrCat("/grpc.reflection.", version,
                                   ".ServerReflection/ServerReflectionInfo"),
                      "\x3a\x01*"),
        StatusIs(grpc::StatusCode::UNIMPLEMENTED));
  }
  // Loopback callers are served without credentials (protected mode).
  EXPECT_THAT(ListEvents(channel), IsOk());
  EXPECT_THAT(CallWithBytes(channel, "/grpc.health.v1.Health/Check", ""),
              IsOk());
}

TEST_F(SecureServerTest, FilesWithSecretsOthersMayReadAreRefused) {
  for (const char* flag :
       {"--secrets_file=", "--grpc_tokens_file=", "--grpc_tls_key="}) {
    SCOPED_TRACE(flag);
    const std::string file = Path("open-file");
    const std::string contents = std::string(flag) == "--grpc_tls_key="
                                     ? ReadFile(Path("server.key"))
                                     : ReadFile(Path("tokens"));
    WriteFileWithMode(file, contents, 0644);
    std::vector<std::string> args = {
        "--grpc_address=127.0.0.1:0", "--http_address=127.0.0.1:0",
        "--data_dir=" + Path("data"), std::string(flag) + file};
    if (std::string(flag) == "--grpc_tls_key=") {
      args.push_back("--grpc_tls_cert=" + Path("server.pem"));
    }
    auto child = ChildProcess::Start(
        testing::ServerOptions(args, {{"PARADYM_WEBHOOK_SECRET", kSecret}}));
    ASSERT_THAT(child, IsOk());
    absl::StatusOr<int> exit_code = (*child)->Wait(absl::Seconds(20));
    ASSERT_THAT(exit_code, IsOk());
    EXPECT_EQ(*exit_code, 1);
    EXPECT_THAT((*child)->Stderr(), HasSubstr("chmod 600 " + file));
    EXPECT_THAT((*child)->Stderr(), Not(HasSubstr(kReaderToken)));
  }
}

// SIGHUP: new secrets and tokens for new requests; open streams stay; a bad
// file keeps the old configuration.
TEST_F(SecureServerTest, SighupReloadsSecretsAndTokensWithoutDroppingStreams) {
  Start({"--grpc_tokens_file=" + Path("tokens")});
  const std::shared_ptr<grpc::Channel> channel = grpc::CreateChannel(
      server_->grpc_address(), grpc::InsecureChannelCredentials());
  auto stub = v1::WebhookService::NewStub(channel);
  grpc::ClientContext stream_context;
  stream_context.set_deadline(Deadline(30));
  stream_context.AddMetadata("authorization",
                             absl::StrCat("Bearer ", kReaderToken));
  auto stream = stub->Subscribe(&stream_context, {});
  stream->WaitForInitialMetadata();

  constexpr char kNewSecret[] = "rotated-secret-a77c";
  constexpr char kNewToken[] = "rotated-token-19f0e2c4b5a6d7e8";
  WriteFileWithMode(Path("tokens"),
                    absl::StrCat("sender ingest ", kNewToken, "\n"));
  WriteFileWithMode(Path("secrets"),
                    absl::StrCat("default=", kNewSecret, "\n"));
  ASSERT_EQ(::kill(server_->pid(), SIGHUP), 0);
  // Reloaded once the reader's token, gone from the file, is refused (the
  // secrets are reloaded before the tokens).
  ASSERT_TRUE(testing::WaitFor(
      [&] {
        return ::testing::Value(ListEvents(channel, kReaderToken),
                                HasReason("TOKEN_INVALID"));
      },
      absl::Seconds(10)));

  const std::string body = ReadTestData("events/workflowExecution.failed.json");
  v1::IngestResponse response;
  grpc::Status status =
      Ingest(channel, kIngestToken, body, kNewSecret, &response);
  EXPECT_THAT(status, HasReason("TOKEN_INVALID"));
  status = Ingest(channel, kNewToken, body, kSecret, &response);
  EXPECT_THAT(status, HasReason("SIGNATURE_MISMATCH"));
  status = Ingest(channel, kNewToken, body, kNewSecret, &response);
  ASSERT_THAT(status, IsOk());

  // The stream opened with the old token still gets the new event.
  v1::SubscribeResponse event;
  ASSERT_TRUE(stream->Read(&event));
  ASSERT_EQ(event.events_size(), 1);
  EXPECT_EQ(event.events(0).sequence(), response.event().sequence());

  // A tokens file that became readable by others is refused at reload: the
  // tokens loaded before stay in force.
  ::chmod(Path("tokens").c_str(), 0644);
  ASSERT_EQ(::kill(server_->pid(), SIGHUP), 0);
  // No answer changes when a reload is refused: the log says when it was.
  ASSERT_TRUE(testing::WaitFor(
      [&] {
        return absl::StrContains(server_->Stderr(),
                                 "cannot reload the gRPC tokens");
      },
      absl::Seconds(10)));
  status = Ingest(channel, kNewToken,
                  ReadTestData("events/workflowExecution.started.json"),
                  kNewSecret, &response);
  EXPECT_THAT(status, IsOk());
  stream_context.TryCancel();
}

// curl, as an operator would use it: the body, then a line with the HTTP
// status (000 when there was no HTTP answer).
testing::CommandResult Curl(std::vector<std::string> args) {
  args.insert(args.begin(),
              {"-sS", "--max-time", "10", "-w", "\n%{http_code}"});
  absl::StatusOr<testing::CommandResult> result =
      testing::RunCommand("/usr/bin/curl", args);
  EXPECT_THAT(result, IsOk());
  return result.ok() ? *result : testing::CommandResult{};
}

std::string StatusLine(const testing::CommandResult& result) {
  const absl::string_view out = absl::StripTrailingAsciiWhitespace(result.out);
  return std::string(out.substr(out.rfind('\n') + 1));
}

TEST_F(SecureServerTest, HttpsFrontAndAMetricsListenerOfItsOwn) {
  Start({"--http_tls_cert=" + Path("server.pem"),
         "--http_tls_key=" + Path("server.key"),
         "--metrics_address=127.0.0.1:0"});
  ASSERT_GT(server_->metrics_port(), 0);
  const std::string https =
      absl::StrCat("https://127.0.0.1:", server_->http_port());
  const std::string body =
      ReadTestData("events/workflowExecution.started.json");
  WriteFileWithMode(Path("body.json"), body);
  testing::CommandResult posted =
      Curl({"--cacert", Path("ca.pem"), "-H", "Content-Type: application/json",
            "-H", "X-Paradym-HMAC-SHA-256: " + SignBody(kSecret, body),
            "--data-binary", "@" + Path("body.json"), https + "/webhook"});
  EXPECT_EQ(StatusLine(posted), "200") << posted.err;
  EXPECT_THAT(posted.out, HasSubstr("\"sequence\":1"));

  // Plain HTTP gets no answer from the HTTPS port.
  testing::CommandResult plain = Curl(
      {absl::StrCat("http://127.0.0.1:", server_->http_port(), "/healthz")});
  EXPECT_NE(plain.exit_code, 0);
  EXPECT_EQ(StatusLine(plain), "000");

  const testing::CommandResult metrics = Curl(
      {absl::StrCat("http://127.0.0.1:", server_->metrics_port(), "/metrics")});
  EXPECT_EQ(StatusLine(metrics), "200");
  EXPECT_THAT(metrics.out,
              HasSubstr("paradym_webhooks_http_requests_total{code=\"200\""));
  const testing::CommandResult on_webhook_port =
      Curl({"--cacert", Path("ca.pem"), https + "/metrics"});
  EXPECT_EQ(StatusLine(on_webhook_port), "404");
  EXPECT_THAT(on_webhook_port.out, HasSubstr("--metrics_address"));
}

TEST_F(SecureServerTest, SighupReloadsTheHttpsCertificate) {
  Start({"--http_tls_cert=" + Path("server.pem"),
         "--http_tls_key=" + Path("server.key")});
  const std::string healthz =
      absl::StrCat("https://127.0.0.1:", server_->http_port(), "/healthz");
  const std::string renewed = MakeTempDir();
  ASSERT_THAT(testing::MakeTestCertificates(renewed), IsOk());
  const std::string renewed_ca = renewed + "/ca.pem";
  EXPECT_EQ(StatusLine(Curl({"--cacert", Path("ca.pem"), healthz})), "200");
  EXPECT_EQ(StatusLine(Curl({"--cacert", renewed_ca, healthz})), "000");

  WriteFileWithMode(Path("server.pem"), ReadFile(renewed + "/server.pem"),
                    0644);
  WriteFileWithMode(Path("server.key"), ReadFile(renewed + "/server.key"));
  ASSERT_EQ(::kill(server_->pid(), SIGHUP), 0);
  // Reloaded once the renewed certificate is served.
  ASSERT_TRUE(testing::WaitFor(
      [&] {
        return StatusLine(Curl({"--cacert", renewed_ca, healthz})) == "200";
      },
      absl::Seconds(10), absl::Milliseconds(50)));
  EXPECT_EQ(StatusLine(Curl({"--cacert", renewed_ca, healthz})), "200");

  // A key that no longer matches the certificate: the reload is refused and
  // the certificate in use stays.
  WriteFileWithMode(Path("server.key"), ReadFile(Path("client.key")));
  ASSERT_EQ(::kill(server_->pid(), SIGHUP), 0);
  // No answer changes when a reload is refused: the log says when it was.
  ASSERT_TRUE(testing::WaitFor(
      [&] {
        return absl::StrContains(server_->Stderr(),
                                 "cannot reload the HTTP certificate files");
      },
      absl::Seconds(10)));
  EXPECT_EQ(StatusLine(Curl({"--cacert", renewed_ca, healthz})), "200");
}

}  // namespace
}  // namespace paradym::webhooks
