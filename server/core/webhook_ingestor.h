// The one path every webhook takes, whatever transport brought it.
//
// VerifyAndParse checks the body size, verifies the signature over the raw
// bytes and only then normalizes the JSON. Ingest does the same, then appends
// the event to the log and answers once the log has committed it (the log
// announces it to the subscription hub). The gRPC Ingest RPC and the HTTP front
// both call Ingest; each turns the resulting absl::Status into its own error
// form.
//
//   WebhookIngestor ingestor(options, std::move(verifier), log, hub, clock);
//   ingestor.Ingest({.body = body, .signature = header},
//                   [](absl::StatusOr<EventPtr> stored) { ... });

#ifndef PARADYM_WEBHOOKS_SERVER_CORE_WEBHOOK_INGESTOR_H_
#define PARADYM_WEBHOOKS_SERVER_CORE_WEBHOOK_INGESTOR_H_

#include <atomic>
#include <cstddef>
#include <memory>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "server/core/clock.h"
#include "server/core/event_log.h"
#include "server/core/event_normalizer.h"
#include "server/core/metrics.h"
#include "server/core/signature_verifier.h"
#include "server/core/subscription_hub.h"

namespace paradym::webhooks {

// A webhook as received: the raw body, the signature header value and,
// optionally, the name of the endpoint whose secrets apply.
struct WebhookRequest {
  absl::string_view body;
  absl::string_view signature;
  absl::string_view endpoint;  // empty: try every configured secret
};

class WebhookIngestor {
 public:
  struct Options {
    // Larger bodies are refused before hashing.
    std::size_t max_body_bytes = 256 * 1024;
    EventNormalizer::Options normalizer;
  };

  // Receives the stored event, or why the webhook was refused. May run on
  // the calling thread before Ingest returns, or later on the log's thread.
  using IngestCallback = absl::AnyInvocable<void(absl::StatusOr<EventPtr>) &&>;

  // `log`, `hub` and `clock` must outlive the ingestor.
  WebhookIngestor(Options options, SignatureVerifier verifier, EventLog& log,
                  SubscriptionHub& hub, const Clock& clock);

  // Verifies and normalizes without storing anything; `sequence` stays 0.
  absl::StatusOr<::paradym::webhooks::v1::Event> VerifyAndParse(
      const WebhookRequest& request) const;

  // Verifies, normalizes and stores; `done` gets the stored event once it is
  // committed (with sequence 0 when a replicated log has it durably on this
  // replica only, see EventLog::Append). UNAVAILABLE (SHUTTING_DOWN) after
  // Shutdown; the log's errors (UNAVAILABLE STORE_FULL, STORE_FAILED) as they
  // are.
  void Ingest(const WebhookRequest& request, IngestCallback done);

  // Refuses further webhooks and ends every subscription.
  void Shutdown();

  // NOT_FOUND (UNKNOWN_ENDPOINT) unless `endpoint` is empty or configured,
  // so that a transport can refuse early, before reading a body.
  absl::Status CheckEndpoint(absl::string_view endpoint) const {
    return verifier()->CheckEndpoint(endpoint);
  }

  // Replaces the endpoints and their secrets (a reload); webhooks from then
  // on are verified with `verifier`. Thread-safe.
  void SetVerifier(SignatureVerifier verifier);

  const Options& options() const { return options_; }

  // Accepted events by `eventType` (at most 64 series, then "other").
  const LabeledCounter& accepted_by_type() const { return accepted_by_type_; }
  // Refused webhooks by ErrorInfo reason.
  const LabeledCounter& refused_by_reason() const { return refused_by_reason_; }
  // Time from the start of Ingest to the stored event, accepted ones only.
  const LatencyHistogram& ingest_latency() const { return ingest_latency_; }

 private:
  absl::Status VerifyAndParseInto(const WebhookRequest& request,
                                  ::paradym::webhooks::v1::Event& event) const;
  // Counts the refusal by reason and hands `status` to `done`.
  void Refuse(absl::Status status, IngestCallback done);

  const Options options_;
  std::shared_ptr<const SignatureVerifier> verifier() const {
    absl::ReaderMutexLock lock(&verifier_mu_);
    return verifier_;
  }

  mutable absl::Mutex verifier_mu_;
  std::shared_ptr<const SignatureVerifier> verifier_
      ABSL_GUARDED_BY(verifier_mu_);
  const EventNormalizer normalizer_;
  EventLog& log_;
  SubscriptionHub& hub_;
  const Clock& clock_;
  std::atomic<bool> shutting_down_{false};
  LabeledCounter accepted_by_type_{64};
  LabeledCounter refused_by_reason_{64};
  LatencyHistogram ingest_latency_;
};

}  // namespace paradym::webhooks

#endif  // PARADYM_WEBHOOKS_SERVER_CORE_WEBHOOK_INGESTOR_H_
