// A raw HTTP/1.1 client over one TCP connection to 127.0.0.1, for tests
// that must control every byte: partial requests, chunked bodies, slow
// clients, pipelining.
//
//   RawHttpConnection connection(port);
//   absl::StatusOr<HttpReply> reply =
//       connection.Exchange(GetRequest("/healthz"), absl::Seconds(10));
//   reply->status;  // 200

#ifndef PARADYM_WEBHOOKS_TESTS_TESTING_HTTP_CLIENT_H_
#define PARADYM_WEBHOOKS_TESTS_TESTING_HTTP_CLIENT_H_

#include <cstdint>
#include <map>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace paradym::webhooks::testing {

struct HttpReply {
  int status = 0;
  std::map<std::string, std::string> headers;  // names in lower case
  std::string body;
};

class RawHttpConnection {
 public:
  explicit RawHttpConnection(int port);
  ~RawHttpConnection();
  RawHttpConnection(const RawHttpConnection&) = delete;
  RawHttpConnection& operator=(const RawHttpConnection&) = delete;

  bool connected() const { return fd_ >= 0; }

  // Writes all of `bytes`; false when the peer closed or failed.
  bool Send(absl::string_view bytes);

  // Reads one response (status line, headers, Content-Length body).
  absl::StatusOr<HttpReply> Read(absl::Duration timeout);

  // Send(request), then Read(timeout); UNAVAILABLE when it cannot send.
  absl::StatusOr<HttpReply> Exchange(absl::string_view request,
                                     absl::Duration timeout);

  // True when the server closes the connection within `timeout` (reading
  // and dropping anything it still sends).
  bool ClosedWithin(absl::Duration timeout);

  // Every byte the server sends (after what Read consumed) until it closes
  // the connection; DEADLINE_EXCEEDED if it does not within `timeout`.
  absl::StatusOr<std::string> ReadUntilClosed(absl::Duration timeout);

 private:
  // Reads more bytes into buffer_; false on close, error or timeout.
  bool Fill(absl::Time deadline);

  int fd_ = -1;
  std::string buffer_;
};

// A GET of `path`, as a client that keeps the connection open sends it.
std::string GetRequest(absl::string_view path);

// A POST of `body` to `path` with the given signature header (omitted when
// empty) and Content-Type (omitted when empty).
std::string PostRequest(absl::string_view path, absl::string_view body,
                        absl::string_view signature,
                        absl::string_view content_type = "application/json",
                        absl::string_view extra_headers = "");

// The reason named in an error body {"error":{"reason":"..."}}, or "".
std::string ErrorReasonOf(const HttpReply& reply);

// The sequence in a 200's body {"sequence":N...}, 0 if there is none (also
// for {"sequence":0,"pending_replication":true}).
std::uint64_t SequenceOf(const HttpReply& reply);

// Whether a 200's body says the event is pending replication.
bool PendingReplication(const HttpReply& reply);

// One request on a fresh connection.
absl::StatusOr<HttpReply> HttpExchange(
    int port, absl::string_view request,
    absl::Duration timeout = absl::Seconds(30));

}  // namespace paradym::webhooks::testing

#endif  // PARADYM_WEBHOOKS_TESTS_TESTING_HTTP_CLIENT_H_
