#include "server/http/http_server.h"

#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core/error.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "server/core/errors.h"
#include "server/core/status_macros.h"
#include "server/core/structured_log.h"
#include "server/core/tls_files.h"
#include "server/http/http_connection.h"
#include "server/http/http_worker.h"

namespace paradym::webhooks {
namespace {

namespace net = boost::asio;
using tcp = net::ip::tcp;
using error_code = boost::beast::error_code;

constexpr auto kAcceptRetry = std::chrono::milliseconds(100);
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

// A server context for `material`: TLS 1.2 and later.
absl::StatusOr<std::shared_ptr<net::ssl::context>> MakeTlsContext(
    const TlsMaterial& material) {
  auto context =
      std::make_shared<net::ssl::context>(net::ssl::context::tls_server);
  context->set_options(
      net::ssl::context::default_workarounds | net::ssl::context::no_sslv2 |
      net::ssl::context::no_sslv3 | net::ssl::context::no_tlsv1 |
      net::ssl::context::no_tlsv1_1 | net::ssl::context::single_dh_use);
  error_code ec;
  context->use_certificate_chain(net::buffer(material.cert_chain_pem), ec);
  if (!ec) {
    context->use_private_key(net::buffer(material.private_key_pem),
                             net::ssl::context::pem, ec);
  }
  if (ec) {
    return MakeError(
        absl::StatusCode::kFailedPrecondition, kInvalidConfig,

        absl::StrCat("cannot use the HTTP TLS certificate: ", ec.message()));
  }
  return context;
}

// The endpoint to listen on for `address`, HOST:PORT (HOST may be empty,
// or an IPv6 address in brackets).
absl::StatusOr<tcp::endpoint> ResolveListenAddress(const std::string& address,
                                                   net::io_context& context) {
  const std::size_t colon = address.rfind(':');
  int port = 0;
  if (colon == std::string::npos ||
      !absl::SimpleAtoi(address.substr(colon + 1), &port) || port < 0 ||
      port > 65535) {
    return MakeError(
        absl::StatusCode::kInvalidArgument, kInvalidConfig,

        absl::StrCat("--http_address must be HOST:PORT, not ", address));
  }
  std::string host = address.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  error_code ec;
  tcp::resolver resolver(context);
  const auto endpoints =
      resolver.resolve(host.empty() ? "0.0.0.0" : host, std::to_string(port),
                       tcp::resolver::passive, ec);
  if (ec || endpoints.empty()) {
    return MakeError(
        absl::StatusCode::kInvalidArgument, kInvalidConfig,

        absl::StrCat("cannot resolve ", address, ": ", ec.message()));
  }
  return endpoints.begin()->endpoint();
}

// Whether `socket`'s peer is on loopback (IPv4-mapped IPv6 loopback counts).
bool PeerIsLoopback(const HttpSocket& socket) {
  error_code ec;
  const net::ip::address address = socket.remote_endpoint(ec).address();
  if (ec) return false;
  return address.is_loopback() ||
         (address.is_v6() && address.to_v6().is_v4_mapped() &&
          net::ip::make_address_v4(net::ip::v4_mapped, address.to_v6())
              .is_loopback());
}

}  // namespace

struct HttpServer::Impl {
  Impl(Options options, WebhookHttpAdapter& adapter);

  // Accepts the next connection, on the acceptor's thread.
  void Accept();
  // Serves `socket` on `worker`, or closes it at once when the server has
  // max_connections open.
  void OnAccepted(HttpSocket socket, HttpWorker& worker);
  // The TLS context for new connections; null for plaintext.
  std::shared_ptr<net::ssl::context> tls_context() {
    absl::MutexLock lock(&tls_mu);
    return tls;
  }

  HttpServerState state;
  absl::Mutex tls_mu;
  std::shared_ptr<net::ssl::context> tls ABSL_GUARDED_BY(tls_mu);
  // Declared after `state`, destroyed before it: destroying an io_context
  // destroys the connections its pending handlers own, and they use it.
  std::vector<std::unique_ptr<HttpWorker>> workers;
  std::unique_ptr<tcp::acceptor> acceptor;
  // Accepting again after a failed accept (no file descriptor left), on the
  // acceptor's thread: retrying at once would spin.
  std::unique_ptr<net::steady_timer> accept_retry;
  absl::Time last_accept_warning = absl::InfinitePast();
  std::size_t next_worker = 0;  // round-robin, on the acceptor's thread
  std::vector<std::thread> threads;
};

HttpServer::Impl::Impl(Options options, WebhookHttpAdapter& adapter)
    : state(std::move(options), adapter) {
  for (int i = 0; i < std::max(1, state.options.threads); ++i) {
    workers.push_back(std::make_unique<HttpWorker>());
  }
  acceptor = std::make_unique<tcp::acceptor>(workers[0]->context());
  accept_retry = std::make_unique<net::steady_timer>(workers[0]->context());
}

void HttpServer::Impl::Accept() {
  HttpWorker& worker = *workers[next_worker++ % workers.size()];
  acceptor->async_accept(
      worker.context(), [this, &worker](error_code ec, HttpSocket socket) {
        if (ec == net::error::operation_aborted || !acceptor->is_open()) return;
        if (!ec) {
          OnAccepted(std::move(socket), worker);
          return Accept();
        }
        // EMFILE and the like: the pending connections wait in the kernel's
        // backlog while file descriptors are freed.
        if (absl::Now() - last_accept_warning > absl::Seconds(10)) {
          last_accept_warning = absl::Now();
          Log(LogLevel::kWarning, "cannot accept HTTP connections; retrying",
              {{"error", ec.message()}});
        }
        accept_retry->expires_after(kAcceptRetry);
        accept_retry->async_wait([this](error_code ec) {
          if (!ec) Accept();
        });
      });
}

void HttpServer::Impl::OnAccepted(HttpSocket socket, HttpWorker& worker) {
  HttpConnectionStats& stats = state.adapter.connection_stats();
  error_code ignored;
  if (stats.open.load() >=
      static_cast<std::int64_t>(state.options.max_connections)) {
    stats.refused.Increment();
    socket.close(ignored);
    return;
  }
  stats.open.fetch_add(1);
  stats.accepted.Increment();
  socket.set_option(tcp::no_delay(true), ignored);
  const bool loopback = PeerIsLoopback(socket);
  StartHttpConnection(std::move(socket), state, worker, loopback,
                      tls_context());
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

absl::Status HttpServer::ReloadTls() {
  const TlsFiles& files = impl_->state.options.tls;
  if (files.cert_file.empty() && files.key_file.empty()) {
    return absl::OkStatus();
  }
  ASSIGN_OR_RETURN(const TlsMaterial material, LoadTlsMaterial(files));
  ASSIGN_OR_RETURN(std::shared_ptr<net::ssl::context> context,
                   MakeTlsContext(material));
  absl::MutexLock lock(&impl_->tls_mu);
  impl_->tls = std::move(context);
  return absl::OkStatus();
}

absl::StatusOr<int> HttpServer::Start() {
  RETURN_IF_ERROR(ReloadTls());
  const std::string& address = impl_->state.options.address;
  ASSIGN_OR_RETURN(const tcp::endpoint endpoint,
                   ResolveListenAddress(address, impl_->workers[0]->context()));
  tcp::acceptor& acceptor = *impl_->acceptor;
  error_code ec;
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) acceptor.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(net::socket_base::max_listen_connections, ec);
  if (ec) {
    return MakeError(absl::StatusCode::kFailedPrecondition, kInvalidConfig,
                     absl::StrCat("cannot listen for HTTP on ", address, ": ",
                                  ec.message()));
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
  impl_->state.adapter.BeginDrain();
  impl_->state.draining.store(true);
  net::post(impl_->acceptor->get_executor(), [impl = impl_.get()] {
    error_code ignored;
    impl->acceptor->close(ignored);
  });
}

bool HttpServer::WaitForIdle(absl::Duration timeout) {
  return impl_->state.requests.WaitForNone(timeout);
}

void HttpServer::Stop() {
  if (impl_ == nullptr || impl_->threads.empty()) return;
  for (auto& worker : impl_->workers) worker->Stop();
  for (std::thread& thread : impl_->threads) thread.join();
  impl_->threads.clear();
}

}  // namespace paradym::webhooks
