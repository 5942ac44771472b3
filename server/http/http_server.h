// The HTTP/1.1 server in front of WebhookHttpAdapter, on Boost.Beast.
//
// Asynchronous: `threads` threads, each running an io_context of its own
// (http_worker.h); each connection is handed to one of them, in turn, for
// good, so that no handler needs a strand. Keep-alive, pipelining, chunked
// bodies and Expect: 100-continue (http_connection.h). A connection reads
// into one bounded buffer, feeds Beast's parser itself
// (http_request_parser.h), answers with one send when the answer fits the
// socket, and keeps one timer; answers the core makes on another thread (the
// SQLite store's) go back to each thread in batches. A hostile client cannot
// hold resources: the header is limited in size, a whole request must arrive
// within `read_timeout` of its first byte, an idle keep-alive connection is
// closed after `idle_timeout`, and connections over `max_connections` are
// closed at once. With TLS files it speaks HTTPS (reloadable). The server
// only moves bytes; what to answer is the adapter's business.
//
//   HttpServer server(options, adapter);
//   absl::StatusOr<int> port = server.Start();
//   ...
//   server.BeginDrain();                      // stop accepting, 503 new ones
//   server.WaitForIdle(absl::Seconds(5));     // requests in flight finish
//   server.Stop();
//
// Thread-safe: ReloadTls, BeginDrain and WaitForIdle from any thread; Start
// and Stop from the owner's thread.

#ifndef PARADYM_WEBHOOKS_SERVER_HTTP_HTTP_SERVER_H_
#define PARADYM_WEBHOOKS_SERVER_HTTP_HTTP_SERVER_H_

#include <cstddef>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/core/tls_files.h"
#include "server/http/webhook_http_adapter.h"

namespace paradym::webhooks {

class HttpServer {
 public:
  struct Options {
    std::string address = "0.0.0.0:8080";  // HOST:PORT; port 0 picks one
    int threads = 0;                       // 0: one per core
    std::size_t max_header_bytes = 16 * 1024;
    absl::Duration read_timeout = absl::Seconds(10);
    absl::Duration idle_timeout = absl::Seconds(60);
    std::size_t max_connections = 10000;
    // With a certificate and key: HTTPS only (TLS 1.2 and later).
    TlsFiles tls;
    // Serve /metrics only (a --metrics_address listener).
    bool metrics_only = false;
  };

  // `adapter` must outlive the server.
  HttpServer(Options options, WebhookHttpAdapter& adapter);
  ~HttpServer();  // Stop()s

  // Binds, listens and starts the threads; returns the bound port. Loads
  // the TLS files first, if any (FAILED_PRECONDITION when they do not load).
  absl::StatusOr<int> Start();

  // Rereads the TLS files: new connections use them, open ones keep theirs.
  // On an error the previous files stay in use. OK without TLS.
  absl::Status ReloadTls();

  // Stops accepting connections; requests from now on get 503.
  void BeginDrain();

  // Waits until no request is in flight (read, not yet answered). False when
  // `timeout` passed first.
  bool WaitForIdle(absl::Duration timeout);

  // Stops the threads and drops every connection.
  void Stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace paradym::webhooks

#endif  // PARADYM_WEBHOOKS_SERVER_HTTP_HTTP_SERVER_H_
