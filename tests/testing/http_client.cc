#include "tests/testing/http_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"

namespace paradym::webhooks::testing {

RawHttpConnection::RawHttpConnection(int port) {
  fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0) return;
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) !=
      0) {
    ::close(fd_);
    fd_ = -1;
    return;
  }
  const int one = 1;
  ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

RawHttpConnection::~RawHttpConnection() {
  if (fd_ >= 0) ::close(fd_);
}

bool RawHttpConnection::Send(absl::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

bool RawHttpConnection::Fill(absl::Time deadline) {
  for (;;) {
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) return false;
    pollfd p{fd_, POLLIN, 0};
    const int ready =
        ::poll(&p, 1, static_cast<int>(absl::ToInt64Milliseconds(left)) + 1);
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) return false;
    char chunk[65536];
    const ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    buffer_.append(chunk, static_cast<std::size_t>(n));
    return true;
  }
}

absl::StatusOr<HttpReply> RawHttpConnection::Read(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  std::size_t header_end;
  while ((header_end = buffer_.find("\r\n\r\n")) == std::string::npos) {
    if (!Fill(deadline)) {
      return absl::UnavailableError(absl::StrCat(
          "no complete response (closed or timed out); got: ", buffer_));
    }
  }
  HttpReply reply;
  std::vector<std::string> lines =
      absl::StrSplit(buffer_.substr(0, header_end), "\r\n");
  std::vector<std::string> status_line = absl::StrSplit(lines[0], ' ');
  if (status_line.size() < 2 ||
      !absl::SimpleAtoi(status_line[1], &reply.status)) {
    return absl::InternalError(absl::StrCat("bad status line: ", lines[0]));
  }
  for (std::size_t i = 1; i < lines.size(); ++i) {
    const std::size_t colon = lines[i].find(':');
    if (colon == std::string::npos) continue;
    reply.headers[absl::AsciiStrToLower(lines[i].substr(0, colon))] =
        std::string(absl::StripAsciiWhitespace(lines[i].substr(colon + 1)));
  }
  buffer_.erase(0, header_end + 4);
  std::size_t length = 0;
  if (auto it = reply.headers.find("content-length");
      it != reply.headers.end()) {
    if (!absl::SimpleAtoi(it->second, &length)) {
      return absl::InternalError("bad Content-Length");
    }
  }
  while (buffer_.size() < length) {
    if (!Fill(deadline)) return absl::UnavailableError("body cut short");
  }
  reply.body = buffer_.substr(0, length);
  buffer_.erase(0, length);
  return reply;
}

absl::StatusOr<HttpReply> RawHttpConnection::Exchange(absl::string_view request,
                                                      absl::Duration timeout) {
  if (!Send(request)) return absl::UnavailableError("cannot send");
  return Read(timeout);
}

bool RawHttpConnection::ClosedWithin(absl::Duration timeout) {
  return ReadUntilClosed(timeout).ok();
}

absl::StatusOr<std::string> RawHttpConnection::ReadUntilClosed(
    absl::Duration timeout) {
  std::string bytes = std::move(buffer_);
  buffer_.clear();
  const absl::Time deadline = absl::Now() + timeout;
  for (;;) {
    const absl::Duration left = deadline - absl::Now();
    pollfd p{fd_, POLLIN, 0};
    if (left <= absl::ZeroDuration() ||
        ::poll(&p, 1, static_cast<int>(absl::ToInt64Milliseconds(left)) + 1) <=
            0) {
      return absl::DeadlineExceededError("the server did not close");
    }
    char chunk[4096];
    const ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
    if (n <= 0) return bytes;
    bytes.append(chunk, static_cast<std::size_t>(n));
  }
}

std::string GetRequest(absl::string_view path) {
  return absl::StrCat("GET ", path, " HTTP/1.1\r\nHost: x\r\n\r\n");
}

std::string PostRequest(absl::string_view path, absl::string_view body,
                        absl::string_view signature,
                        absl::string_view content_type,
                        absl::string_view extra_headers) {
  std::string request = absl::StrCat("POST ", path,
                                     " HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                     "Content-Length: ",
                                     body.size(), "\r\n");
  if (!content_type.empty()) {
    absl::StrAppend(&request, "Content-Type: ", content_type, "\r\n");
  }
  if (!signature.empty()) {
    absl::StrAppend(&request, "X-Paradym-HMAC-SHA-256: ", signature, "\r\n");
  }
  absl::StrAppend(&request, extra_headers, "\r\n", body);
  return request;
}

std::string ErrorReasonOf(const HttpReply& reply) {
  const std::string key = "\"reason\":\"";
  const std::size_t at = reply.body.find(key);
  if (at == std::string::npos) return "";
  const std::size_t start = at + key.size();
  return reply.body.substr(start, reply.body.find('"', start) - start);
}

absl::StatusOr<HttpReply> HttpExchange(int port, absl::string_view request,
                                       absl::Duration timeout) {
  RawHttpConnection connection(port);
  if (!connection.connected()) return absl::UnavailableError("cannot connect");
  return connection.Exchange(request, timeout);
}

std::uint64_t SequenceOf(const HttpReply& reply) {
  const std::string key = "{\"sequence\":";
  if (reply.body.rfind(key, 0) != 0) return 0;
  const std::size_t end = reply.body.find_first_of(",}", key.size());
  std::uint64_t sequence = 0;
  if (end == std::string::npos ||
      !absl::SimpleAtoi(reply.body.substr(key.size(), end - key.size()),
                        &sequence)) {
    return 0;
  }
  return sequence;
}

bool PendingReplication(const HttpReply& reply) {
  return absl::StrContains(reply.body, "\"pending_replication\":true");
}

}  // namespace paradym::webhooks::testing
