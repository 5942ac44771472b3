// The event log: every accepted event, in sequence order.
//
// The log assigns sequences (1, 2, 3, ... without gaps among stored events)
// and keeps events so that subscribers can replay from a sequence.
// Implementations decide how long events are kept (MemoryEventLog keeps a
// bounded window; SqliteEventLog keeps them on disk for a retention period).
// Stored events are immutable and shared.
//
//   log.Append(std::move(event), [](absl::StatusOr<EventPtr> stored) {
//     // Committed: publish, then answer.
//   });
//   std::vector<EventPtr> batch;
//   absl::Status status = log.ReadAfter(/*after=*/10, /*up_to=*/20,
//                                       /*max_events=*/5, batch);

#ifndef PARADYM_WEBHOOKS_SERVER_CORE_EVENT_LOG_H_
#define PARADYM_WEBHOOKS_SERVER_CORE_EVENT_LOG_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "server/core/metrics.h"
#include "server/core/stored_event.h"

namespace paradym::webhooks {

// The sequences a log holds: `oldest` to `last`, both included. An empty log
// has oldest == last + 1.
struct SequenceRange {
  std::uint64_t oldest = 1;
  std::uint64_t last = 0;
};

class EventLog {
 public:
  virtual ~EventLog() = default;

  // Receives the stored event, or why it was not stored.
  using AppendCallback = absl::AnyInvocable<void(absl::StatusOr<EventPtr>) &&>;

  // Assigns the next sequence to `event` and stores it. `done` then receives
  // the stored event (nobody modifies it from then on) once it is committed,
  // that is durable as far as the log promises, or the error that kept it out
  // of the log: UNAVAILABLE (STORE_FULL, STORE_FAILED, SHUTTING_DOWN), after
  // which the log holds exactly what it held before. Thread-safe.
  //
  // The `done` of stored events run one at a time and in sequence order, so
  // that the caller can publish from them in order. `done` may run on the
  // calling thread before Append returns or later on a thread of the log's;
  // it must not call Append.
  virtual void Append(std::shared_ptr<StoredEvent> event,
                      AppendCallback done) = 0;

  // Appends to `out` the events with sequence in (after, up_to], oldest
  // first, at most `max_events` of them. OUT_OF_RANGE (SEQUENCE_TOO_OLD,
  // metadata `oldest_sequence`) when the log no longer holds `after + 1`.
  // Thread-safe.
  virtual absl::Status ReadAfter(std::uint64_t after, std::uint64_t up_to,
                                 std::size_t max_events,
                                 std::vector<EventPtr>& out) const = 0;

  // The sequences held now. Thread-safe.
  virtual SequenceRange Range() const = 0;

  // Adds the log's own metrics, if it has any, to a /metrics page.
  virtual void AddMetrics(PrometheusText& text) const {}
};

// The OUT_OF_RANGE error for a start before `range.oldest`, shared by every
// log so that callers see one error whichever log they use.
absl::Status SequenceTooOldError(std::uint64_t after, SequenceRange range);

}  // namespace paradym::webhooks

#endif  // PARADYM_WEBHOOKS_SERVER_CORE_EVENT_LOG_H_
