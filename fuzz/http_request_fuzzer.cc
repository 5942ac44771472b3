// The HTTP request path as a client sees it: the input is written as is to
// a fresh loopback connection of a real HttpServer (Beast, the same code as
// paradym-webhooksd's HTTP front, over WebhookHttpAdapter and an in-memory
// log), the connection is half-closed, and everything the server sends
// until it closes is read back.
//
// Properties: never a crash, a hang or a leak; what comes back is a
// sequence of whole HTTP/1.1 responses, each with a status line (a status
// from 100 to 599 and a reason phrase), a Content-Length and that many bytes
// of body (none after a HEAD); no input makes the server answer 500.
//
// The server's secret is "fuzz-secret", so seeds with a valid signature
// (fuzz/corpus/http_request) reach the ingest path and the log.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/buffer.hpp>
#include <boost/beast/http.hpp>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "fuzz/fuzz_check.h"
#include "server/core/clock.h"
#include "server/core/memory_event_log.h"
#include "server/core/signature_verifier.h"
#include "server/core/subscription_hub.h"
#include "server/core/webhook_ingestor.h"
#include "server/http/http_server.h"
#include "server/http/webhook_http_adapter.h"

namespace {

namespace pw = ::paradym::webhooks;
namespace http = ::boost::beast::http;

// Longer than the server's read timeout: a request cut short by the
// half-close is answered or dropped well before.
constexpr absl::Duration kResponseDeadline = absl::Seconds(10);

// One server for the whole run, as in production: state left by one input
// (stored events, counters) is what the next one meets.
struct Server {
  Server()
      : log({1000, std::size_t{16} << 20}),
        hub(log, {}),
        ingestor(IngestorOptions(),
                 pw::SignatureVerifier(std::vector<pw::EndpointSecrets>{
                     {"default", {"fuzz-secret"}}, {"shop", {"shop-secret"}}}),
                 log, hub, clock),
        adapter(ingestor, hub, log),
        http(HttpOptions(), adapter) {
    adapter.SetReady(true);
  }

  static pw::WebhookIngestor::Options IngestorOptions() {
    pw::WebhookIngestor::Options options;
    options.max_body_bytes = 64 * 1024;
    return options;
  }

  static pw::HttpServer::Options HttpOptions() {
    pw::HttpServer::Options options;
    options.address = "127.0.0.1:0";
    options.threads = 1;
    options.read_timeout = absl::Seconds(2);
    options.idle_timeout = absl::Seconds(2);
    return options;
  }

  pw::RealClock clock;
  pw::MemoryEventLog log;
  pw::SubscriptionHub hub;
  pw::WebhookIngestor ingestor;
  pw::WebhookHttpAdapter adapter;
  pw::HttpServer http;
  int port = 0;
};

Server* server = nullptr;  // lives until the process exits

int Connect() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  FUZZ_CHECK(fd >= 0) << "socket: " << errno;
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<std::uint16_t>(server->port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) !=
      0) {
    // Interrupted by libFuzzer's SIGALRM (-timeout): the connection is
    // still being made; wait for it.
    FUZZ_CHECK(errno == EINTR) << "connect: " << errno;
    pollfd p{fd, POLLOUT, 0};
    while (::poll(&p, 1, -1) < 0 && errno == EINTR) {
    }
    int error = 0;
    socklen_t length = sizeof error;
    ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length);
    FUZZ_CHECK(error == 0) << "connect: " << error;
  }
  return fd;
}

// The server's connection counts, for a hang.
std::string ServerCounts() {
  pw::HttpConnectionStats& stats = server->adapter.connection_stats();
  return absl::StrCat("connections accepted ", stats.accepted.value(),
                      ", open ", stats.open.load(), ", refused ",
                      stats.refused.value());
}

// Sends `request` (as much as the server takes: it may close early after
// refusing a request) and half-closes, then returns what the server sends
// until it closes.
std::string Exchange(absl::string_view request) {
  const int fd = Connect();
  const absl::Time deadline = absl::Now() + kResponseDeadline;
  std::string response;
  char chunk[16 * 1024];
  bool writing = true;
  while (true) {
    if (writing && request.empty()) {
      ::shutdown(fd, SHUT_WR);
      writing = false;
    }
    pollfd p{fd, static_cast<short>(POLLIN | (writing ? POLLOUT : 0)), 0};
    const int timeout_ms =
        static_cast<int>(absl::ToInt64Milliseconds(deadline - absl::Now()));
    FUZZ_CHECK(timeout_ms > 0)
        << "the server neither answered nor closed within "
        << absl::FormatDuration(kResponseDeadline) << "; " << ServerCounts()
        << "; received " << response.size() << " bytes";
    // libFuzzer's SIGALRM (-timeout) interrupts these calls now and then.
    const int ready = ::poll(&p, 1, timeout_ms);
    if (ready < 0 && errno == EINTR) continue;
    FUZZ_CHECK(ready >= 0) << "poll: " << errno;
    if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
      const ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;  // closed, or reset after closing
      response.append(chunk, static_cast<std::size_t>(n));
    } else if (writing && (p.revents & POLLOUT)) {
      const ssize_t n =
          ::send(fd, request.data(), request.size(), MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        ::shutdown(fd, SHUT_WR);  // the server stopped reading
        writing = false;
      } else {
        request.remove_prefix(static_cast<std::size_t>(n));
      }
    }
  }
  ::close(fd);
  return response;
}

// Checks that `bytes` is a sequence of whole responses to `request`.
void CheckResponses(absl::string_view bytes, absl::string_view request) {
  int responses = 0;
  while (!bytes.empty()) {
    http::response_parser<http::empty_body> parser;
    parser.eager(false);
    boost::beast::error_code ec;
    const std::size_t header_bytes =
        parser.put(boost::asio::buffer(bytes.data(), bytes.size()), ec);
    FUZZ_CHECK(!ec && parser.is_header_done())
        << "response " << responses << " has no whole head (" << ec.message()
        << "):\n"
        << bytes;
    const http::response_header<>& head = parser.get().base();
    const unsigned status = head.result_int();
    FUZZ_CHECK(head.version() == 11 && status >= 100 && status <= 599 &&
               !head.reason().empty())
        << "bad status line:\n"
        << bytes;
    FUZZ_CHECK(status != 500) << "untrusted input is never an internal "
                                 "error; request:\n"
                              << request << "\nresponse:\n"
                              << bytes;
    bytes.remove_prefix(header_bytes);
    ++responses;
    if (status < 200) continue;  // 100 Continue: the final answer follows
    FUZZ_CHECK(parser.content_length().has_value()) << "no Content-Length:\n"
                                                    << bytes;
    const std::uint64_t length = *parser.content_length();
    // A HEAD is answered with the length of the body it would get, and no
    // body: the next response, or the end, follows the head at once.
    if (length > 0 && (bytes.empty() || absl::StartsWith(bytes, "HTTP/1.1 ")) &&
        absl::StrContains(request, "HEAD")) {
      continue;
    }
    FUZZ_CHECK(bytes.size() >= length)
        << "the body is shorter than its Content-Length " << length;
    bytes.remove_prefix(length);
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv) {
  server = new Server;
  absl::StatusOr<int> port = server->http.Start();
  FUZZ_CHECK(port.ok()) << port.status();
  server->port = *port;
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size) {
  const absl::string_view request(reinterpret_cast<const char*>(data), size);
  CheckResponses(Exchange(request), request);
  return 0;
}
