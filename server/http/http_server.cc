#include "server/http/http_server.h"

#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <chrono>
#include <optional>
#include <thread>
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
using PlainStream = beast::tcp_stream;
using TlsStream = beast::ssl_stream<beast::tcp_stream>;

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

std::chrono::steady_clock::duration ToChrono(absl::Duration d) {
  return std::chrono::duration_cast<std::chrono::steady_clock::duration>(
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

}  // namespace

struct HttpServer::Impl {
  Impl(Options options, WebhookHttpAdapter& adapter)
      : options(std::move(options)), adapter(adapter) {
    // One single-threaded io_context per thread: a connection lives on one
    // thread for good, so its handlers need no strand and threads never wake
    // each other up.
    for (int i = 0; i < std::max(1, this->options.threads); ++i) {
      contexts.push_back(std::make_unique<net::io_context>(1));
      // Keeps run() from returning while the context has no connection yet.
      work.push_back(net::make_work_guard(*contexts.back()));
    }
    acceptor = std::make_unique<tcp::acceptor>(*contexts[0]);
    accept_retry = std::make_unique<net::steady_timer>(*contexts[0]);
  }

  template <typename Stream>
  class Session;

  void Accept();
  // The TLS context for new connections; null for plaintext.
  std::shared_ptr<net::ssl::context> tls_context() {
    absl::MutexLock lock(&tls_mu);
    return tls;
  }
  void RequestStarted() {
    absl::MutexLock lock(&mu);
    ++in_flight;
  }
  void RequestFinished() {
    absl::MutexLock lock(&mu);
    --in_flight;
  }

  Options options;
  WebhookHttpAdapter& adapter;
  std::atomic<bool> draining{false};
  absl::Mutex tls_mu;
  std::shared_ptr<net::ssl::context> tls ABSL_GUARDED_BY(tls_mu);
  absl::Mutex mu;
  int in_flight ABSL_GUARDED_BY(mu) = 0;
  // Declared last, destroyed first: destroying an io_context destroys the
  // sessions its pending handlers own, and they use the members above.
  std::vector<std::unique_ptr<net::io_context>> contexts;
  std::vector<net::executor_work_guard<net::io_context::executor_type>> work;
  std::unique_ptr<tcp::acceptor> acceptor;
  // Accepting again after a failed accept (no file descriptor left), on the
  // acceptor's thread: retrying at once would spin.
  std::unique_ptr<net::steady_timer> accept_retry;
  absl::Time last_accept_warning = absl::InfinitePast();
  std::size_t next_context = 0;  // round-robin, on the acceptor's thread
  std::vector<std::thread> threads;
};

// One connection, over `Stream` (PlainStream or TlsStream). Owned by the
// shared_ptrs its pending handlers hold; all its handlers run on its
// io_context's one thread.
template <typename Stream>
class HttpServer::Impl::Session
    : public std::enable_shared_from_this<Session<Stream>> {
 public:
  // `tls` is null for a PlainStream; it must outlive the stream.
  Session(tcp::socket&& socket, Impl& server, bool loopback,
          std::shared_ptr<net::ssl::context> tls)
      : tls_(std::move(tls)),
        stream_(MakeStream(std::move(socket), tls_.get())),
        server_(server),
        loopback_(loopback) {}

  ~Session() {
    if (request_started_) server_.RequestFinished();
    server_.adapter.connection_stats().open.fetch_sub(1);
  }

  void Run() {
    net::dispatch(stream_.get_executor(), [self = this->shared_from_this()] {
      if constexpr (std::is_same_v<Stream, TlsStream>) {
        self->Handshake();
      } else {
        self->WaitForRequest();
      }
    });
  }

 private:
  static Stream MakeStream(tcp::socket&& socket, net::ssl::context* tls) {
    if constexpr (std::is_same_v<Stream, TlsStream>) {
      return Stream(std::move(socket), *tls);
    } else {
      return Stream(std::move(socket));
    }
  }

  beast::tcp_stream& Tcp() { return beast::get_lowest_layer(stream_); }

  // TLS: the handshake must finish within the read timeout.
  void Handshake() {
    Tcp().expires_after(ToChrono(server_.options.read_timeout));
    stream_.async_handshake(
        net::ssl::stream_base::server,
        [self = this->shared_from_this()](beast::error_code ec) {
          if (ec) return self->Tcp().close();
          self->WaitForRequest();
        });
  }

  // Between requests: wait (at most the idle timeout) for the next one.
  // While draining, a request that still comes is answered (503, and the
  // connection closed) rather than dropped unanswered.
  void WaitForRequest() {
    if (buffer_.size() > 0) return ReadHeader();
    Tcp().expires_after(ToChrono(server_.options.idle_timeout));
    stream_.async_read_some(
        buffer_.prepare(kReadChunk),
        [self = this->shared_from_this()](beast::error_code ec, std::size_t n) {
          self->buffer_.commit(n);
          if (ec) return self->Close();
          self->ReadHeader();
        });
  }

  // A request has begun: all of it must arrive within the read timeout.
  void ReadHeader() {
    Tcp().expires_after(ToChrono(server_.options.read_timeout));
    head_request_ = false;
    parser_.emplace();
    parser_->header_limit(
        static_cast<std::uint32_t>(server_.options.max_header_bytes));
    // The adapter judges the Content-Length from the head, and answers 404
    // or 405 before 413; the limit applies while reading the body.
    parser_->body_limit(boost::none);
    http::async_read_header(
        stream_, buffer_, *parser_,
        [self = this->shared_from_this()](beast::error_code ec, std::size_t) {
          self->OnHeader(ec);
        });
  }

  void OnHeader(beast::error_code ec) {
    if (ec == http::error::header_limit) {
      return Refuse(MakeError(absl::StatusCode::kInvalidArgument,
                              kHeadersTooLarge,
                              "the request header is too large"));
    }
    if (ec) return OnReadError(ec, "malformed HTTP request: ");
    request_started_ = true;
    server_.RequestStarted();
    const auto& request = parser_->get();
    // A response to HEAD has no body (RFC 9110 9.3.2): a pipelined request
    // after it would otherwise be read from that body's bytes.
    head_request_ = request.method() == http::verb::head;
    if (!OnlyChunked(request)) {
      // RFC 9112 6.3: the body's length cannot be known; a request hidden in
      // it must never be served.
      return Refuse(MakeError(absl::StatusCode::kInvalidArgument,
                              kMalformedHttp,
                              "Transfer-Encoding other than chunked"));
    }
    HttpRequestHead head;
    head.method = View(request.method_string());
    head.target = View(request.target());
    head.content_type = View(request[http::field::content_type]);
    head.has_content_length = parser_->content_length().has_value();
    head.content_length = parser_->content_length().value_or(0);
    head.chunked = parser_->chunked();
    head.loopback_peer = loopback_;
    head.metrics_listener = server_.options.metrics_only;
    const bool body_pending =
        head.chunked || (head.has_content_length && head.content_length > 0);

    WebhookHttpAdapter::HeadDecision decision = server_.adapter.OnHead(head);
    if (decision.response) {
      // An unread body cannot be skipped reliably: close after answering.
      return Send(std::move(*decision.response),
                  body_pending || !request.keep_alive());
    }
    endpoint_ = std::move(decision.endpoint);
    parser_->body_limit(server_.adapter.max_body_bytes());
    // HTTP/1.0 clients do not know 100 Continue (RFC 9110 10.1.1).
    if (request.version() >= 11 &&
        absl::EqualsIgnoreCase(View(request[http::field::expect]),
                               "100-continue")) {
      static constexpr char kContinue[] = "HTTP/1.1 100 Continue\r\n\r\n";
      net::async_write(
          stream_, net::buffer(kContinue, sizeof kContinue - 1),
          [self = this->shared_from_this()](beast::error_code ec, std::size_t) {
            if (ec) return self->Close();
            self->ReadBody();
          });
      return;
    }
    ReadBody();
  }

  void ReadBody() {
    http::async_read(
        stream_, buffer_, *parser_,
        [self = this->shared_from_this()](beast::error_code ec, std::size_t) {
          self->OnBody(ec);
        });
  }

  void OnBody(beast::error_code ec) {
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
    if (ec) return OnReadError(ec, "malformed HTTP request body: ");
    const auto& request = parser_->get();
    const bool close = !request.keep_alive();
    // The core may answer before OnBody returns (the in-memory log always
    // does); then the answer is sent right here instead of being posted.
    handler_thread_ = std::this_thread::get_id();
    in_handler_.store(true);
    server_.adapter.OnBody(
        endpoint_, request.body(),
        View(request[beast::string_view(kSignatureHeader.data(),
                                        kSignatureHeader.size())]),
        [self = this->shared_from_this(),
         close](HttpResponse response) mutable {
          if (self->in_handler_.load() &&
              std::this_thread::get_id() == self->handler_thread_) {
            self->inline_response_ = std::move(response);
            return;
          }
          Session* session = self.get();
          net::post(session->stream_.get_executor(),
                    [self = std::move(self), close,
                     response = std::move(response)]() mutable {
                      self->Send(std::move(response), close);
                    });
        });
    in_handler_.store(false);
    if (inline_response_) {
      HttpResponse response = std::move(*inline_response_);
      inline_response_.reset();
      Send(std::move(response), close);
    }
  }

  // Whether the request has no Transfer-Encoding, or exactly one: chunked.
  template <typename Request>
  static bool OnlyChunked(const Request& request) {
    int codings = 0;
    bool chunked = true;
    for (const auto& field : request) {
      if (field.name() != http::field::transfer_encoding) continue;
      ++codings;
      chunked = chunked &&
                absl::EqualsIgnoreCase(
                    absl::StripAsciiWhitespace(View(field.value())), "chunked");
    }
    return codings == 0 || (codings == 1 && chunked);
  }

  // A read of the request failed for a reason common to head and body: the
  // deadline passed, the client went away, or the bytes are not HTTP.
  void OnReadError(beast::error_code ec, absl::string_view malformed) {
    if (ec == beast::error::timeout) return TimedOut();
    if (ec == http::error::end_of_stream || ec == net::error::eof ||
        ec == net::error::connection_reset) {
      return Close();
    }
    Refuse(MakeError(absl::StatusCode::kInvalidArgument, kMalformedHttp,
                     absl::StrCat(malformed, ec.message())));
  }

  // The request did not arrive within the read timeout. The stream has
  // already closed the socket, so there is no answer to send; it is counted
  // as a 408.
  void TimedOut() {
    server_.adapter.ErrorResponse(
        MakeError(absl::StatusCode::kDeadlineExceeded, kRequestTimeout,
                  "the request did not arrive within the read timeout"));
    Tcp().close();
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
    Tcp().expires_after(ToChrono(server_.options.read_timeout));
    net::async_write(
        stream_, net::buffer(out_),
        [self = this->shared_from_this(), close](
            beast::error_code ec, std::size_t) { self->OnWritten(ec, close); });
  }

  void OnWritten(beast::error_code ec, bool close) {
    if (request_started_) {
      request_started_ = false;
      server_.RequestFinished();
    }
    if (ec || close) return Close();
    WaitForRequest();
  }

  // Half-closes, then reads and drops what the client still sends for a
  // moment, so that our last response is not lost to a reset. (With TLS the
  // TCP connection is closed without a close_notify: every response is
  // delimited by its Content-Length, so a client loses nothing.)
  void Close() {
    beast::error_code ignored;
    Tcp().socket().shutdown(tcp::socket::shutdown_send, ignored);
    // One deadline for all of it: a client trickling bytes must not keep
    // the connection open by re-arming it.
    Tcp().expires_after(kLingerTime);
    Linger();
  }

  void Linger() {
    if (lingered_ >= kLingerBytes) return Tcp().close();
    buffer_.consume(buffer_.size());
    Tcp().async_read_some(
        buffer_.prepare(kReadChunk),
        [self = this->shared_from_this()](beast::error_code ec, std::size_t n) {
          self->lingered_ += n;
          if (ec) return self->Tcp().close();
          self->Linger();
        });
  }

  const std::shared_ptr<net::ssl::context> tls_;
  Stream stream_;
  Impl& server_;
  const bool loopback_;  // the peer's address is a loopback one
  // Bounded: the body is moved out of it as it arrives, so only a header,
  // a chunk header with its extensions or the trailers must fit, and a
  // client that sends an endless one is refused, not buffered.
  beast::flat_buffer buffer_{kMaxBufferedBytes};
  std::optional<http::request_parser<http::string_body>> parser_;
  std::string endpoint_;
  std::string out_;
  bool request_started_ = false;
  // The request being answered is a HEAD: the answer carries no body.
  bool head_request_ = false;
  std::size_t lingered_ = 0;
  std::atomic<bool> in_handler_{false};
  std::thread::id handler_thread_;
  std::optional<HttpResponse> inline_response_;
};

void HttpServer::Impl::Accept() {
  net::io_context& context = *contexts[next_context++ % contexts.size()];
  acceptor->async_accept(
      context, [this](beast::error_code ec, tcp::socket socket) {
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
            std::make_shared<Session<TlsStream>>(std::move(socket), *this,
                                                 loopback, std::move(tls))
                ->Run();
          } else {
            std::make_shared<Session<PlainStream>>(std::move(socket), *this,
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
  tcp::resolver resolver(*impl_->contexts[0]);
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
  for (auto& context : impl_->contexts) {
    impl_->threads.emplace_back([context = context.get()] { context->run(); });
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
  absl::MutexLock lock(&impl_->mu);
  return impl_->mu.AwaitWithTimeout(
      absl::Condition(
          +[](int* in_flight) { return *in_flight == 0; }, &impl_->in_flight),
      timeout);
}

void HttpServer::Stop() {
  if (impl_ == nullptr || impl_->threads.empty()) return;
  impl_->work.clear();
  for (auto& context : impl_->contexts) context->stop();
  for (std::thread& thread : impl_->threads) thread.join();
  impl_->threads.clear();
}

}  // namespace paradym::webhooks
