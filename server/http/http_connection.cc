#include "server/http/http_connection.h"

#include <algorithm>
#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "server/core/errors.h"
#include "server/http/http_request_parser.h"

namespace paradym::webhooks {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;
using SteadyClock = HttpClock;
using Socket = HttpSocket;
using TlsStream = HttpTlsStream;
using Timer =
    net::basic_waitable_timer<SteadyClock, net::wait_traits<SteadyClock>,
                              net::io_context::executor_type>;

// How much is read at once while waiting for a request to start.
constexpr std::size_t kReadChunk = 16 * 1024;
// After refusing a request whose body was not read, how long and how much of
// it is read and dropped before closing, so that the kernel does not answer
// the unread bytes with a reset that would destroy our response.
constexpr auto kLingerTime = std::chrono::seconds(2);
constexpr std::size_t kLingerBytes = 4 << 20;
// The most bytes of a request held at once before they are parsed.
constexpr std::size_t kMaxBufferedBytes = 64 * 1024;
// A connection keeps its response's buffer for the next request up to this
// size, and frees a larger one.
constexpr std::size_t kKeptResponseCapacity = 16 * 1024;

SteadyClock::duration ToChrono(absl::Duration d) {
  return std::chrono::duration_cast<SteadyClock::duration>(
      absl::ToChronoNanoseconds(d));
}

// The status line's reason phrase: Beast's, from RFC 7231 (clients ignore it,
// RFC 9112 section 4).
absl::string_view ReasonPhrase(int status) {
  const beast::string_view reason =
      http::obsolete_reason(http::int_to_status(status));
  return {reason.data(), reason.size()};
}

// The thread-local mark of the connection whose OnBody is on this thread's
// stack: the adapter's answer for it is taken inline, not posted.
thread_local const void* answering_inline = nullptr;

// One connection, over `Stream` (Socket or TlsStream). Owned by the
// shared_ptrs its pending socket operation or the adapter's pending answer
// hold (its timer holds only a weak_ptr); all its handlers run on its
// worker's thread.
//
// It reads into one bounded buffer and feeds the parser itself, answers with
// one non-blocking send when the response fits the socket (plain TCP), and
// keeps one deadline with one timer. The timer is re-armed only when the
// deadline moves earlier than where it is armed (a request that is not read
// whole, a write that blocks, a close): moving it later (every request that
// arrives whole and is answered at once) only stores a time, and a timer
// that fires before the deadline is armed again for it.
template <typename Stream>
class HttpConnection final : public HttpWorker::Connection {
 public:
  // `tls` is null for a Socket; it must outlive the stream.
  HttpConnection(Socket&& socket, HttpServerState& server, HttpWorker& worker,
                 bool loopback, std::shared_ptr<net::ssl::context> tls)
      : tls_(std::move(tls)),
        stream_(MakeStream(std::move(socket), tls_.get())),
        timer_(worker.context()),
        server_(server),
        worker_(worker),
        loopback_(loopback) {}

  ~HttpConnection() override {
    if (request_started_) server_.requests.Finished();
    server_.adapter.connection_stats().open.fetch_sub(1);
  }

  void Run() {
    net::dispatch(worker_.context(), [self = Self()] {
      if constexpr (kTls) {
        self->Handshake();
      } else {
        beast::error_code ignored;
        self->stream_.non_blocking(true, ignored);
        self->WaitForRequest();
        self->Pump();
      }
    });
  }

  // The adapter's answer, made on another thread.
  void Answer(HttpResponse response) override {
    if (phase_ != Phase::kProcessing) return;  // closed meanwhile
    Send(std::move(response), !keep_alive_);
    Pump();
  }

 private:
  static constexpr bool kTls = std::is_same_v<Stream, TlsStream>;

  enum class Phase {
    kHandshake,   // TLS, within the read timeout
    kIdle,        // between requests, within the idle timeout
    kRequest,     // a request is being read, within the read timeout
    kContinue,    // writing 100 Continue, within the request's read timeout
    kProcessing,  // the adapter has the request; no deadline
    kWriting,     // writing the response, within the read timeout
    kLinger,      // half-closed, reading and dropping, for kLingerTime
    kClosed,
  };

  static Stream MakeStream(Socket&& socket, net::ssl::context* tls) {
    if constexpr (kTls) {
      return Stream(std::move(socket), *tls);
    } else {
      return Stream(std::move(socket));
    }
  }

  std::shared_ptr<HttpConnection> Self() {
    return std::static_pointer_cast<HttpConnection>(this->shared_from_this());
  }

  Socket& Tcp() {
    if constexpr (kTls) {
      return stream_.next_layer();
    } else {
      return stream_;
    }
  }

  // TLS: the handshake must finish within the read timeout.
  void Handshake() {
    phase_ = Phase::kHandshake;
    deadline_ = SteadyClock::now() + server_.read_timeout;
    ArmTimer();
    stream_.async_handshake(net::ssl::stream_base::server,
                            [self = Self()](beast::error_code ec) {
                              if (self->phase_ != Phase::kHandshake) return;
                              if (ec) return self->Shut();
                              self->WaitForRequest();
                              self->Pump();
                            });
  }

  // Between requests: the next one must start within the idle timeout.
  // While draining, a request that still comes is answered (503, and the
  // connection closed) rather than dropped unanswered.
  void WaitForRequest() {
    phase_ = Phase::kIdle;
    deadline_ = SteadyClock::now() + server_.idle_timeout;
  }

  // Moves the connection on until it must wait: parses what is buffered,
  // answers what it can, and reads when it needs more. Every handler ends
  // here; what it calls only changes the phase, so a burst of pipelined
  // requests is a loop, not a recursion.
  void Pump() {
    for (;;) {
      switch (phase_) {
        case Phase::kIdle:
          if (buffer_.size() == 0) return Read();
          StartRequest();
          break;
        case Phase::kRequest:
          if (!ParseSome()) return;
          break;
        default:
          return;  // a write, the adapter, the linger or nothing pending
      }
    }
  }

  // A request has begun: all of it must arrive within the read timeout.
  void StartRequest() {
    phase_ = Phase::kRequest;
    deadline_ = SteadyClock::now() + server_.read_timeout;
    head_request_ = false;
    head_seen_ = false;
    parser_.emplace(request_, server_.adapter.max_body_bytes());
    parser_->header_limit(
        static_cast<std::uint32_t>(server_.options.max_header_bytes));
    // The adapter judges the Content-Length from the head, and answers 404
    // or 405 before 413; the limit applies while reading the body.
    parser_->body_limit(boost::none);
  }

  // One step of reading the request; false when it waits for bytes.
  bool ParseSome() {
    if (parser_->is_header_done() && !head_seen_) {
      head_seen_ = true;
      OnHeader();
      return true;
    }
    if (parser_->is_done()) {
      OnRequest();
      return true;
    }
    if (buffer_.size() == 0) {
      Read();
      return false;
    }
    beast::error_code ec;
    buffer_.consume(parser_->put(buffer_.data(), ec));
    if (ec == http::error::need_more) {
      Read();
      return false;
    }
    if (ec) OnParseError(ec);
    return true;
  }

  // Waits for more bytes of the request (or of the next one).
  void Read() {
    const std::size_t room = kMaxBufferedBytes - buffer_.size();
    if (room == 0) return OnParseError(http::error::buffer_overflow);
    ArmTimer();
    stream_.async_read_some(
        buffer_.prepare(std::min(kReadChunk, room)),
        [self = Self()](beast::error_code ec, std::size_t n) {
          self->OnRead(ec, n);
        });
  }

  void OnRead(beast::error_code ec, std::size_t n) {
    if (phase_ == Phase::kClosed) return;
    buffer_.commit(n);
    if (ec && phase_ == Phase::kIdle) return Close();
    if (ec == net::error::eof && parser_->got_some()) {
      // The client ended the connection inside a request: Beast calls that
      // a partial message.
      parser_->put_eof(ec);
    }
    if (ec) return OnParseError(ec);
    Pump();
  }

  void OnHeader() {
    request_started_ = true;
    server_.requests.Started();
    // A response to HEAD has no body (RFC 9110 9.3.2): a pipelined request
    // after it would otherwise be read from that body's bytes.
    head_request_ = request_.method == http::verb::head;
    if (request_.transfer_encodings > 1 || !request_.only_chunked) {
      // RFC 9112 6.3: the body's length cannot be known; a request hidden in
      // it must never be served.
      return Refuse(MakeError(absl::StatusCode::kInvalidArgument,
                              kMalformedHttp,
                              "Transfer-Encoding other than chunked"));
    }
    HttpRequestHead head;
    head.method = request_.method_string;
    head.target = request_.target;
    head.content_type = request_.content_type.view();
    const boost::optional<std::uint64_t> length = parser_->content_length();
    head.has_content_length = length.has_value();
    head.content_length = length.value_or(0);
    head.chunked = parser_->chunked();
    head.loopback_peer = loopback_;
    head.metrics_listener = server_.options.metrics_only;
    const bool body_pending =
        head.chunked || (head.has_content_length && head.content_length > 0);

    WebhookHttpAdapter::HeadDecision decision = server_.adapter.OnHead(head);
    if (decision.response) {
      // An unread body cannot be skipped reliably: close after answering.
      return Send(std::move(*decision.response),
                  body_pending || !parser_->keep_alive());
    }
    endpoint_ = std::move(decision.endpoint);
    parser_->body_limit(server_.adapter.max_body_bytes());
    parser_->eager(true);
    ContinueIfExpected();
  }

  // Sends 100 Continue when the client waits for it before sending the body.
  // HTTP/1.0 clients do not know it (RFC 9110 10.1.1).
  void ContinueIfExpected() {
    if (request_.version < 11 ||
        !absl::EqualsIgnoreCase(request_.expect.view(), "100-continue")) {
      return;
    }
    static constexpr absl::string_view kContinue =
        "HTTP/1.1 100 Continue\r\n\r\n";
    phase_ = Phase::kContinue;
    out_.assign(kContinue.data(), kContinue.size());
    Write();  // the request's read deadline goes on
  }

  void OnRequest() {
    phase_ = Phase::kProcessing;
    deadline_ = SteadyClock::time_point::max();
    keep_alive_ = parser_->keep_alive();
    // The core may answer before OnBody returns (the in-memory log always
    // does); then the answer is sent right here instead of being posted.
    answering_inline = this;
    server_.adapter.OnBody(endpoint_, request_.body, request_.signature.view(),
                           [self = Self()](HttpResponse response) mutable {
                             if (answering_inline == self.get()) {
                               self->inline_response_ = std::move(response);
                               return;
                             }
                             HttpWorker& worker = self->worker_;
                             worker.Deliver(std::move(self),
                                            std::move(response));
                           });
    answering_inline = nullptr;
    if (inline_response_) {
      HttpResponse response = std::move(*inline_response_);
      inline_response_.reset();
      Send(std::move(response), !keep_alive_);
    }
  }

  // A read of the request failed: the bytes are not HTTP or too large, or
  // the client went away.
  void OnParseError(beast::error_code ec) {
    if (ec == http::error::end_of_stream || ec == net::error::eof ||
        ec == net::error::connection_reset) {
      return Close();
    }
    if (!head_seen_) {
      if (ec == http::error::header_limit) {
        return Refuse(MakeError(absl::StatusCode::kInvalidArgument,
                                kHeadersTooLarge,
                                "the request header is too large"));
      }
      return Refuse(
          MakeError(absl::StatusCode::kInvalidArgument, kMalformedHttp,
                    absl::StrCat("malformed HTTP request: ", ec.message())));
    }
    if (ec == http::error::body_limit) {
      return Refuse(
          MakeError(absl::StatusCode::kInvalidArgument, kBodyTooLarge,
                    absl::StrCat("the body is larger than the limit of ",
                                 server_.adapter.max_body_bytes(), " bytes")));
    }
    if (ec == http::error::buffer_overflow || ec == http::error::header_limit) {
      return Refuse(MakeError(absl::StatusCode::kInvalidArgument,
                              kHeadersTooLarge,
                              "a chunk header or the trailers are too large"));
    }
    Refuse(
        MakeError(absl::StatusCode::kInvalidArgument, kMalformedHttp,
                  absl::StrCat("malformed HTTP request body: ", ec.message())));
  }

  // An error before or while reading: answer it and close.
  void Refuse(const absl::Status& status) {
    Send(server_.adapter.ErrorResponse(status), /*close=*/true);
  }

  void Send(HttpResponse response, bool close) {
    // Reuses the buffer of the previous response on this connection.
    out_.clear();
    absl::StrAppend(&out_, "HTTP/1.1 ", response.status, " ",
                    ReasonPhrase(response.status),
                    "\r\nContent-Type: ", response.content_type,
                    "\r\nContent-Length: ", response.body.size(), "\r\n");
    if (!response.allow.empty()) {
      absl::StrAppend(&out_, "Allow: ", response.allow, "\r\n");
    }
    if (close || server_.draining.load()) {
      close = true;
      out_ += "Connection: close\r\n";
    }
    out_ += "\r\n";
    if (!head_request_) out_ += response.body;
    close_after_ = close;
    phase_ = Phase::kWriting;
    deadline_ = SteadyClock::time_point::max();  // set if the write must wait
    Write();
  }

  // Writes out_ (a response, or 100 Continue). Over plain TCP it is first
  // sent at once, without waiting: a response nearly always fits the
  // socket's buffer. What does not is written asynchronously, within the
  // read timeout (100 Continue: within the request's).
  void Write() {
    std::size_t written = 0;
    if constexpr (!kTls) {
      beast::error_code ec;
      written = stream_.write_some(net::buffer(out_), ec);
      if (ec && ec != net::error::would_block) {
        return Written(ec);
      }
      if (written == out_.size()) return Written({});
    }
    if (deadline_ == SteadyClock::time_point::max()) {
      deadline_ = SteadyClock::now() + server_.read_timeout;
    }
    ArmTimer();
    net::async_write(stream_,
                     net::buffer(out_.data() + written, out_.size() - written),
                     [self = Self()](beast::error_code ec, std::size_t) {
                       if (self->phase_ == Phase::kClosed) return;
                       self->Written(ec);
                       self->Pump();
                     });
  }

  void Written(beast::error_code ec) {
    if (phase_ == Phase::kContinue) {
      if (ec) return Close();
      phase_ = Phase::kRequest;
      return;
    }
    if (request_started_) {
      request_started_ = false;
      server_.requests.Finished();
    }
    if (out_.capacity() > kKeptResponseCapacity) std::string().swap(out_);
    if (ec || close_after_) return Close();
    WaitForRequest();
  }

  // Half-closes, then reads and drops what the client still sends for a
  // moment, so that our last response is not lost to a reset. (With TLS the
  // TCP connection is closed without a close_notify: every response is
  // delimited by its Content-Length, so a client loses nothing.)
  void Close() {
    if (phase_ == Phase::kClosed || phase_ == Phase::kLinger) return;
    beast::error_code ignored;
    Tcp().shutdown(tcp::socket::shutdown_send, ignored);
    phase_ = Phase::kLinger;
    // One deadline for all of it: a client trickling bytes must not keep
    // the connection open by re-arming it.
    deadline_ = SteadyClock::now() + kLingerTime;
    Linger();
  }

  void Linger() {
    if (lingered_ >= kLingerBytes) return Shut();
    buffer_.clear();
    ArmTimer();
    Tcp().async_read_some(buffer_.prepare(kReadChunk),
                          [self = Self()](beast::error_code ec, std::size_t n) {
                            if (self->phase_ == Phase::kClosed) return;
                            self->lingered_ += n;
                            if (ec) return self->Shut();
                            self->Linger();
                          });
  }

  // Closes the socket at once; pending operations end with an error.
  void Shut() {
    phase_ = Phase::kClosed;
    beast::error_code ignored;
    Tcp().close(ignored);
    timer_.cancel();
  }

  // The deadline passed while waiting.
  void TimedOut() {
    if (phase_ == Phase::kRequest) {
      // The request did not arrive within the read timeout: there is no
      // answer to send, but it is counted as a 408.
      server_.adapter.ErrorResponse(
          MakeError(absl::StatusCode::kDeadlineExceeded, kRequestTimeout,
                    "the request did not arrive within the read timeout"));
    }
    Shut();
  }

  // Before waiting: makes sure the timer fires by the deadline.
  void ArmTimer() {
    if (deadline_ >= armed_) return;
    armed_ = deadline_;
    timer_.expires_at(deadline_);  // cancels the wait for the later time
    timer_.async_wait([self = this->weak_from_this(),
                       generation = ++timer_generation_](beast::error_code) {
      if (std::shared_ptr<HttpWorker::Connection> session = self.lock()) {
        static_cast<HttpConnection*>(session.get())->OnTimer(generation);
      }
    });
  }

  void OnTimer(std::uint64_t generation) {
    // A wait that was cancelled or replaced by an earlier one.
    if (generation != timer_generation_ || phase_ == Phase::kClosed) return;
    armed_ = SteadyClock::time_point::max();
    if (deadline_ == SteadyClock::time_point::max()) return;  // nothing to time
    if (SteadyClock::now() < deadline_) return ArmTimer();    // it moved on
    TimedOut();
  }

  const std::shared_ptr<net::ssl::context> tls_;
  Stream stream_;
  Timer timer_;
  HttpServerState& server_;
  HttpWorker& worker_;
  const bool loopback_;  // the peer's address is a loopback one
  Phase phase_ = Phase::kIdle;
  // When the current wait must end, and when the timer fires (max: not
  // armed); deadline_ is max while the adapter has the request.
  SteadyClock::time_point deadline_ = SteadyClock::time_point::max();
  SteadyClock::time_point armed_ = SteadyClock::time_point::max();
  std::uint64_t timer_generation_ = 0;
  // Bounded: the body is moved out of it as it arrives, so only a header,
  // a chunk header with its extensions or the trailers must fit, and a
  // client that sends an endless one is refused, not buffered.
  beast::flat_buffer buffer_{kMaxBufferedBytes};
  ParsedHttpRequest request_;
  std::optional<HttpRequestParser> parser_;
  bool head_seen_ = false;  // OnHeader ran for the request being read
  std::string endpoint_;
  bool keep_alive_ = true;
  std::optional<HttpResponse> inline_response_;
  std::string out_;
  bool close_after_ = false;  // close once out_ is written
  bool request_started_ = false;
  // The request being answered is a HEAD: the answer carries no body.
  bool head_request_ = false;
  std::size_t lingered_ = 0;
};

}  // namespace

void InFlightRequests::Finished() {
  // The last request in flight wakes a WaitForNone: releasing the mutex
  // makes it check its condition again.
  if (count_.fetch_sub(1) == 1 && waiters_.load() > 0) {
    absl::MutexLock lock(&mu_);
  }
}

bool InFlightRequests::WaitForNone(absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  waiters_.fetch_add(1);
  const bool none = mu_.AwaitWithTimeout(
      absl::Condition(
          +[](std::atomic<int>* count) { return count->load() == 0; }, &count_),
      timeout);
  waiters_.fetch_sub(1);
  return none;
}

HttpServerState::HttpServerState(HttpServer::Options options,
                                 WebhookHttpAdapter& adapter)
    : options(std::move(options)),
      read_timeout(ToChrono(this->options.read_timeout)),
      idle_timeout(ToChrono(this->options.idle_timeout)),
      adapter(adapter) {}

void StartHttpConnection(HttpSocket socket, HttpServerState& server,
                         HttpWorker& worker, bool loopback,
                         std::shared_ptr<net::ssl::context> tls) {
  if (tls != nullptr) {
    std::make_shared<HttpConnection<TlsStream>>(
        std::move(socket), server, worker, loopback, std::move(tls))
        ->Run();
  } else {
    std::make_shared<HttpConnection<Socket>>(std::move(socket), server, worker,
                                             loopback, nullptr)
        ->Run();
  }
}

}  // namespace paradym::webhooks
