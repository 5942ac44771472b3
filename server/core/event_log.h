// The event log: every accepted event, in sequence order.
//
// The log assigns sequences (1, 2, 3, ... without gaps among stored events)
// and keeps events so that subscribers can replay from a sequence.
// Implementations decide how long events are kept (MemoryEventLog keeps a
// bounded window; SqliteEventLog keeps them on disk for a retention period;
// JetStreamEventLog shares one stream between replicas). Stored events are
// immutable and shared.
//
// Every stored event, whoever appended it, is announced to the log's one
// listener (the SubscriptionHub) in sequence order once readers can see it.
//
//   log.SetListener([&](EventPtr event) { /* fan out */ });
//   log.Append(std::move(event), [](absl::StatusOr<EventPtr> stored) {
//     // Committed: answer.
//   });
//   std::vector<EventPtr> batch;
//   absl::Status status = log.ReadAfter(/*after=*/10, /*up_to=*/20,
//                                       /*max_events=*/5, batch);

#ifndef PARADYM_WEBHOOKS_SERVER_CORE_EVENT_LOG_H_
#define PARADYM_WEBHOOKS_SERVER_CORE_EVENT_LOG_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "server/core/metrics.h"
#include "server/core/replay_digest.h"
#include "server/core/stored_event.h"

namespace paradym::webhooks {

// The sequences a log holds: `oldest` to `last`, both included. An empty log
// has oldest == last + 1.
struct SequenceRange {
  std::uint64_t oldest = 1;
  std::uint64_t last = 0;

  // Whether a read after `after` needs events older than the oldest held
  // (`after + 1 < oldest`, without overflowing for the largest `after`).
  bool TooOld(std::uint64_t after) const { return after < oldest - 1; }
};

// The ordered, sequenced store of accepted events.
//
// Thread-safe: every implementation takes every call from any thread.
class EventLog {
 public:
  virtual ~EventLog() = default;

  // Receives the stored event, or why it was not stored.
  using AppendCallback = absl::AnyInvocable<void(absl::StatusOr<EventPtr>) &&>;
  // Hears of a stored event once readers can see it.
  using Listener = absl::AnyInvocable<void(EventPtr)>;

  // Stores `event` and gives it the next sequence. `done` then receives the
  // stored event (nobody modifies it from then on) once it is committed, that
  // is durable as far as the log promises, or the error that kept it out of
  // the log: UNAVAILABLE (STORE_FULL, STORE_FAILED, SHUTTING_DOWN), after
  // which the log holds exactly what it held before. Thread-safe.
  //
  // A replicated log may answer before the shared log has the event: with a
  // stored event whose sequence is 0, meaning "durable on this replica, in the
  // shared log later" (see JetStreamEventLog). It is announced with its
  // sequence once the shared log has it.
  //
  // `done` may run on the calling thread before Append returns or later on a
  // thread of the log's; it must not call Append.
  virtual void Append(std::shared_ptr<StoredEvent> event,
                      AppendCallback done) = 0;

  // Sets the one listener of stored events, or none. The log calls it for
  // every stored event in sequence order, one call at a time, as soon as
  // ReadAfter can return the event (for an event appended here, before its
  // `done` runs). A replicated log announces events of other replicas at any
  // time, so this is thread-safe: once it returns, the previous listener is
  // not running and is never called again. The listener must not call
  // SetListener.
  void SetListener(Listener listener) {
    absl::MutexLock lock(&listener_mu_);
    listener_ = std::move(listener);
  }

  // Appends to `out` the events with sequence in (after, up_to], oldest
  // first, at most `max_events` of them. OUT_OF_RANGE (SEQUENCE_TOO_OLD,
  // metadata `oldest_sequence`) when the log no longer holds `after + 1`.
  // Thread-safe.
  virtual absl::Status ReadAfter(std::uint64_t after, std::uint64_t up_to,
                                 std::size_t max_events,
                                 std::vector<EventPtr>& out) const = 0;

  // The sequences held now. Thread-safe.
  virtual SequenceRange Range() const = 0;

  // Where the log holds the event whose StoredEvent::replay_digest() is
  // `digest`: its sequence, as long as retention keeps the event; 0 for an
  // event a replica holds but the shared log has not given a sequence yet;
  // nullopt when the log holds no such event (or does not index digests).
  // An event is found from the moment it is announced (for an event
  // appended here, before its `done` runs). Thread-safe.
  virtual std::optional<std::uint64_t> FindReplay(
      const ReplayDigest& digest) const {
    return std::nullopt;
  }

  // The highest sequence known to exist. A replica's copy of a shared log may
  // be behind it while it catches up; a reader may wait for sequences up to
  // it. Thread-safe.
  virtual std::uint64_t Horizon() const { return Range().last; }

  // OK while the log takes appends as it should; otherwise UNAVAILABLE with
  // the reason, so that a load balancer sends webhooks elsewhere.
  // Thread-safe.
  virtual absl::Status CheckReady() const { return absl::OkStatus(); }

  // Adds the log's own metrics, if it has any, to a /metrics page.
  virtual void AddMetrics(PrometheusText& text) const {}

 protected:
  // Hands `event` to the listener, if there is one. Callers keep the order
  // and the one-at-a-time promise of SetListener.
  void Announce(const EventPtr& event) {
    absl::MutexLock lock(&listener_mu_);
    if (listener_) listener_(event);
  }

 private:
  absl::Mutex listener_mu_;
  Listener listener_ ABSL_GUARDED_BY(listener_mu_);
};

// The OUT_OF_RANGE error for a start before `range.oldest`, shared by every
// log so that callers see one error whichever log they use.
absl::Status SequenceTooOldError(std::uint64_t after, SequenceRange range);

}  // namespace paradym::webhooks

#endif  // PARADYM_WEBHOOKS_SERVER_CORE_EVENT_LOG_H_
