#include "server/core/webhook_ingestor.h"

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "server/core/errors.h"
#include "server/core/proto_time.h"
#include "server/core/status_macros.h"

namespace paradym::webhooks {

WebhookIngestor::WebhookIngestor(Options options, SignatureVerifier verifier,
                                 EventLog& log, SubscriptionHub& hub,
                                 const Clock& clock)
    : options_(options),
      verifier_(std::make_shared<const SignatureVerifier>(std::move(verifier))),
      normalizer_(options.normalizer),
      log_(log),
      hub_(hub),
      clock_(clock) {}

absl::Status WebhookIngestor::VerifyAndEncode(
    const WebhookRequest& request, EventNormalizer::EncodedEvent& out,
    absl::Time& receive_time) const {
  if (request.body.size() > options_.max_body_bytes) {
    return MakeError(
        absl::StatusCode::kInvalidArgument, kBodyTooLarge,
        absl::StrCat("the body has ", request.body.size(),
                     " bytes; the limit is ", options_.max_body_bytes),
        {{"max_body_bytes", std::to_string(options_.max_body_bytes)}});
  }
  // Held until the endpoint name, which points into it, has been copied.
  const std::shared_ptr<const SignatureVerifier> verifier = this->verifier();
  ASSIGN_OR_RETURN(
      const absl::string_view endpoint,
      verifier->Verify(request.body, request.signature, request.endpoint));
  receive_time = clock_.Now();
  return normalizer_.Encode(request.body, {endpoint, receive_time}, out);
}

absl::StatusOr<v1::Event> WebhookIngestor::VerifyAndParse(
    const WebhookRequest& request) const {
  EventNormalizer::EncodedEvent encoded;
  absl::Time receive_time;
  RETURN_IF_ERROR(VerifyAndEncode(request, encoded, receive_time));
  v1::Event event;
  if (!event.ParseFromString(encoded.encoding)) {
    return MakeError(absl::StatusCode::kInternal, kInternalError,
                     "a normalized event does not decode");
  }
  return event;
}

absl::Status WebhookIngestor::CheckAge(
    const std::optional<absl::Time>& publish_time,
    absl::Time receive_time) const {
  if (options_.max_event_age == absl::InfiniteDuration()) {
    return absl::OkStatus();
  }
  std::vector<std::pair<std::string, std::string>> metadata = {
      {"max_event_age", absl::FormatDuration(options_.max_event_age)},
      {"max_clock_lead", absl::FormatDuration(options_.max_clock_lead)}};
  if (!publish_time.has_value()) {
    return MakeError(absl::StatusCode::kUnauthenticated, kStaleEvent,
                     "the event has no webhookPublishedAt, so it cannot be "
                     "told from a replay; it was not stored",
                     std::move(metadata));
  }
  // receive_time is this server's clock reading for this webhook.
  const absl::Duration age = receive_time - *publish_time;
  if (age > options_.max_event_age) {
    return MakeError(
        absl::StatusCode::kUnauthenticated, kStaleEvent,
        absl::StrCat("the event was published ",
                     absl::FormatDuration(absl::Trunc(age, absl::Seconds(1))),
                     " ago (webhookPublishedAt); events older than ",
                     absl::FormatDuration(options_.max_event_age),
                     " (--max_event_age) are refused as possible replays"),
        std::move(metadata));
  }
  if (-age > options_.max_clock_lead) {
    return MakeError(
        absl::StatusCode::kUnauthenticated, kStaleEvent,
        absl::StrCat("the event was published ",
                     absl::FormatDuration(absl::Trunc(-age, absl::Seconds(1))),
                     " ahead of this server's clock (webhookPublishedAt); "
                     "more than ",
                     absl::FormatDuration(options_.max_clock_lead),
                     " ahead is refused: check the server's clock"),
        std::move(metadata));
  }
  return absl::OkStatus();
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
    // Reused by every webhook this thread ingests.
    thread_local EventNormalizer::EncodedEvent normalized;
    absl::Time receive_time;
    absl::Status status = VerifyAndEncode(request, normalized, receive_time);
    if (status.ok()) status = CheckAge(normalized.publish_time, receive_time);
    if (status.ok()) {
      // What the default normalizer (or a stricter one) made, a store may
      // keep as body, endpoint and receive time: it derives the rest again.
      absl::StatusOr<std::shared_ptr<StoredEvent>> stored =
          options_.normalizer.max_depth <= EventNormalizer::Options().max_depth
              ? StoredEvent::FromNormalized(normalized.encoding)
              : StoredEvent::FromEncoding(0, normalized.encoding);
      if (stored.ok()) {
        encoded = *std::move(stored);
      } else {
        // What this server normalized is always an event it can store.
        status = MakeError(absl::StatusCode::kInternal, kInternalError,
                           stored.status().message());
      }
    }
    if (!status.ok()) {
      Refuse(std::move(status), std::move(done));
      return;
    }
  }
  if (AnswerIfReplay(encoded, done)) return;
  // A verified body is never empty, so it has a digest.
  const ReplayDigest digest = encoded->replay_digest();
  // The log announces the event to the hub itself, in sequence order; the
  // answer (an HTTP 200, an Ingest reply) never precedes the commit.
  log_.Append(std::move(encoded), [this, start, digest, done = std::move(done)](
                                      absl::StatusOr<EventPtr> stored) mutable {
    Settle(digest, stored);
    if (!stored.ok()) {
      Refuse(stored.status(), std::move(done));
      return;
    }
    accepted_by_type_.Increment({(*stored)->event_type()});
    ingest_latency_.Observe(absl::Now() - start);
    std::move(done)(std::move(stored));
  });
}

bool WebhookIngestor::AnswerIfReplay(
    const std::shared_ptr<StoredEvent>& encoded, IngestCallback& done) {
  const ReplayDigest& digest = encoded->replay_digest();
  EventPtr original;
  std::optional<std::uint64_t> held;
  {
    absl::MutexLock lock(&replays_mu_);
    ForgetIndexedAnswersLocked();
    auto [it, inserted] = in_flight_.try_emplace(digest);
    if (!inserted) {
      if (it->second.answered == nullptr) {
        // The same webhook is being stored: share its outcome.
        it->second.waiters.push_back(std::move(done));
        return true;
      }
      original = it->second.answered;
    } else {
      // Checked under the lock: an entry is erased only once the log finds
      // its digest, so a replay sees either the entry or the log's answer.
      held = log_.FindReplay(digest);
    }
  }
  if (original == nullptr && held.has_value()) {
    // Held by a replica's outbox, without a sequence yet: answered as the
    // original was, pending replication.
    original = *held == 0 ? EventPtr(encoded) : ReadStored(*held);
    // Answered: the entry made above goes. Not found (retention deleted
    // the original meanwhile): it stays, for this webhook to be stored.
    if (original != nullptr) Settle(digest, original);
  }
  if (original == nullptr) return false;
  AnswerDuplicate(std::move(original), std::move(done));
  return true;
}

EventPtr WebhookIngestor::ReadStored(std::uint64_t sequence) const {
  std::vector<EventPtr> found;
  if (!log_.ReadAfter(sequence - 1, sequence, 1, found).ok() || found.empty() ||
      found.front()->sequence() != sequence) {
    return nullptr;
  }
  return found.front();
}

bool WebhookIngestor::LogHasSequenced(const ReplayDigest& digest) const {
  const std::optional<std::uint64_t> held = log_.FindReplay(digest);
  return held.has_value() && *held != 0;
}

void WebhookIngestor::Settle(const ReplayDigest& digest,
                             const absl::StatusOr<EventPtr>& outcome) {
  std::vector<IngestCallback> waiters;
  {
    absl::MutexLock lock(&replays_mu_);
    auto it = in_flight_.find(digest);
    if (it == in_flight_.end()) return;
    waiters = std::move(it->second.waiters);
    if (outcome.ok() && !LogHasSequenced(digest)) {
      // A replica's copy of the stream may find it only later: until then
      // this entry answers replays.
      it->second.answered = *outcome;
      answered_.push_back(digest);
    } else {
      in_flight_.erase(it);
    }
  }
  for (IngestCallback& waiter : waiters) {
    if (outcome.ok()) {
      AnswerDuplicate(*outcome, std::move(waiter));
    } else {
      Refuse(outcome.status(), std::move(waiter));
    }
  }
}

void WebhookIngestor::ForgetIndexedAnswersLocked() {
  while (!answered_.empty()) {
    const ReplayDigest& oldest = answered_.front();
    if (answered_.size() <= options_.max_unindexed_answers &&
        !LogHasSequenced(oldest)) {
      break;
    }
    in_flight_.erase(oldest);
    answered_.pop_front();
  }
}

void WebhookIngestor::Refuse(absl::Status status, IngestCallback done) {
  refused_by_reason_.Increment({ErrorReason(status)});
  std::move(done)(std::move(status));
}

void WebhookIngestor::SetVerifier(SignatureVerifier verifier) {
  auto replacement =
      std::make_shared<const SignatureVerifier>(std::move(verifier));
  absl::MutexLock lock(&verifier_mu_);
  verifier_ = std::move(replacement);
}

void WebhookIngestor::AnswerDuplicate(EventPtr original, IngestCallback done) {
  duplicates_.Increment();
  std::move(done)(std::move(original));
}

void WebhookIngestor::Shutdown() {
  shutting_down_.store(true, std::memory_order_release);
  hub_.Shutdown();
}

}  // namespace paradym::webhooks
