#include "client/resumable_subscription.h"

#include <utility>

namespace paradym::webhooks::cli {

namespace v1 = ::paradym::webhooks::v1;

bool IsResumable(const grpc::Status& status) {
  switch (status.error_code()) {
    case grpc::StatusCode::OK:  // the server ended it; ask again
    case grpc::StatusCode::UNAVAILABLE:
    case grpc::StatusCode::RESOURCE_EXHAUSTED:  // SUBSCRIBER_TOO_SLOW
    case grpc::StatusCode::ABORTED:
    case grpc::StatusCode::DEADLINE_EXCEEDED:
    case grpc::StatusCode::UNKNOWN:  // e.g. a connection reset mid-stream
    // We never cancel a stream we go on reading: this is a server stopping
    // (it cancels new calls while it shuts down).
    case grpc::StatusCode::CANCELLED:
      return true;
    default:
      return false;
  }
}

ResumableSubscription::ResumableSubscription(SubscribeStub& stub,
                                             v1::SubscribeRequest request,
                                             Options options)
    : stub_(stub), request_(std::move(request)), options_(std::move(options)) {
  if (request_.has_start_after_sequence()) {
    resume_after_ = request_.start_after_sequence();
  }
}

std::variant<v1::SubscribeResponse, SubscriptionEnd>
ResumableSubscription::Read() {
  for (;;) {
    if (stream_ == nullptr) Open();
    v1::SubscribeResponse response;
    if (stream_->Read(response)) {
      if (response.events_size() > 0) {
        resume_after_ = response.events(response.events_size() - 1).sequence();
        received_ = true;
      }
      return response;
    }
    grpc::Status status = stream_->Finish();
    stream_.reset();
    if (!options_.resume || !IsResumable(status)) {
      return SubscriptionEnd{std::move(status), received_};
    }
    // Progress resets the backoff: a stream that delivered is a new start.
    if (received_) options_.backoff->Reset();
    const absl::Duration delay = options_.backoff->OnFailure();
    options_.on_resume(status, delay, resume_after_);
    options_.sleep(delay);
    stub_.Reconnect();
  }
}

void ResumableSubscription::Open() {
  // Live from now on, but resumable: learn where "now" is first.
  if (!resume_after_) resume_after_ = stub_.LastSequence();
  if (resume_after_) request_.set_start_after_sequence(*resume_after_);
  received_ = false;
  stream_ = stub_.Subscribe(request_);
}

}  // namespace paradym::webhooks::cli
