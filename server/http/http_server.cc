#include "server/http/http_server.h"

#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "server/core/errors.h"
#include "server/core/structured_log.h"
#include "server/core/tls_files.h"

namespace paradym::webhooks {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;
using SteadyClock = std::chrono::steady_clock;
// Bound to an io_context's executor, not any_io_executor: every operation
// saves the type-erased executor's cost.
using Socket = net::basic_stream_socket<tcp, net::io_context::executor_type>;
using TlsStream = net::ssl::stream<Socket>;
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
constexpr auto kAcceptRetry = std::chrono::milliseconds(100);
// The most bytes of a request held at once before they are parsed.
constexpr std::size_t kMaxBufferedBytes = 64 * 1024;
// A connection keeps its request body's and its response's buffers for the
// next request up to these sizes, and frees larger ones.
constexpr std::size_t kKeptBodyCapacity = 16 * 1024;
constexpr std::size_t kKeptResponseCapacity = 16 * 1024;
// File descriptors kept for everything but HTTP connections: the stores'
// files, gRPC, NATS, accepting and refusing one more connection.
constexpr std::size_t kReservedFiles = 128;

// Raises the soft limit on open files to the hard one and returns the
// connections that fit under it, at most `wanted`.
std::size_t ConnectionsThatFit(std::size_t wanted) {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) return wanted;
  if (limit.rlim_cur < limit.rlim_max) {
    rlimit raised = limit;
    raised.rlim_cur = limit.rlim_max;
    if (::setrlimit(RLIMIT_NOFILE, &raised) == 0) limit = raised;
  }
  if (limit.rlim_cur == RLIM_INFINITY) return wanted;
  const std::size_t files = static_cast<std::size_t>(limit.rlim_cur);
  const std::size_t fit =
      files > 2 * kReservedFiles ? files - kReservedFiles : files / 2;
  if (fit >= wanted) return wanted;
  Log(LogLevel::kWarning,
      "--http_max_connections is lowered to what the open-file limit allows",
      {{"http_max_connections", fit}, {"open_file_limit", files}});
  return fit;
}

absl::string_view View(beast::string_view s) { return {s.data(), s.size()}; }

SteadyClock::duration ToChrono(absl::Duration d) {
  return std::chrono::duration_cast<SteadyClock::duration>(
      absl::ToChronoNanoseconds(d));
}

absl::string_view StatusText(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 411:
      return "Length Required";
    case 413:
      return "Content Too Large";
    case 415:
      return "Unsupported Media Type";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 501:
      return "Not Implemented";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    default:
      return "Internal Server Error";
  }
}

// What the parser keeps of a request: the fields the server and the adapter
// look at, copied out of the read buffer (which moves on), into strings that
// keep their capacity from one request on a connection to the next.
struct ParsedRequest {
  http::verb method = http::verb::unknown;
  std::string method_string;
  std::string target;
  int version = 11;
  // The first field of each name, as `request[name]` would give it.
  struct Field {
    std::string value;
    bool present = false;

    void Set(beast::string_view v) {
      if (present) return;
      value.assign(v.data(), v.size());
      present = true;
    }
    absl::string_view view() const {
      return present ? absl::string_view(value) : absl::string_view();
    }
  };
  Field content_type;
  Field expect;
  Field signature;
  int transfer_encodings = 0;
  bool only_chunked = true;  // every Transfer-Encoding field says "chunked"
  std::string body;

  void Clear() {
    content_type.present = false;
    expect.present = false;
    signature.present = false;
    transfer_encodings = 0;
    only_chunked = true;
    body.clear();
    // A large body's buffer is not kept for the next request: with many
    // connections it would add up to max_body_bytes each.
    if (body.capacity() > kKeptBodyCapacity) std::string().swap(body);
  }
};

// Beast's HTTP/1.1 request parser (the same state machine as
// http::request_parser) writing into a ParsedRequest: no message object, no
// list of fields, no allocation once the connection's strings have grown.
// Like any basic_parser it parses one message; a new one is emplaced per
// request (which costs nothing: it holds no memory).
class RequestParser final : public http::basic_parser<true> {
 public:
  RequestParser(ParsedRequest& request, std::size_t max_body_bytes)
      : request_(request), max_body_bytes_(max_body_bytes) {
    request_.Clear();
  }

 private:
  void on_request_impl(http::verb method, beast::string_view method_string,
                       beast::string_view target, int version,
                       beast::error_code&) override {
    request_.method = method;
    request_.method_string.assign(method_string.data(), method_string.size());
    request_.target.assign(target.data(), target.size());
    request_.version = version;
  }

  void on_response_impl(int, beast::string_view, int,
                        beast::error_code& ec) override {
    ec = http::error::bad_version;  // never called for a request parser
  }

  void on_field_impl(http::field name, beast::string_view name_string,
                     beast::string_view value, beast::error_code&) override {
    switch (name) {
      case http::field::content_type:
        return request_.content_type.Set(value);
      case http::field::expect:
        return request_.expect.Set(value);
      case http::field::transfer_encoding:
        ++request_.transfer_encodings;
        request_.only_chunked =
            request_.only_chunked &&
            absl::EqualsIgnoreCase(absl::StripAsciiWhitespace(View(value)),
                                   "chunked");
        return;
      case http::field::unknown:
        if (absl::EqualsIgnoreCase(View(name_string), kSignatureHeader)) {
          request_.signature.Set(value);
        }
        return;
      default:
        return;
    }
  }

  void on_header_impl(beast::error_code&) override {}

  void on_body_init_impl(const boost::optional<std::uint64_t>& content_length,
                         beast::error_code&) override {
    if (content_length) {
      request_.body.reserve(static_cast<std::size_t>(
          std::min<std::uint64_t>(*content_length, max_body_bytes_)));
    }
  }

  std::size_t on_body_impl(beast::string_view body,
                           beast::error_code&) override {
    request_.body.append(body.data(), body.size());
    return body.size();
  }

  void on_chunk_header_impl(std::uint64_t, beast::string_view,
                            beast::error_code&) override {}

  std::size_t on_chunk_body_impl(std::uint64_t, beast::string_view body,
                                 beast::error_code&) override {
    request_.body.append(body.data(), body.size());
    return body.size();
  }

  void on_finish_impl(beast::error_code&) override {}

  ParsedRequest& request_;
  const std::size_t max_body_bytes_;
};

// The thread-local mark of the connection whose OnBody is on this thread's
// stack: the adapter's answer for it is taken inline, not posted.
thread_local const void* answering_inline = nullptr;

}  // namespace

struct HttpServer::Impl {
  class Worker;
  template <typename Stream>
  class Session;

  Impl(Options options, WebhookHttpAdapter& adapter);

  void Accept();
  // The TLS context for new connections; null for plaintext.
  std::shared_ptr<net::ssl::context> tls_context() {
    absl::MutexLock lock(&tls_mu);
    return tls;
  }
  void RequestStarted() { in_flight.fetch_add(1); }
  void RequestFinished() {
    // The last request in flight wakes a WaitForIdle: releasing the mutex
    // makes it check its condition again.
    if (in_flight.fetch_sub(1) == 1 && idle_waiters.load() > 0) {
      absl::MutexLock lock(&mu);
    }
  }

  Options options;
  // The timeouts as the steady clock counts them.
  const SteadyClock::duration read_timeout;
  const SteadyClock::duration idle_timeout;
  WebhookHttpAdapter& adapter;
  std::atomic<bool> draining{false};
  absl::Mutex tls_mu;
  std::shared_ptr<net::ssl::context> tls ABSL_GUARDED_BY(tls_mu);
  // Requests read and not yet answered. Counted without a lock (every
  // request passes here); WaitForIdle waits on `mu` for it to reach 0.
  std::atomic<int> in_flight{0};
  std::atomic<int> idle_waiters{0};
  absl::Mutex mu;
  // Declared last, destroyed first: destroying an io_context destroys the
  // sessions its pending handlers own, and they use the members above.
  std::vector<std::unique_ptr<Worker>> workers;
  std::unique_ptr<tcp::acceptor> acceptor;
  // Accepting again after a failed accept (no file descriptor left), on the
  // acceptor's thread: retrying at once would spin.
  std::unique_ptr<net::steady_timer> accept_retry;
  absl::Time last_accept_warning = absl::InfinitePast();
  std::size_t next_worker = 0;  // round-robin, on the acceptor's thread
  std::vector<std::thread> threads;
};

// One thread's io_context, and the answers other threads hand to its
// connections. Thread-safe: Deliver from any thread.
class HttpServer::Impl::Worker {
 public:
  // A connection that an answer made on another thread goes back to.
  class Connection : public std::enable_shared_from_this<Connection> {
   public:
    virtual ~Connection() = default;
    // On the worker's thread.
    virtual void Answer(HttpResponse response) = 0;
  };

  Worker() : work_(net::make_work_guard(context_)) {}

  net::io_context& context() { return context_; }

  // Hands `response` to `connection` on this worker's thread. Answers that
  // arrive while earlier ones wait are delivered with them, in order, by one
  // handler: one post and one wake-up per batch, not per answer.
  void Deliver(std::shared_ptr<Connection> connection, HttpResponse response) {
    bool first = false;
    {
      absl::MutexLock lock(&mu_);
      first = answers_.empty();
      answers_.push_back({std::move(connection), std::move(response)});
    }
    if (first) net::post(context_, [this] { DeliverAll(); });
  }

  void Run() { context_.run(); }

  void Stop() {
    work_.reset();
    context_.stop();
  }

 private:
  struct PendingAnswer {
    std::shared_ptr<Connection> connection;
    HttpResponse response;
  };

  void DeliverAll() {
    {
      absl::MutexLock lock(&mu_);
      delivering_.swap(answers_);
    }
    for (PendingAnswer& answer : delivering_) {
      answer.connection->Answer(std::move(answer.response));
    }
    delivering_.clear();
  }

  // One thread runs it: a connection lives on one thread for good, so its
  // handlers need no strand, and only answers from other threads wake it.
  net::io_context context_{1};
  net::executor_work_guard<net::io_context::executor_type> work_;
  absl::Mutex mu_;
  // Non-empty exactly while a DeliverAll is posted and has not taken them.
  std::vector<PendingAnswer> answers_ ABSL_GUARDED_BY(mu_);
  std::vector<PendingAnswer> delivering_;  // on the worker's thread
};

HttpServer::Impl::Impl(Options options, WebhookHttpAdapter& adapter)
    : options(std::move(options)),
      read_timeout(ToChrono(this->options.read_timeout)),
      idle_timeout(ToChrono(this->options.idle_timeout)),
      adapter(adapter) {
  for (int i = 0; i < std::max(1, this->options.threads); ++i) {
    workers.push_back(std::make_unique<Worker>());
  }
  acceptor = std::make_unique<tcp::acceptor>(workers[0]->context());
  accept_retry = std::make_unique<net::steady_timer>(workers[0]->context());
}

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
class HttpServer::Impl::Session final : public Worker::Connection {
 public:
  // `tls` is null for a Socket; it must outlive the stream.
  Session(Socket&& socket, Impl& server, Worker& worker, bool loopback,
          std::shared_ptr<net::ssl::context> tls)
      : tls_(std::move(tls)),
        stream_(MakeStream(std::move(socket), tls_.get())),
        timer_(worker.context()),
        server_(server),
        worker_(worker),
        loopback_(loopback) {}

  ~Session() override {
    if (request_started_) server_.RequestFinished();
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

  std::shared_ptr<Session> Self() {
    return std::static_pointer_cast<Session>(this->shared_from_this());
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
    server_.RequestStarted();
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
    // HTTP/1.0 clients do not know 100 Continue (RFC 9110 10.1.1).
    if (request_.version >= 11 &&
        absl::EqualsIgnoreCase(request_.expect.view(), "100-continue")) {
      static constexpr absl::string_view kContinue =
          "HTTP/1.1 100 Continue\r\n\r\n";
      phase_ = Phase::kContinue;
      out_.assign(kContinue.data(), kContinue.size());
      Write();  // the request's read deadline goes on
    }
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
                             Worker& worker = self->worker_;
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
                    StatusText(response.status),
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
      server_.RequestFinished();
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
      if (std::shared_ptr<Worker::Connection> session = self.lock()) {
        static_cast<Session*>(session.get())->OnTimer(generation);
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
  Impl& server_;
  Worker& worker_;
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
  ParsedRequest request_;
  std::optional<RequestParser> parser_;
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

void HttpServer::Impl::Accept() {
  Worker& worker = *workers[next_worker++ % workers.size()];
  acceptor->async_accept(
      worker.context(), [this, &worker](beast::error_code ec, Socket socket) {
        if (ec == net::error::operation_aborted || !acceptor->is_open()) return;
        if (ec) {
          // EMFILE and the like: the pending connections wait in the
          // kernel's backlog while file descriptors are freed.
          if (absl::Now() - last_accept_warning > absl::Seconds(10)) {
            last_accept_warning = absl::Now();
            Log(LogLevel::kWarning, "cannot accept HTTP connections; retrying",
                {{"error", ec.message()}});
          }
          accept_retry->expires_after(kAcceptRetry);
          accept_retry->async_wait([this](beast::error_code ec) {
            if (!ec) Accept();
          });
          return;
        }
        HttpConnectionStats& stats = adapter.connection_stats();
        if (stats.open.load() >=
            static_cast<std::int64_t>(options.max_connections)) {
          stats.refused.Increment();
          beast::error_code ignored;
          socket.close(ignored);
        } else {
          stats.open.fetch_add(1);
          stats.accepted.Increment();
          beast::error_code ignored;
          socket.set_option(tcp::no_delay(true), ignored);
          const tcp::endpoint peer = socket.remote_endpoint(ignored);
          const net::ip::address address = peer.address();
          const bool loopback =
              !ignored &&
              (address.is_loopback() ||
               (address.is_v6() && address.to_v6().is_v4_mapped() &&
                net::ip::make_address_v4(net::ip::v4_mapped, address.to_v6())
                    .is_loopback()));
          if (std::shared_ptr<net::ssl::context> tls = tls_context()) {
            std::make_shared<Session<TlsStream>>(
                std::move(socket), *this, worker, loopback, std::move(tls))
                ->Run();
          } else {
            std::make_shared<Session<Socket>>(std::move(socket), *this, worker,
                                              loopback, nullptr)
                ->Run();
          }
        }
        Accept();
      });
}

HttpServer::HttpServer(Options options, WebhookHttpAdapter& adapter) {
  if (options.threads <= 0) {
    options.threads =
        static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  }
  options.max_connections = ConnectionsThatFit(options.max_connections);
  impl_ = std::make_unique<Impl>(std::move(options), adapter);
}

HttpServer::~HttpServer() { Stop(); }

namespace {

// A server context for `material`: TLS 1.2 and later.
absl::StatusOr<std::shared_ptr<net::ssl::context>> MakeTlsContext(
    const TlsMaterial& material) {
  auto context =
      std::make_shared<net::ssl::context>(net::ssl::context::tls_server);
  context->set_options(
      net::ssl::context::default_workarounds | net::ssl::context::no_sslv2 |
      net::ssl::context::no_sslv3 | net::ssl::context::no_tlsv1 |
      net::ssl::context::no_tlsv1_1 | net::ssl::context::single_dh_use);
  beast::error_code ec;
  context->use_certificate_chain(net::buffer(material.cert_chain_pem), ec);
  if (!ec) {
    context->use_private_key(net::buffer(material.private_key_pem),
                             net::ssl::context::pem, ec);
  }
  if (ec) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot use the HTTP TLS certificate: ", ec.message()));
  }
  return context;
}

}  // namespace

absl::Status HttpServer::ReloadTls() {
  const TlsFiles& files = impl_->options.tls;
  if (files.cert_file.empty() && files.key_file.empty()) {
    return absl::OkStatus();
  }
  absl::StatusOr<TlsMaterial> material = LoadTlsMaterial(files);
  if (!material.ok()) return material.status();
  absl::StatusOr<std::shared_ptr<net::ssl::context>> context =
      MakeTlsContext(*material);
  if (!context.ok()) return context.status();
  absl::MutexLock lock(&impl_->tls_mu);
  impl_->tls = *std::move(context);
  return absl::OkStatus();
}

absl::StatusOr<int> HttpServer::Start() {
  if (absl::Status status = ReloadTls(); !status.ok()) return status;
  const std::string& address = impl_->options.address;
  const std::size_t colon = address.rfind(':');
  int port = 0;
  if (colon == std::string::npos ||
      !absl::SimpleAtoi(address.substr(colon + 1), &port) || port < 0 ||
      port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("--http_address must be HOST:PORT, not ", address));
  }
  std::string host = address.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  beast::error_code ec;
  tcp::resolver resolver(impl_->workers[0]->context());
  const auto endpoints =
      resolver.resolve(host.empty() ? "0.0.0.0" : host, std::to_string(port),
                       tcp::resolver::passive, ec);
  if (ec || endpoints.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot resolve ", address, ": ", ec.message()));
  }
  const tcp::endpoint endpoint = endpoints.begin()->endpoint();
  tcp::acceptor& acceptor = *impl_->acceptor;
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) acceptor.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(net::socket_base::max_listen_connections, ec);
  if (ec) {
    return absl::FailedPreconditionError(absl::StrCat(
        "cannot listen for HTTP on ", address, ": ", ec.message()));
  }
  impl_->Accept();
  for (auto& worker : impl_->workers) {
    impl_->threads.emplace_back([worker = worker.get()] { worker->Run(); });
  }
  return acceptor.local_endpoint().port();
}

void HttpServer::BeginDrain() {
  // The adapter first: by the time connections start closing after their
  // answers, /readyz already says 503.
  impl_->adapter.BeginDrain();
  impl_->draining.store(true);
  net::post(impl_->acceptor->get_executor(), [impl = impl_.get()] {
    beast::error_code ignored;
    impl->acceptor->close(ignored);
  });
}

bool HttpServer::WaitForIdle(absl::Duration timeout) {
  Impl& impl = *impl_;
  absl::MutexLock lock(&impl.mu);
  impl.idle_waiters.fetch_add(1);
  const bool idle = impl.mu.AwaitWithTimeout(
      absl::Condition(
          +[](std::atomic<int>* in_flight) { return in_flight->load() == 0; },
          &impl.in_flight),
      timeout);
  impl.idle_waiters.fetch_sub(1);
  return idle;
}

void HttpServer::Stop() {
  if (impl_ == nullptr || impl_->threads.empty()) return;
  for (auto& worker : impl_->workers) worker->Stop();
  for (std::thread& thread : impl_->threads) thread.join();
  impl_->threads.clear();
}

}  // namespace paradym::webhooks
