// The event log: every accepted event, in sequence order.
//
// The log assigns sequences (1, 2, 3, ... without gaps) and keeps events so
// that subscribers can replay from a sequence. Implementations decide how
// long events are kept (MemoryEventLog keeps a bounded window; a durable store
// keeps them on disk). Stored events are immutable and shared.
//
//   absl::StatusOr<EventPtr> stored = log.Append(std::move(event));
//   std::vector<EventPtr> batch;
//   absl::Status status = log.ReadAfter(/*after=*/10, /*up_to=*/20,
//                                       /*max_events=*/5, batch);

#ifndef PARADYM_WEBHOOKS_SERVER_CORE_EVENT_LOG_H_
#define PARADYM_WEBHOOKS_SERVER_CORE_EVENT_LOG_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
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

  // Assigns the next sequence to `event`, stores it and returns it; nobody
  // modifies it from then on. Not thread-safe against itself: the caller
  // orders appends.
  virtual absl::StatusOr<EventPtr> Append(
      std::shared_ptr<StoredEvent> event) = 0;

  // Appends to `out` the events with sequence in (after, up_to], oldest
  // first, at most `max_events` of them. OUT_OF_RANGE (SEQUENCE_TOO_OLD,
  // metadata `oldest_sequence`) when the log no longer holds `after + 1`.
  // Thread-safe.
  virtual absl::Status ReadAfter(std::uint64_t after, std::uint64_t up_to,
                                 std::size_t max_events,
                                 std::vector<EventPtr>& out) const = 0;

  // The sequences held now. Thread-safe.
  virtual SequenceRange Range() const = 0;
};

// The OUT_OF_RANGE error for a start before `range.oldest`, shared by every
// log so that callers see one error whichever log they use.
absl::Status SequenceTooOldError(std::uint64_t after, SequenceRange range);

}  // namespace paradym::webhooks

#endif  // PARADYM_WEBHOOKS_SERVER_CORE_EVENT_LOG_H_
