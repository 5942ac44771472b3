// One HTTP thread: an io_context that one thread runs, and the answers other
// threads hand to its connections.
//
// HttpServer gives each connection to one worker for good, so the
// connection's handlers need no strand. An answer the core makes on another
// thread (the SQLite store's) comes back through Deliver; answers that
// arrive while earlier ones wait go to their connections together, in
// order: one post and one wake-up per batch, not per answer.
//
//   HttpWorker worker;
//   std::thread thread([&] { worker.Run(); });
//   worker.Deliver(connection, std::move(response));  // from any thread
//   worker.Stop();
//   thread.join();
//
// Thread-safe: Deliver and Stop from any thread; Run on the worker's own.

#ifndef PARADYM_WEBHOOKS_SERVER_HTTP_HTTP_WORKER_H_
#define PARADYM_WEBHOOKS_SERVER_HTTP_HTTP_WORKER_H_

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <memory>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "server/http/webhook_http_adapter.h"

namespace paradym::webhooks {

class HttpWorker {
 public:
  // A connection that an answer made on another thread goes back to.
  class Connection : public std::enable_shared_from_this<Connection> {
   public:
    virtual ~Connection() = default;
    // On the worker's thread.
    virtual void Answer(HttpResponse response) = 0;
  };

  HttpWorker() : work_(boost::asio::make_work_guard(context_)) {}

  HttpWorker(const HttpWorker&) = delete;
  HttpWorker& operator=(const HttpWorker&) = delete;

  boost::asio::io_context& context() { return context_; }

  // Hands `response` to `connection` on this worker's thread.
  void Deliver(std::shared_ptr<Connection> connection, HttpResponse response);

  // Runs the io_context until Stop().
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

  void DeliverAll();

  // One thread runs it: only answers from other threads wake it.
  boost::asio::io_context context_{1};
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type>
      work_;
  absl::Mutex mu_;
  // Non-empty exactly while a DeliverAll is posted and has not taken them.
  std::vector<PendingAnswer> answers_ ABSL_GUARDED_BY(mu_);
  std::vector<PendingAnswer> delivering_;  // on the worker's thread
};

}  // namespace paradym::webhooks

#endif  // PARADYM_WEBHOOKS_SERVER_HTTP_HTTP_WORKER_H_
