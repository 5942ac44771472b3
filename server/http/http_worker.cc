#include "server/http/http_worker.h"

#include <boost/asio/post.hpp>
#include <utility>

namespace paradym::webhooks {

void HttpWorker::Deliver(std::shared_ptr<Connection> connection,
                         HttpResponse response) {
  bool first = false;
  {
    absl::MutexLock lock(&mu_);
    first = answers_.empty();
    answers_.push_back({std::move(connection), std::move(response)});
  }
  if (first) boost::asio::post(context_, [this] { DeliverAll(); });
}

void HttpWorker::DeliverAll() {
  {
    absl::MutexLock lock(&mu_);
    delivering_.swap(answers_);
  }
  for (PendingAnswer& answer : delivering_) {
    answer.connection->Answer(std::move(answer.response));
  }
  delivering_.clear();
}

}  // namespace paradym::webhooks
