// The HTTP front as Paradym meets it: the real binary, a raw socket client.

#include <grpcpp/grpcpp.h>
#include <signal.h>
#include <unistd.h>

#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "paradym/webhooks/v1/webhook_service.grpc.pb.h"
#include "server/core/signature_verifier.h"
#include "tests/testing/grpc_status.h"
#include "tests/testing/http_client.h"
#include "tests/testing/server_process.h"
#include "tests/testing/slow_reader_channel.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/subscribe_stream.h"
#include "tests/testing/test_certificates.h"
#include "tests/testing/test_data.h"

namespace paradym::webhooks {
namespace {

namespace v1 = ::paradym::webhooks::v1;
using ::paradym::webhooks::testing::ChildProcess;
using ::paradym::webhooks::testing::Env;
using ::paradym::webhooks::testing::ErrorReasonOf;
using ::paradym::webhooks::testing::GetRequest;
using ::paradym::webhooks::testing::HttpExchange;
using ::paradym::webhooks::testing::HttpReply;
using ::paradym::webhooks::testing::IsOk;
using ::paradym::webhooks::testing::ListTestData;
using ::paradym::webhooks::testing::MakeTempDir;
using ::paradym::webhooks::testing::PostRequest;
using ::paradym::webhooks::testing::RawHttpConnection;
using ::paradym::webhooks::testing::ReadEvents;
using ::paradym::webhooks::testing::ReadTestData;
using ::paradym::webhooks::testing::StartServer;
using ::paradym::webhooks::testing::UniqueBody;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kSecret[] = "http-front-secret-7c1e";
constexpr absl::Duration kTimeout = absl::Seconds(30);

class HttpFrontTest : public ::testing::Test {
 protected:
  void Start(std::vector<std::string> args = {}) {
    auto server =
        StartServer(std::move(args), {{"PARADYM_WEBHOOK_SECRET", kSecret}});
    ASSERT_THAT(server, IsOk());
    server_ = std::move(server).value();
    stub_ = v1::WebhookService::NewStub(grpc::CreateChannel(
        server_->grpc_address(), grpc::InsecureChannelCredentials()));
  }

  void TearDown() override {
    if (server_ != nullptr) {
      EXPECT_THAT(server_->Stderr(), Not(HasSubstr(kSecret)));
    }
  }

  int port() const { return server_->http_port(); }

  HttpReply Exchange(const std::string& request) {
    absl::StatusOr<HttpReply> reply = HttpExchange(port(), request, kTimeout);
    EXPECT_THAT(reply, IsOk());
    return reply.ok() ? *reply : HttpReply{};
  }

  static std::string SignedPost(const std::string& body,
                                const std::string& path = "/webhook") {
    return PostRequest(path, body, SignBody(kSecret, body));
  }

  // The head of a signed POST of `body` that waits for 100 Continue.
  static std::string ExpectContinueHead(
      const std::string& body, absl::string_view version = "HTTP/1.1") {
    return absl::StrCat("POST /webhook ", version,
                        "\r\nHost: x\r\nContent-Type: application/json\r\n"
                        "Expect: 100-continue\r\nContent-Length: ",
                        body.size(),
                        "\r\nX-Paradym-HMAC-SHA-256: ", SignBody(kSecret, body),
                        "\r\n\r\n");
  }

  std::unique_ptr<ChildProcess> server_;
  std::unique_ptr<v1::WebhookService::Stub> stub_;
};

TEST_F(HttpFrontTest, EveryEventTypeGoesFromHttpToASubscriberTyped) {
  Start();
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(30));
  auto reader = stub_->Subscribe(&context, {});
  reader->WaitForInitialMetadata();

  const std::vector<std::string> names = ListTestData("events");
  for (std::size_t i = 0; i < names.size(); ++i) {
    SCOPED_TRACE(names[i]);
    HttpReply reply = Exchange(SignedPost(ReadTestData("events/" + names[i])));
    EXPECT_EQ(reply.status, 200) << reply.body;
    EXPECT_EQ(reply.body, absl::StrCat("{\"sequence\":", i + 1, "}\n"));
    EXPECT_EQ(reply.headers["content-type"], "application/json");
  }
  const std::vector<v1::Event> events = ReadEvents(*reader, names.size());
  ASSERT_EQ(events.size(), names.size());
  for (std::size_t i = 0; i < names.size(); ++i) {
    SCOPED_TRACE(names[i]);
    EXPECT_EQ(events[i].event_type() + ".json", names[i]);
    EXPECT_EQ(events[i].body(), ReadTestData("events/" + names[i]));
    EXPECT_EQ(events[i].sequence(), i + 1);
  }
  const auto failed = std::find_if(events.begin(), events.end(), [](auto& e) {
    return e.type() == v1::EVENT_TYPE_WORKFLOW_EXECUTION_FAILED;
  });
  ASSERT_NE(failed, events.end());
  EXPECT_EQ(failed->workflow_execution_failed().error().code(),
            "presentation_rejected");
  context.TryCancel();
}

TEST_F(HttpFrontTest, EveryStatusHasItsReasonAndNeverEchoesSecrets) {
  Start({"--max_body_bytes=4096"});
  const std::string good =
      ReadTestData("events/workflowExecution.started.json");
  const std::string signature = SignBody(kSecret, good);
  const std::string missing_id =
      R"({"eventType":"workflowExecution.failed","payload":{}})";
  struct Case {
    std::string name;
    std::string request;
    int status;
    std::string reason;
  };
  const std::vector<Case> cases = {
      {"good", SignedPost(good), 200, ""},
      {"endpoint path", SignedPost(good, "/webhooks/default"), 200, ""},
      {"json with charset",
       PostRequest("/webhook", good, signature,
                   "application/json; charset=utf-8"),
       200, ""},
      {"no signature", PostRequest("/webhook", good, ""), 401,
       "SIGNATURE_MISSING"},
      {"malformed signature", PostRequest("/webhook", good, "abc"), 401,
       "SIGNATURE_MALFORMED"},
      {"wrong signature",
       PostRequest("/webhook", good, SignBody("other", good)), 401,
       "SIGNATURE_MISMATCH"},
      {"malformed event", SignedPost("{\"eventType\": }"), 400,
       "MALFORMED_JSON"},
      {"missing field", SignedPost(missing_id), 400, "MISSING_FIELD"},
      {"unknown path", SignedPost(good, "/hooks"), 404, "UNKNOWN_PATH"},
      {"nested path", SignedPost(good, "/webhooks/default/x"), 404,
       "UNKNOWN_PATH"},
      {"unknown endpoint", SignedPost(good, "/webhooks/shop"), 404,
       "UNKNOWN_ENDPOINT"},
      {"GET a webhook path", GetRequest("/webhook"), 405, "METHOD_NOT_ALLOWED"},
      {"PUT a webhook path",
       absl::StrCat("PUT /webhook HTTP/1.1\r\nHost: x\r\nContent-Length: ",
                    good.size(), "\r\n\r\n", good),
       405, "METHOD_NOT_ALLOWED"},
      {"no length",
       absl::StrCat("POST /webhook HTTP/1.1\r\nHost: x\r\n"
                    "Content-Type: application/json\r\n"
                    "X-Paradym-HMAC-SHA-256: ",
                    signature, "\r\n\r\n"),
       411, "LENGTH_REQUIRED"},
      {"too large", SignedPost(std::string(4097, ' ')), 413, "BODY_TOO_LARGE"},
      {"not JSON", PostRequest("/webhook", good, signature, "text/plain"), 415,
       "UNSUPPORTED_MEDIA_TYPE"},
      {"form",
       PostRequest("/webhook", good, signature,
                   "application/x-www-form-urlencoded"),
       415, "UNSUPPORTED_MEDIA_TYPE"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    HttpReply reply = Exchange(c.request);
    EXPECT_EQ(reply.status, c.status) << reply.body;
    EXPECT_EQ(ErrorReasonOf(reply), c.reason);
    EXPECT_THAT(reply.body, Not(HasSubstr(kSecret)));
    EXPECT_THAT(reply.body, Not(HasSubstr(signature)));
    if (c.status != 200) {
      EXPECT_THAT(reply.body, HasSubstr("{\"error\":{\"reason\":"));
      EXPECT_THAT(reply.body, HasSubstr("\"message\":"));
    }
    if (c.status == 405) {
      EXPECT_EQ(reply.headers["allow"], "POST");
    }
  }
  // The field path is named like the gRPC BadRequest does.
  const HttpReply missing = Exchange(SignedPost(missing_id));
  EXPECT_THAT(missing.body,
              HasSubstr("\"field\":\"payload.workflowExecutionId\""));
  HttpReply metrics_post = Exchange(
      "POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n");
  EXPECT_EQ(metrics_post.status, 405);
  EXPECT_EQ(metrics_post.headers["allow"], "GET");
}

TEST_F(HttpFrontTest, HealthAndReadiness) {
  Start();
  EXPECT_EQ(Exchange(GetRequest("/healthz")).status, 200);
  EXPECT_EQ(Exchange(GetRequest("/readyz")).status, 200);
}

TEST_F(HttpFrontTest, KeepAliveServesManyRequestsOnOneConnection) {
  Start();
  RawHttpConnection connection(port());
  ASSERT_TRUE(connection.connected());
  for (int i = 1; i <= 200; ++i) {
    absl::StatusOr<HttpReply> reply =
        connection.Exchange(SignedPost(UniqueBody(i)), kTimeout);
    ASSERT_THAT(reply, IsOk());
    ASSERT_EQ(reply->status, 200);
    ASSERT_EQ(reply->body, absl::StrCat("{\"sequence\":", i, "}\n"));
  }
  // Pipelined: three requests in one write, three answers in order.
  ASSERT_TRUE(connection.Send(SignedPost(UniqueBody(201)) +
                              SignedPost(UniqueBody(202)) +
                              GetRequest("/healthz")));
  for (const char* expected : {"{\"sequence\":201}\n", "{\"sequence\":202}\n",
                               "{\"status\":\"ok\"}\n"}) {
    absl::StatusOr<HttpReply> reply = connection.Read(kTimeout);
    ASSERT_THAT(reply, IsOk());
    EXPECT_EQ(reply->body, expected);
  }
}

TEST_F(HttpFrontTest, ChunkedBodyIsAccepted) {
  Start({"--max_body_bytes=4096"});
  const std::string body = ReadTestData("events/workflowExecution.failed.json");
  std::string request = absl::StrCat(
      "POST /webhook HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
      "Transfer-Encoding: chunked\r\nX-Paradym-HMAC-SHA-256: ",
      SignBody(kSecret, body), "\r\n\r\n");
  for (std::size_t at = 0; at < body.size(); at += 100) {
    const std::string chunk = body.substr(at, 100);
    absl::StrAppend(&request, absl::Hex(chunk.size()), "\r\n", chunk, "\r\n");
  }
  request += "0\r\n\r\n";
  HttpReply reply = Exchange(request);
  EXPECT_EQ(reply.status, 200) << reply.body;
  EXPECT_EQ(reply.body, "{\"sequence\":1}\n");

  // A chunked body over the limit is refused while reading.
  const std::string big(3000, 'x');
  RawHttpConnection connection(port());
  ASSERT_TRUE(connection.Send(absl::StrCat(
      "POST /webhook HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
      "X-Paradym-HMAC-SHA-256: ",
      std::string(64, 'a'), "\r\n\r\n", absl::Hex(big.size()), "\r\n", big,
      "\r\n", absl::Hex(big.size()), "\r\n", big, "\r\n0\r\n\r\n")));
  absl::StatusOr<HttpReply> refused = connection.Read(kTimeout);
  ASSERT_THAT(refused, IsOk());
  EXPECT_EQ(refused->status, 413);
  EXPECT_EQ(ErrorReasonOf(*refused), "BODY_TOO_LARGE");
  EXPECT_TRUE(connection.ClosedWithin(kTimeout));
}

TEST_F(HttpFrontTest, OversizedBodyIsRefusedBeforeItIsSent) {
  Start();  // 256 KiB limit
  RawHttpConnection connection(port());
  // Only the head: a 10 MB body is announced but never sent.
  ASSERT_TRUE(connection.Send(
      "POST /webhook HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
      "Content-Length: 10000000\r\nX-Paradym-HMAC-SHA-256: " +
      std::string(64, 'a') + "\r\n\r\n"));
  absl::StatusOr<HttpReply> reply = connection.Read(kTimeout);
  ASSERT_THAT(reply, IsOk());
  EXPECT_EQ(reply->status, 413);
  EXPECT_EQ(ErrorReasonOf(*reply), "BODY_TOO_LARGE");
  EXPECT_EQ(reply->headers["connection"], "close");
  EXPECT_TRUE(connection.ClosedWithin(kTimeout));
}

TEST_F(HttpFrontTest, ExpectContinueGets100ThenTheAnswer) {
  Start();
  const std::string body =
      ReadTestData("events/workflowExecution.started.json");
  RawHttpConnection connection(port());
  ASSERT_TRUE(connection.Send(ExpectContinueHead(body)));
  absl::StatusOr<HttpReply> interim = connection.Read(kTimeout);
  ASSERT_THAT(interim, IsOk());
  EXPECT_EQ(interim->status, 100);
  ASSERT_TRUE(connection.Send(body));
  absl::StatusOr<HttpReply> reply = connection.Read(kTimeout);
  ASSERT_THAT(reply, IsOk());
  EXPECT_EQ(reply->status, 200);
}

// RFC 9110 10.1.1: a server ignores 100-continue from an HTTP/1.0 client.
TEST_F(HttpFrontTest, Http10ExpectContinueGetsNo100) {
  Start();
  const std::string body =
      ReadTestData("events/workflowExecution.started.json");
  RawHttpConnection connection(port());
  ASSERT_TRUE(connection.Send(ExpectContinueHead(body, "HTTP/1.0") + body));
  absl::StatusOr<HttpReply> reply = connection.Read(kTimeout);
  ASSERT_THAT(reply, IsOk());
  EXPECT_EQ(reply->status, 200) << reply->body;
}

// RFC 9112 6.3: with a Transfer-Encoding whose last coding is not chunked
// (or any coding besides chunked, which we do not decode) the body's length
// is unknown: 400 and close, so that a request hidden in it is never served.
TEST_F(HttpFrontTest, TransferEncodingOtherThanChunkedIs400AndCloses) {
  Start();
  for (const char* coding :
       {"chunked, identity", "gzip", "identity", "gzip, chunked",
        "chunked\r\nTransfer-Encoding: chunked"}) {
    SCOPED_TRACE(coding);
    RawHttpConnection connection(port());
    ASSERT_TRUE(connection.Send(absl::StrCat(
        "POST /webhook HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: ", coding,
        "\r\nX-Paradym-HMAC-SHA-256: ", std::string(64, 'a'),
        "\r\n\r\n0\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")));
    absl::StatusOr<HttpReply> reply = connection.Read(kTimeout);
    ASSERT_THAT(reply, IsOk());
    EXPECT_EQ(reply->status, 400);
    EXPECT_EQ(ErrorReasonOf(*reply), "MALFORMED_HTTP");
    EXPECT_EQ(reply->headers["connection"], "close");
    absl::StatusOr<std::string> rest = connection.ReadUntilClosed(kTimeout);
    ASSERT_THAT(rest, IsOk());
    EXPECT_EQ(*rest, "") << "the smuggled request was served";
  }
}

// A response to HEAD has no body: the next pipelined request's answer follows
// its head directly.
TEST_F(HttpFrontTest, HeadIsAnsweredWithoutABody) {
  Start();
  RawHttpConnection connection(port());
  ASSERT_TRUE(connection.Send(
      "HEAD /webhook HTTP/1.1\r\nHost: x\r\n\r\n"
      "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
  absl::StatusOr<std::string> bytes = connection.ReadUntilClosed(kTimeout);
  ASSERT_THAT(bytes, IsOk());
  ASSERT_THAT(*bytes, ::testing::StartsWith("HTTP/1.1 405 "));
  EXPECT_THAT(*bytes, HasSubstr("Allow: POST\r\n"));
  const std::size_t end_of_head = bytes->find("\r\n\r\n");
  ASSERT_NE(end_of_head, std::string::npos);
  EXPECT_THAT(bytes->substr(end_of_head + 4),
              ::testing::StartsWith("HTTP/1.1 200 "));
}

// After an answer with Connection: close, the server drains what the client
// still sends for a moment (so the answer is not lost to a reset), but a
// client trickling bytes cannot keep the socket open beyond that.
TEST_F(HttpFrontTest, ATricklingClientCannotHoldAClosingConnection) {
  Start();
  RawHttpConnection connection(port());
  ASSERT_TRUE(
      connection.Send("GET /healthz HTTP/1.1\r\nHost: x\r\n"
                      "Connection: close\r\n\r\n"));
  absl::StatusOr<HttpReply> reply = connection.Read(kTimeout);
  ASSERT_THAT(reply, IsOk());
  EXPECT_EQ(reply->status, 200);
  // The server's half-close shows as an end of stream at once; only a write
  // that fails shows that it closed the socket for good.
  const absl::Time start = absl::Now();
  bool closed = false;
  while (!closed && absl::Now() - start < absl::Seconds(10)) {
    closed = !connection.Send("x");
    absl::SleepFor(absl::Milliseconds(300));  // the trickle
  }
  EXPECT_TRUE(closed);
  // The linger lasts 2 s, however many bytes arrive.
  EXPECT_LT(absl::Now() - start, absl::Seconds(4));
}

// With few file descriptors (a common soft limit is 1024), a flood of idle
// connections must neither make the accept loop spin nor keep webhooks on
// open connections from being answered.
TEST_F(HttpFrontTest, RunningOutOfFileDescriptorsNeitherSpinsNorStalls) {
  ChildProcess::Options limits;
  limits.max_open_files = 256;
  auto server =
      testing::StartServer({"--store=memory", "--http_threads=1"},
                           {{"PARADYM_WEBHOOK_SECRET", kSecret}}, limits);
  ASSERT_THAT(server, IsOk());
  server_ = *std::move(server);
  RawHttpConnection first(port());
  ASSERT_TRUE(first.connected());
  std::vector<std::unique_ptr<RawHttpConnection>> flood;
  for (int i = 0; i < 400; ++i) {
    flood.push_back(std::make_unique<RawHttpConnection>(port()));
  }
  auto cpu_ticks = [&] {
    std::ifstream stat(absl::StrCat("/proc/", server_->pid(), "/stat"));
    std::string line;
    std::getline(stat, line);
    // utime and stime, fields 14 and 15, after the ")" that ends the name.
    std::vector<std::string> fields =
        absl::StrSplit(line.substr(line.rfind(')') + 2), ' ');
    return std::stoll(fields[11]) + std::stoll(fields[12]);
  };
  const long long before = cpu_ticks();
  const absl::Time start = absl::Now();
  const std::string body =
      ReadTestData("events/workflowExecution.started.json");
  absl::StatusOr<HttpReply> reply = first.Exchange(SignedPost(body), kTimeout);
  ASSERT_THAT(reply, IsOk());
  EXPECT_EQ(reply->status, 200) << reply->body;
  absl::SleepFor(absl::Seconds(2) - (absl::Now() - start));
  const double cpu_seconds =
      static_cast<double>(cpu_ticks() - before) / ::sysconf(_SC_CLK_TCK);
  EXPECT_LT(cpu_seconds, 0.5) << "the server spun";
  // Past what fits, connections were refused rather than left to exhaust
  // the descriptors.
  absl::StatusOr<HttpReply> metrics =
      first.Exchange(GetRequest("/metrics"), kTimeout);
  ASSERT_THAT(metrics, IsOk());
  EXPECT_THAT(
      metrics->body,
      Not(HasSubstr("paradym_webhooks_http_connections_refused_total 0\n")));
}

// Chunk extensions and trailers are not body: they must not be buffered
// without limit while an attacker sends them for the whole read timeout.
TEST_F(HttpFrontTest, EndlessChunkExtensionsAndTrailersAreRefused) {
  Start();
  const std::string head = absl::StrCat(
      "POST /webhook HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
      "X-Paradym-HMAC-SHA-256: ",
      std::string(64, 'a'), "\r\n\r\n");
  const std::string endless(200 * 1024, 'e');
  for (const std::string& start :
       {absl::StrCat("1;ext=", endless),                         // extension
        absl::StrCat("1\r\nx\r\n0\r\nX-Trailer: ", endless)}) {  // trailer
    RawHttpConnection connection(port());
    // Never finished: the server must answer before the line ends.
    ASSERT_TRUE(connection.Send(head + start));
    absl::StatusOr<HttpReply> reply = connection.Read(absl::Seconds(5));
    ASSERT_THAT(reply, IsOk());
    EXPECT_EQ(reply->status, 431);
    EXPECT_EQ(ErrorReasonOf(*reply), "HEADERS_TOO_LARGE");
    EXPECT_TRUE(connection.ClosedWithin(kTimeout));
  }
}

TEST_F(HttpFrontTest, SlowClientIsCutOffWhileOthersAreServed) {
  Start({"--http_read_timeout=1s"});
  const std::string body =
      ReadTestData("events/workflowExecution.started.json");
  RawHttpConnection slow(port());
  const absl::Time started = absl::Now();
  // Half a request head, then nothing.
  ASSERT_TRUE(slow.Send("POST /webhook HTTP/1.1\r\nHost: x\r\nContent-Le"));
  // Meanwhile a normal client is served at once, more than once.
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(Exchange(SignedPost(body)).status, 200);
  }
  // The slow one is cut off once the read timeout passes.
  EXPECT_TRUE(slow.ClosedWithin(kTimeout));
  EXPECT_GE(absl::Now() - started, absl::Milliseconds(900));

  // A body that trickles in too slowly is cut off the same way.
  RawHttpConnection trickle(port());
  const absl::Time trickle_started = absl::Now();
  ASSERT_TRUE(trickle.Send(absl::StrCat(
      "POST /webhook HTTP/1.1\r\nHost: x\r\nContent-Length: ", body.size(),
      "\r\nX-Paradym-HMAC-SHA-256: ", SignBody(kSecret, body), "\r\n\r\n",
      body.substr(0, 10))));
  EXPECT_TRUE(trickle.ClosedWithin(kTimeout));
  EXPECT_GE(absl::Now() - trickle_started, absl::Milliseconds(900));
  // Both are counted as 408 REQUEST_TIMEOUT.
  HttpReply page = Exchange(GetRequest("/metrics"));
  EXPECT_THAT(page.body,
              HasSubstr("paradym_webhooks_http_requests_total{code=\"408\","
                        "reason=\"REQUEST_TIMEOUT\"} 2\n"));
}

TEST_F(HttpFrontTest, IdleKeepAliveConnectionsAreClosed) {
  Start({"--http_idle_timeout=1s"});
  RawHttpConnection connection(port());
  ASSERT_THAT(connection.Exchange(GetRequest("/healthz"), kTimeout), IsOk());
  const absl::Time idle_since = absl::Now();
  EXPECT_TRUE(connection.ClosedWithin(kTimeout));
  EXPECT_GE(absl::Now() - idle_since, absl::Milliseconds(900));
}

TEST_F(HttpFrontTest, BytesThatAreNotHttpAre400) {
  Start();
  HttpReply reply = Exchange("GET / HTTP/1.1\r\nHost x\r\n\r\n");
  EXPECT_EQ(reply.status, 400);
  EXPECT_EQ(ErrorReasonOf(reply), "MALFORMED_HTTP");
}

TEST_F(HttpFrontTest, HugeHeaderIs431) {
  Start();
  HttpReply reply = Exchange(absl::StrCat(
      "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Junk: ", std::string(20000, 'j'),
      "\r\n\r\n"));
  EXPECT_EQ(reply.status, 431);
  EXPECT_EQ(ErrorReasonOf(reply), "HEADERS_TOO_LARGE");
}

TEST_F(HttpFrontTest, ConnectionsOverTheLimitAreClosedAtOnce) {
  Start({"--http_max_connections=2"});
  RawHttpConnection first(port()), second(port());
  // Both are served, so both are counted before the third arrives.
  for (RawHttpConnection* connection : {&first, &second}) {
    ASSERT_THAT(connection->Exchange(GetRequest("/healthz"), kTimeout), IsOk());
  }
  RawHttpConnection third(port());
  EXPECT_TRUE(third.ClosedWithin(kTimeout));
  // The first two still work.
  absl::StatusOr<HttpReply> again =
      first.Exchange(GetRequest("/healthz"), kTimeout);
  ASSERT_THAT(again, IsOk());
  EXPECT_EQ(again->status, 200);
}

// A subscriber that never reads cannot hold up the HTTP answers: every POST
// gets its 200, and the stuck stream is ended instead (an overflow).
TEST_F(HttpFrontTest, AStuckSubscriberNeverDelaysThe200) {
  Start({"--subscriber_queue=16"});
  auto stuck_stub = v1::WebhookService::NewStub(
      testing::SlowReaderChannel(server_->grpc_address()));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(60));
  auto stuck = stuck_stub->Subscribe(&context, {});
  stuck->WaitForInitialMetadata();  // subscribed, and never reads

  RawHttpConnection connection(port());
  constexpr int kRequests = 2000;
  for (int i = 1; i <= kRequests; ++i) {
    absl::StatusOr<HttpReply> reply =
        connection.Exchange(SignedPost(UniqueBody(i)), kTimeout);
    ASSERT_THAT(reply, IsOk());
    ASSERT_EQ(reply->status, 200) << reply->body;
  }
  HttpReply page = Exchange(GetRequest("/metrics"));
  EXPECT_THAT(page.body,
              HasSubstr("paradym_webhooks_subscriber_overflows_total 1\n"));
  context.TryCancel();
}

// The value of the metrics line that starts with `series` followed by a space.
double MetricValue(const std::string& page, const std::string& series) {
  for (absl::string_view line : absl::StrSplit(page, '\n')) {
    if (absl::StartsWith(line, series + " ")) {
      double value = -1;
      if (absl::SimpleAtod(line.substr(series.size() + 1), &value)) {
        return value;
      }
    }
  }
  return -1;
}

TEST_F(HttpFrontTest, MetricsCountWhatWasSent) {
  Start();
  const std::string body =
      ReadTestData("events/workflowExecution.started.json");
  // One webhook and two replays of it.
  for (int i = 0; i < 3; ++i) ASSERT_EQ(Exchange(SignedPost(body)).status, 200);
  const std::string other = UniqueBody(1);
  ASSERT_EQ(Exchange(SignedPost(other)).status, 200);
  for (int i = 0; i < 2; ++i) {
    ASSERT_EQ(Exchange(PostRequest("/webhook", body, "")).status, 401);
  }
  ASSERT_EQ(Exchange(SignedPost(body, "/nope")).status, 404);
  HttpReply page = Exchange(GetRequest("/metrics"));
  ASSERT_EQ(page.status, 200);
  EXPECT_THAT(page.headers["content-type"], HasSubstr("text/plain"));
  const std::string& text = page.body;
  EXPECT_EQ(MetricValue(text,
                        "paradym_webhooks_http_requests_total{code=\"200\","
                        "reason=\"\"}"),
            4);
  EXPECT_EQ(MetricValue(text,
                        "paradym_webhooks_http_requests_total{code=\"401\","
                        "reason=\"SIGNATURE_MISSING\"}"),
            2);
  EXPECT_EQ(MetricValue(text,
                        "paradym_webhooks_http_requests_total{code=\"404\","
                        "reason=\"UNKNOWN_PATH\"}"),
            1);
  EXPECT_EQ(MetricValue(text,
                        "paradym_webhooks_events_accepted_total{"
                        "event_type=\"workflowExecution.started\"}"),
            2);
  EXPECT_EQ(MetricValue(text, "paradym_webhooks_duplicates_total"), 2);
  EXPECT_EQ(MetricValue(text, "paradym_webhooks_replay_digests"), 2);
  EXPECT_EQ(MetricValue(text, "paradym_webhooks_ingest_duration_seconds_count"),
            2);
  EXPECT_EQ(MetricValue(text, "paradym_webhooks_log_events"), 2);
  EXPECT_EQ(MetricValue(text, "paradym_webhooks_subscribers"), 0);
  EXPECT_EQ(MetricValue(text, "paradym_webhooks_subscriber_overflows_total"),
            0);
  EXPECT_GE(
      MetricValue(text, "paradym_webhooks_http_connections_accepted_total"), 7);
}

// A body published at `published` (now by default), in Paradym's format.
std::string FreshBody(int n, absl::Time published = absl::Now()) {
  return absl::StrCat(
      R"({"webhookId":"fresh-)", n, R"(","webhookPublishedAt":")",
      absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", published, absl::UTCTimeZone()),
      R"(","projectId":"p-1","eventType":"workflowExecution.started",)",
      R"("payload":{"workflowId":"wf-1","workflowExecutionId":"ex-1"}})");
}

TEST_F(HttpFrontTest, AReplayGetsTheOriginalSequenceAndIsStoredOnce) {
  const std::string data_dir = MakeTempDir() + "/data";
  Start({"--data_dir=" + data_dir});
  const std::string body = UniqueBody(7);
  const std::string other = UniqueBody(8);
  EXPECT_EQ(Exchange(SignedPost(body)).body, "{\"sequence\":1}\n");
  EXPECT_EQ(Exchange(SignedPost(other)).body, "{\"sequence\":2}\n");
  // The same signed POST again, also to the endpoint's own path.
  for (const char* path : {"/webhook", "/webhooks/default"}) {
    SCOPED_TRACE(path);
    HttpReply replay = Exchange(SignedPost(body, path));
    EXPECT_EQ(replay.status, 200);
    EXPECT_EQ(replay.body, "{\"sequence\":1}\n");
  }
  // And through gRPC, byte for byte.
  v1::IngestRequest request;
  request.set_body(body);
  request.set_signature(SignBody(kSecret, body));
  v1::IngestResponse response;
  {
    grpc::ClientContext context;
    ASSERT_THAT(stub_->Ingest(&context, request, &response), IsOk());
  }
  EXPECT_EQ(response.event().sequence(), 1u);
  EXPECT_FALSE(response.pending_replication());
  EXPECT_EQ(response.event().body(), body);

  auto list = [&] {
    v1::ListEventsRequest list_request;
    list_request.set_start_after_sequence(0);
    v1::ListEventsResponse listed;
    grpc::ClientContext context;
    EXPECT_THAT(stub_->ListEvents(&context, list_request, &listed), IsOk());
    return listed;
  };
  ASSERT_EQ(list().events_size(), 2);

  // The digests are kept with the events: a replay after a restart too.
  ASSERT_EQ(server_->Stop(SIGTERM, kTimeout).value_or(-1), 0);
  Start({"--data_dir=" + data_dir});
  EXPECT_EQ(Exchange(SignedPost(body)).body, "{\"sequence\":1}\n");
  EXPECT_EQ(Exchange(SignedPost(UniqueBody(9))).body, "{\"sequence\":3}\n");
  const v1::ListEventsResponse listed = list();
  ASSERT_EQ(listed.events_size(), 3);
  EXPECT_EQ(listed.events(0).body(), body);
  EXPECT_EQ(listed.events(1).body(), other);
}

TEST_F(HttpFrontTest, AStaleEventIs401AndCounted) {
  Start({"--max_event_age=168h"});
  // The fixture was published on 2024-06-12.
  HttpReply stale = Exchange(
      SignedPost(ReadTestData("events/workflowExecution.started.json")));
  EXPECT_EQ(stale.status, 401);
  EXPECT_EQ(ErrorReasonOf(stale), "STALE_EVENT") << stale.body;
  EXPECT_THAT(stale.body, HasSubstr("168h"));
  HttpReply fresh = Exchange(SignedPost(FreshBody(1)));
  EXPECT_EQ(fresh.status, 200) << fresh.body;
  EXPECT_EQ(fresh.body, "{\"sequence\":1}\n");
  const std::string text = Exchange(GetRequest("/metrics")).body;
  EXPECT_EQ(MetricValue(text,
                        "paradym_webhooks_webhooks_refused_total{"
                        "reason=\"STALE_EVENT\"}"),
            1);
}

TEST_F(HttpFrontTest, TheAgeDefaultsToTheRetentionAndCannotExceedIt) {
  // "--max_event_age=" leaves the flag unset: the retention applies.
  Start({"--retention=24h", "--max_event_age="});
  HttpReply stale =
      Exchange(SignedPost(FreshBody(1, absl::Now() - absl::Hours(48))));
  EXPECT_EQ(stale.status, 401);
  EXPECT_EQ(ErrorReasonOf(stale), "STALE_EVENT") << stale.body;
  EXPECT_THAT(stale.body, HasSubstr("24h"));
  EXPECT_EQ(
      Exchange(SignedPost(FreshBody(2, absl::Now() - absl::Hours(1)))).status,
      200);

  // An age beyond the retention would let a forgotten replay in: refused.
  auto child = ChildProcess::Start(testing::ServerOptions(
      {"--retention=24h", "--max_event_age=25h",
       "--data_dir=" + MakeTempDir() + "/data", "--grpc_address=127.0.0.1:0",
       "--http_address=127.0.0.1:0"},
      {{"PARADYM_WEBHOOK_SECRET", kSecret}}));
  ASSERT_THAT(child, IsOk());
  EXPECT_EQ((*child)->Wait(kTimeout).value_or(-1), 2);
  EXPECT_THAT((*child)->Stderr(), HasSubstr("must not exceed --retention"));
}

// The server reads a request across as many reads as it takes: the head and
// the body in pieces of a few bytes, and a chunked body one byte a chunk.
// Both stores: the in-memory log answers at once, SQLite from another thread.
TEST_F(HttpFrontTest, ARequestSentInTinyPiecesIsServed) {
  for (const char* store : {"--store=memory", "--store=sqlite"}) {
    SCOPED_TRACE(store);
    Start({store});
    RawHttpConnection connection(port());
    const std::string request = SignedPost(UniqueBody(1));
    for (std::size_t at = 0; at < request.size(); at += 5) {
      ASSERT_TRUE(connection.Send(request.substr(at, 5)));
    }
    absl::StatusOr<HttpReply> reply = connection.Read(kTimeout);
    ASSERT_THAT(reply, IsOk());
    EXPECT_EQ(reply->status, 200) << reply->body;
    EXPECT_EQ(reply->body, "{\"sequence\":1}\n");

    const std::string body = UniqueBody(2);
    ASSERT_TRUE(connection.Send(absl::StrCat(
        "POST /webhook HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
        "X-Paradym-HMAC-SHA-256: ",
        SignBody(kSecret, body), "\r\n\r\n")));
    for (char c : body) {
      ASSERT_TRUE(connection.Send(absl::StrCat("1\r\n", std::string(1, c))));
      ASSERT_TRUE(connection.Send("\r\n"));
    }
    ASSERT_TRUE(connection.Send("0\r\n\r\n"));
    reply = connection.Read(kTimeout);
    ASSERT_THAT(reply, IsOk());
    EXPECT_EQ(reply->status, 200) << reply->body;
    EXPECT_EQ(reply->body, "{\"sequence\":2}\n");
  }
}

// More pipelined requests than the server buffers at once (64 KiB), in one
// write: every one is answered, in order, on the same connection.
TEST_F(HttpFrontTest, APipelinedBurstIsAnsweredInOrder) {
  for (const char* store : {"--store=memory", "--store=sqlite"}) {
    SCOPED_TRACE(store);
    Start({store});
    constexpr int kRequests = 150;
    std::string burst;
    for (int i = 1; i <= kRequests; ++i) burst += SignedPost(UniqueBody(i));
    burst += GetRequest("/healthz");
    ASSERT_GT(burst.size(), 64 * 1024);
    RawHttpConnection connection(port());
    ASSERT_TRUE(connection.Send(burst));
    for (int i = 1; i <= kRequests; ++i) {
      absl::StatusOr<HttpReply> reply = connection.Read(kTimeout);
      ASSERT_THAT(reply, IsOk()) << i;
      ASSERT_EQ(reply->body, absl::StrCat("{\"sequence\":", i, "}\n"));
    }
    absl::StatusOr<HttpReply> health = connection.Read(kTimeout);
    ASSERT_THAT(health, IsOk());
    EXPECT_EQ(health->body, "{\"status\":\"ok\"}\n");
  }
}

// The read timeout starts anew with each request on a kept-alive connection
// and still cuts off one that stalls, however long the idle timeout is.
TEST_F(HttpFrontTest, ARequestThatStallsAfterServedOnesIsCutOff) {
  Start({"--http_read_timeout=1s", "--http_idle_timeout=60s"});
  RawHttpConnection connection(port());
  for (int i = 1; i <= 3; ++i) {
    absl::StatusOr<HttpReply> reply =
        connection.Exchange(SignedPost(UniqueBody(i)), kTimeout);
    ASSERT_THAT(reply, IsOk());
    ASSERT_EQ(reply->status, 200);
  }
  const absl::Time stalled = absl::Now();
  ASSERT_TRUE(connection.Send("POST /webhook HTTP/1.1\r\nHost: x\r\n"));
  EXPECT_TRUE(connection.ClosedWithin(absl::Seconds(20)));
  EXPECT_GE(absl::Now() - stalled, absl::Milliseconds(900));
  HttpReply page = Exchange(GetRequest("/metrics"));
  EXPECT_THAT(page.body,
              HasSubstr("paradym_webhooks_http_requests_total{code=\"408\","
                        "reason=\"REQUEST_TIMEOUT\"} 1\n"));
}

// The idle timeout counts from the last answer, not from the connection's
// start: a connection in use for longer than it stays open.
TEST_F(HttpFrontTest, AConnectionInUseOutlivesTheIdleTimeout) {
  Start({"--http_idle_timeout=1s"});
  RawHttpConnection connection(port());
  const absl::Time opened = absl::Now();
  int served = 0;
  while (absl::Now() - opened < absl::Milliseconds(2500) && served < 50) {
    absl::StatusOr<HttpReply> reply =
        connection.Exchange(GetRequest("/healthz"), kTimeout);
    ASSERT_THAT(reply, IsOk()) << "after " << served;
    ASSERT_EQ(reply->status, 200);
    ++served;
    absl::SleepFor(absl::Milliseconds(250));  // idle, but less than 1s
  }
  const absl::Time idle_since = absl::Now();
  EXPECT_TRUE(connection.ClosedWithin(kTimeout));
  EXPECT_GE(absl::Now() - idle_since, absl::Milliseconds(700));
}

// HTTPS keeps a connection for several requests, and a client that connects
// but never starts the TLS handshake is cut off after the read timeout.
TEST_F(HttpFrontTest, HttpsKeepsConnectionsAliveAndCutsOffSilentClients) {
  const std::string dir = MakeTempDir();
  ASSERT_THAT(testing::MakeTestCertificates(dir), IsOk());
  Start({"--http_tls_cert=" + dir + "/server.pem",
         "--http_tls_key=" + dir + "/server.key", "--http_read_timeout=1s"});
  const std::string healthz =
      absl::StrCat("https://127.0.0.1:", port(), "/healthz");
  // One line per URL: the status and how many connections curl opened.
  absl::StatusOr<testing::CommandResult> curl = testing::RunCommand(
      "/usr/bin/curl",
      {"-sS", "--max-time", "10", "--cacert", dir + "/ca.pem", "-w",
       "%{http_code} %{num_connects}\n", "-o", "/dev/null", healthz, "-o",
       "/dev/null", healthz, "-o", "/dev/null", healthz});
  ASSERT_THAT(curl, IsOk());
  EXPECT_EQ(curl->out, "200 1\n200 0\n200 0\n") << curl->err;

  RawHttpConnection silent(port());
  ASSERT_TRUE(silent.connected());
  const absl::Time connected = absl::Now();
  EXPECT_TRUE(silent.ClosedWithin(absl::Seconds(20)));
  EXPECT_GE(absl::Now() - connected, absl::Milliseconds(900));
}

// SIGTERM: new requests get 503, the one in flight completes, then exit 0.
TEST_F(HttpFrontTest, SigtermFinishesRequestsInFlightAndRefusesNewOnes) {
  Start({"--shutdown_grace_seconds=20"});
  const std::string body =
      ReadTestData("events/workflowExecution.started.json");
  RawHttpConnection in_flight(port()), probe(port()), idle(port());
  for (RawHttpConnection* connection : {&probe, &idle}) {
    ASSERT_THAT(connection->Exchange(GetRequest("/healthz"), kTimeout), IsOk());
  }
  // The server answers 100 Continue only once it has taken the request.
  ASSERT_TRUE(in_flight.Send(ExpectContinueHead(body)));
  absl::StatusOr<HttpReply> interim = in_flight.Read(kTimeout);
  ASSERT_THAT(interim, IsOk());
  ASSERT_EQ(interim->status, 100);

  ASSERT_EQ(::kill(server_->pid(), SIGTERM), 0);
  // Wait (bounded) until draining has begun: /readyz turns 503, or an answer
  // closes the connection (the server closes connections once draining).
  const absl::Time deadline = absl::Now() + kTimeout;
  bool draining = false;
  while (!draining && absl::Now() < deadline) {
    absl::StatusOr<HttpReply> reply =
        probe.Exchange(GetRequest("/readyz"), kTimeout);
    ASSERT_THAT(reply, IsOk()) << "server: " << server_->Stderr();
    draining = reply->status == 503 || reply->headers["connection"] == "close";
    if (reply->status == 503) {
      EXPECT_EQ(reply->headers["connection"], "close");
    }
  }
  ASSERT_TRUE(draining);
  // New webhooks are refused while draining.
  absl::StatusOr<HttpReply> refused = idle.Exchange(SignedPost(body), kTimeout);
  ASSERT_THAT(refused, IsOk());
  EXPECT_EQ(refused->status, 503);
  EXPECT_EQ(ErrorReasonOf(*refused), "SHUTTING_DOWN");
  EXPECT_EQ(refused->headers["connection"], "close");

  // The request in flight completes and is accepted.
  ASSERT_TRUE(in_flight.Send(body));
  absl::StatusOr<HttpReply> finished = in_flight.Read(kTimeout);
  ASSERT_THAT(finished, IsOk());
  EXPECT_EQ(finished->status, 200);
  EXPECT_EQ(finished->body, "{\"sequence\":1}\n");

  absl::StatusOr<int> exit_code = server_->Wait(absl::Seconds(20));
  ASSERT_THAT(exit_code, IsOk());
  EXPECT_EQ(*exit_code, 0);
}

}  // namespace
}  // namespace paradym::webhooks
