// The one path every webhook takes, whatever transport brought it.
//
// VerifyAndParse checks the body size, verifies the signature over the raw
// bytes and only then normalizes the JSON. Ingest does the same, then appends
// the event to the log and answers once the log has committed it (the log
// announces it to the subscription hub). The gRPC Ingest RPC and the HTTP front
// both call Ingest; each turns the resulting absl::Status into its own error
// form.
//
// Replays: Ingest refuses an event published longer than `max_event_age` ago
// or more than `max_clock_lead` ahead (UNAUTHENTICATED, STALE_EVENT), and
// answers a webhook whose replay digest (endpoint + body) the log still holds
// with the stored original, storing nothing. The same body twice in flight at
// once is stored once: the second waits for the first's outcome and gets the
// same answer, success or error.
//
//   WebhookIngestor ingestor(options, std::move(verifier), log, hub, clock);
//   ingestor.Ingest({.body = body, .signature = header},
//                   [](absl::StatusOr<EventPtr> stored) { ... });

#ifndef PARADYM_WEBHOOKS_SERVER_CORE_WEBHOOK_INGESTOR_H_
#define PARADYM_WEBHOOKS_SERVER_CORE_WEBHOOK_INGESTOR_H_

#include <atomic>
#include <cstddef>
#include <deque>
#include <memory>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/core/clock.h"
#include "server/core/event_log.h"
#include "server/core/event_normalizer.h"
#include "server/core/metrics.h"
#include "server/core/replay_digest.h"
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

// Thread-safe: every HTTP thread and gRPC's threads ingest at once, while
// SIGHUP's thread may SetVerifier and the stopping thread Shutdown.
class WebhookIngestor {
 public:
  struct Options {
    // Larger bodies are refused before hashing.
    std::size_t max_body_bytes = 256 * 1024;
    EventNormalizer::Options normalizer;
    // Ingest refuses events whose `webhookPublishedAt` is older than this,
    // or missing (STALE_EVENT); InfiniteDuration() turns the check off.
    absl::Duration max_event_age = absl::InfiniteDuration();
    // ... or further ahead of the clock than this.
    absl::Duration max_clock_lead = absl::Minutes(5);
    // Answered events that the log cannot find by digest yet (a replica's
    // copy of the stream lags its acknowledgement), remembered at most.
    std::size_t max_unindexed_answers = 10000;
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
  // The same, encoded: `out` gets the Event's encoding (no `sequence`) and
  // `receive_time` the time it was received.
  absl::Status VerifyAndEncode(const WebhookRequest& request,
                               EventNormalizer::EncodedEvent& out,
                               absl::Time& receive_time) const;

  // Verifies, normalizes and stores; `done` gets the stored event once it is
  // committed (with sequence 0 when a replicated log has it durably on this
  // replica only, see EventLog::Append). A replay of a stored event gets the
  // stored original and stores nothing. UNAUTHENTICATED (STALE_EVENT) for an
  // event outside `max_event_age` / `max_clock_lead`; UNAVAILABLE
  // (SHUTTING_DOWN) after Shutdown; the log's errors (UNAVAILABLE STORE_FULL,
  // STORE_FAILED) as they are.
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
  // Replays answered with the stored original (not stored again).
  const Counter& duplicates() const { return duplicates_; }

 private:
  // OK, or STALE_EVENT when an event published at `publish_time` (nullopt:
  // it does not say) and received at `receive_time` is outside the window.
  absl::Status CheckAge(const std::optional<absl::Time>& publish_time,
                        absl::Time receive_time) const;
  // Counts the refusal by reason and hands `status` to `done`.
  void Refuse(absl::Status status, IngestCallback done);
  // When `encoded` is a replay, answers it through `done` (now, or once the
  // copy in flight is settled) and returns true. Otherwise returns false,
  // `done` untouched, with `encoded` registered as in flight: its append
  // must Settle it.
  bool AnswerIfReplay(const std::shared_ptr<StoredEvent>& encoded,
                      IngestCallback& done);
  // Answers a replay with the stored original.
  void AnswerDuplicate(EventPtr original, IngestCallback done);
  // The stored event at `sequence`, or nullptr when it is gone.
  EventPtr ReadStored(std::uint64_t sequence) const;
  // Ends the in-flight entry of `digest` with `outcome`: its waiters get the
  // same answer; a stored event stays remembered until the log finds it.
  void Settle(const ReplayDigest& digest,
              const absl::StatusOr<EventPtr>& outcome);
  // Forgets the answered events the log can find by now.
  void ForgetIndexedAnswersLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(replays_mu_);
  // Whether the log finds `digest` with its sequence.
  bool LogHasSequenced(const ReplayDigest& digest) const;

  // A webhook being stored, or stored and not yet found by the log.
  struct InFlight {
    // Replays that arrived meanwhile, waiting for the outcome.
    std::vector<IngestCallback> waiters;
    // The stored event, once the log has answered.
    EventPtr answered;
  };

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
  Counter duplicates_;

  absl::Mutex replays_mu_;
  absl::flat_hash_map<ReplayDigest, InFlight, ReplayDigestHash> in_flight_
      ABSL_GUARDED_BY(replays_mu_);
  // The digests of in_flight_ entries with an answer, oldest first.
  std::deque<ReplayDigest> answered_ ABSL_GUARDED_BY(replays_mu_);
};

}  // namespace paradym::webhooks

#endif  // PARADYM_WEBHOOKS_SERVER_CORE_WEBHOOK_INGESTOR_H_
