#include "server/core/webhook_ingestor.h"

#include <memory>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "server/core/errors.h"
#include "server/core/proto_time.h"

namespace paradym::webhooks {

WebhookIngestor::WebhookIngestor(Options options, SignatureVerifier verifier,
                                 EventLog& log, SubscriptionHub& hub,
                                 const Clock& clock)
    : options_(options),
      verifier_(std::move(verifier)),
      normalizer_(options.normalizer),
      log_(log),
      hub_(hub),
      clock_(clock) {}

absl::Status WebhookIngestor::VerifyAndParseInto(const WebhookRequest& request,
                                                 v1::Event& event) const {
  if (request.body.size() > options_.max_body_bytes) {
    return MakeError(
        absl::StatusCode::kInvalidArgument, kBodyTooLarge,
        absl::StrCat("the body has ", request.body.size(),
                     " bytes; the limit is ", options_.max_body_bytes),
        {{"max_body_bytes", std::to_string(options_.max_body_bytes)}});
  }
  absl::StatusOr<absl::string_view> endpoint =
      verifier_.Verify(request.body, request.signature, request.endpoint);
  if (!endpoint.ok()) return endpoint.status();
  if (absl::Status status = normalizer_.Normalize(request.body, event);
      !status.ok()) {
    return status;
  }
  event.set_endpoint(std::string(*endpoint));
  SetTimestamp(clock_.Now(), *event.mutable_receive_time());
  return absl::OkStatus();
}

absl::StatusOr<v1::Event> WebhookIngestor::VerifyAndParse(
    const WebhookRequest& request) const {
  v1::Event event;
  if (absl::Status status = VerifyAndParseInto(request, event); !status.ok()) {
    return status;
  }
  return event;
}

void WebhookIngestor::Ingest(const WebhookRequest& request,
                             IngestCallback done) {
  const absl::Time start = absl::Now();
  if (shutting_down_.load(std::memory_order_acquire)) {
    Refuse(MakeError(absl::StatusCode::kUnavailable, kShuttingDown,
                     "the server is shutting down; send the webhook "
                     "to another instance"),
           std::move(done));
    return;
  }
  std::shared_ptr<StoredEvent> encoded;
  {
    v1::Event event;
    if (absl::Status status = VerifyAndParseInto(request, event);
        !status.ok()) {
      Refuse(std::move(status), std::move(done));
      return;
    }
    encoded = StoredEvent::Create(event);
  }
  // The log announces the event to the hub itself, in sequence order; the
  // answer (an HTTP 200, an Ingest reply) never precedes the commit.
  log_.Append(std::move(encoded), [this, start, done = std::move(done)](
                                      absl::StatusOr<EventPtr> stored) mutable {
    if (!stored.ok()) {
      Refuse(stored.status(), std::move(done));
      return;
    }
    accepted_by_type_.Increment({(*stored)->event_type()});
    ingest_latency_.Observe(absl::Now() - start);
    std::move(done)(std::move(stored));
  });
}

void WebhookIngestor::Refuse(absl::Status status, IngestCallback done) {
  refused_by_reason_.Increment({ErrorReason(status)});
  std::move(done)(std::move(status));
}

void WebhookIngestor::Shutdown() {
  shutting_down_.store(true, std::memory_order_release);
  hub_.Shutdown();
}

}  // namespace paradym::webhooks
