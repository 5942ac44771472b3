#include "server/grpc/webhook_service_adapter.h"

#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "server/grpc/status_conversion.h"

namespace paradym::webhooks {
namespace {

namespace v1 = ::paradym::webhooks::v1;

WebhookRequest ToWebhookRequest(const std::string& body,
                                const std::string& signature,
                                const std::string& endpoint) {
  return {body, signature, endpoint};
}

EventFilter::Spec ToFilterSpec(const v1::SubscribeRequest& request) {
  return {{request.event_types().begin(), request.event_types().end()},
          {request.project_ids().begin(), request.project_ids().end()},
          {request.workflow_ids().begin(), request.workflow_ids().end()},
          {request.workflow_execution_ids().begin(),
           request.workflow_execution_ids().end()}};
}

// One Subscribe call. Lifetime: created by Subscribe(), deleted in OnDone()
// after the subscription is removed from the hub, so no wake can reach a
// deleted reactor.
//
// The write loop: whoever sets `writing_` owns the writer and pulls the next
// batch; with nothing to send it releases ownership, unless a wake arrived
// meanwhile (`wake_pending_`), in which case it pulls again.
class SubscribeReactor final
    : public grpc::ServerWriteReactor<v1::SubscribeResponse> {
 public:
  SubscribeReactor(SubscriptionHub& hub, const v1::SubscribeRequest& request,
                   const WebhookServiceAdapter::Options& options)
      : hub_(hub), options_(options) {
    absl::StatusOr<EventFilter> filter =
        EventFilter::Create(ToFilterSpec(request));
    if (!filter.ok()) {
      FinishOnce(filter.status());
      return;
    }
    std::optional<std::uint64_t> start_after;
    if (request.has_start_after_sequence()) {
      start_after = request.start_after_sequence();
    }
    absl::StatusOr<std::shared_ptr<Subscription>> subscription = hub_.Subscribe(
        std::move(filter).value(), start_after, [this] { OnReady(); });
    if (!subscription.ok()) {
      FinishOnce(subscription.status());
      return;
    }
    subscription_ = std::move(subscription).value();
    // Tell the client the subscription is in place before any event flows.
    StartSendInitialMetadata();
    {
      absl::MutexLock lock(&mu_);
      writing_ = true;
    }
    Pump();
  }

  void OnWriteDone(bool ok) override {
    ReleaseBatch();
    if (!ok) {
      // The client went away; OnCancel follows or already ran.
      FinishOnce(absl::CancelledError("the client cancelled the stream"));
      return;
    }
    Pump();
  }

  void OnCancel() override {
    {
      absl::MutexLock lock(&mu_);
      cancelled_ = true;
      // The writer finishes when its write fails or it runs out of events.
      if (writing_) return;
      writing_ = true;
    }
    FinishOnce(absl::CancelledError("the client cancelled the stream"));
  }

  void OnDone() override {
    if (subscription_ != nullptr) hub_.Unsubscribe(*subscription_);
    ReleaseBatch();
    delete this;
  }

 private:
  // From the hub, on a publishing thread: events arrived or the end came.
  void OnReady() {
    {
      absl::MutexLock lock(&mu_);
      if (finished_) return;
      if (writing_) {
        wake_pending_ = true;
        return;
      }
      writing_ = true;
    }
    Pump();
  }

  // Requires ownership of the writer (`writing_`). Nothing may touch `this`
  // after StartWrite or Finish: the reactor may already be gone.
  void Pump() {
    for (;;) {
      absl::Status status = subscription_->Next(
          options_.max_batch_events, options_.max_batch_bytes, batch_);
      if (!status.ok()) {
        FinishOnce(status);
        return;
      }
      if (!batch_.empty()) {
        // The response borrows the shared, immutable events instead of
        // copying them; ReleaseBatch gives them back once the write is done.
        for (const EventPtr& event : batch_) {
          response_.mutable_events()->UnsafeArenaAddAllocated(
              const_cast<v1::Event*>(event.get()));
        }
        StartWrite(&response_);
        return;
      }
      {
        absl::MutexLock lock(&mu_);
        if (wake_pending_) {
          wake_pending_ = false;
          continue;
        }
        if (!cancelled_) {
          writing_ = false;
          return;
        }
      }
      FinishOnce(absl::CancelledError("the client cancelled the stream"));
      return;
    }
  }

  void ReleaseBatch() {
    const int borrowed = response_.events_size();
    if (borrowed > 0) {
      response_.mutable_events()->UnsafeArenaExtractSubrange(0, borrowed,
                                                             nullptr);
    }
    batch_.clear();
  }

  void FinishOnce(const absl::Status& status) {
    {
      absl::MutexLock lock(&mu_);
      if (finished_) return;
      finished_ = true;
    }
    Finish(ToGrpcStatus(status));
  }

  SubscriptionHub& hub_;
  const WebhookServiceAdapter::Options options_;
  std::shared_ptr<Subscription> subscription_;
  std::vector<EventPtr> batch_;     // owned by the writer
  v1::SubscribeResponse response_;  // owned by the writer
  absl::Mutex mu_;
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool wake_pending_ ABSL_GUARDED_BY(mu_) = false;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace

grpc::ServerUnaryReactor* WebhookServiceAdapter::VerifyAndParse(
    grpc::CallbackServerContext* context,
    const v1::VerifyAndParseRequest* request,
    v1::VerifyAndParseResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  absl::StatusOr<v1::Event> event = ingestor_.VerifyAndParse(ToWebhookRequest(
      request->body(), request->signature(), request->endpoint()));
  if (event.ok()) *response->mutable_event() = std::move(event).value();
  reactor->Finish(ToGrpcStatus(event.status()));
  return reactor;
}

grpc::ServerUnaryReactor* WebhookServiceAdapter::Ingest(
    grpc::CallbackServerContext* context, const v1::IngestRequest* request,
    v1::IngestResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  ingestor_.Ingest(ToWebhookRequest(request->body(), request->signature(),
                                    request->endpoint()),
                   [reactor, response](absl::StatusOr<EventPtr> stored) {
                     if (stored.ok()) *response->mutable_event() = **stored;
                     reactor->Finish(ToGrpcStatus(stored.status()));
                   });
  return reactor;
}

grpc::ServerWriteReactor<v1::SubscribeResponse>*
WebhookServiceAdapter::Subscribe(grpc::CallbackServerContext* /*context*/,
                                 const v1::SubscribeRequest* request) {
  return new SubscribeReactor(hub_, *request, options_);
}

}  // namespace paradym::webhooks
