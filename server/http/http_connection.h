// The connections of HttpServer: what they share with the server, and how
// one is started.
//
// A connection reads requests, hands them to WebhookHttpAdapter and writes
// its answers: HTTP/1.1 with keep-alive, pipelining, chunked bodies and
// Expect: 100-continue, over TCP or TLS. Its handlers all run on the thread
// of the HttpWorker it was given; the timeouts, the drain flag and the count
// of requests in flight come from the server's HttpServerState.
//
//   HttpServerState state(options, adapter);
//   StartHttpConnection(std::move(socket), state, worker, loopback, tls);
//   ...
//   state.draining.store(true);  // answers close their connections
//   state.requests.WaitForNone(absl::Seconds(5));

#ifndef PARADYM_WEBHOOKS_SERVER_HTTP_HTTP_CONNECTION_H_
#define PARADYM_WEBHOOKS_SERVER_HTTP_HTTP_CONNECTION_H_

#include <atomic>
#include <boost/asio/basic_stream_socket.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <chrono>
#include <memory>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/http/http_server.h"
#include "server/http/http_worker.h"
#include "server/http/webhook_http_adapter.h"

namespace paradym::webhooks {

using HttpClock = std::chrono::steady_clock;
// Bound to an io_context's executor, not any_io_executor: every operation
// saves the type-erased executor's cost.
using HttpSocket =
    boost::asio::basic_stream_socket<boost::asio::ip::tcp,
                                     boost::asio::io_context::executor_type>;
using HttpTlsStream = boost::asio::ssl::stream<HttpSocket>;

// Requests read and not yet answered: counted without a lock, as every
// request passes here, and waited for with one.
//
// Thread-safe.
class InFlightRequests {
 public:
  void Started() { count_.fetch_add(1); }
  void Finished();

  // Waits until no request is in flight; false when `timeout` passed first.
  bool WaitForNone(absl::Duration timeout);

 private:
  std::atomic<int> count_{0};
  std::atomic<int> waiters_{0};
  absl::Mutex mu_;  // what WaitForNone waits on
};

// What the connections of one HttpServer share with it.
//
// Thread-safe: constant but for `draining` and `requests`, which are.
struct HttpServerState {
  HttpServerState(HttpServer::Options options, WebhookHttpAdapter& adapter);

  const HttpServer::Options options;
  // The timeouts as the steady clock counts them.
  const HttpClock::duration read_timeout;
  const HttpClock::duration idle_timeout;
  WebhookHttpAdapter& adapter;
  // Set: every answer closes its connection.
  std::atomic<bool> draining{false};
  InFlightRequests requests;
};

// Serves `socket`, accepted and counted in the adapter's
// connection_stats().open, on `worker`'s thread until it closes; the count
// goes down when it has. With `tls` (which it keeps), it speaks TLS only.
// `loopback`: the peer's address is a loopback one. `server` must outlive
// `worker`: destroying the worker's io_context destroys the connections its
// pending handlers own.
void StartHttpConnection(HttpSocket socket, HttpServerState& server,
                         HttpWorker& worker, bool loopback,
                         std::shared_ptr<boost::asio::ssl::context> tls);

}  // namespace paradym::webhooks

#endif  // PARADYM_WEBHOOKS_SERVER_HTTP_HTTP_CONNECTION_H_
