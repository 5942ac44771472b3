#include "server/core/memory_event_log.h"

#include <algorithm>
#include <utility>

namespace paradym::webhooks {

void MemoryEventLog::Append(std::shared_ptr<StoredEvent> event,
                            AppendCallback done) {
  EventPtr stored;
  {
    // Held through the announcement, not through `done`: the listener needs
    // sequence order, answers (an HTTP 200, an Ingest reply) do not, and the
    // HTTP threads should not queue behind each other's answers.
    absl::MutexLock order(&append_mu_);
    stored = Keep(std::move(event));
    Announce(stored);
  }
  std::move(done)(std::move(stored));
}

EventPtr MemoryEventLog::Keep(std::shared_ptr<StoredEvent> event) {
  absl::MutexLock lock(&mu_);
  event->set_sequence(oldest_ + entries_.size());
  const std::size_t bytes = event->MemoryBytes();
  if (event->has_replay_digest()) {
    replays_.Add(event->sequence(), event->replay_digest());
  }
  EventPtr stored = std::move(event);
  entries_.push_back({stored, bytes});
  bytes_ += bytes;
  // Keep at least the newest event, whatever its size.
  while (entries_.size() > 1 && (entries_.size() > options_.max_events ||
                                 bytes_ > options_.max_bytes)) {
    bytes_ -= entries_.front().bytes;
    entries_.pop_front();
    ++oldest_;
  }
  replays_.ForgetBefore(oldest_);
  return stored;
}

absl::Status MemoryEventLog::ReadAfter(std::uint64_t after, std::uint64_t up_to,
                                       std::size_t max_events,
                                       std::vector<EventPtr>& out) const {
  absl::MutexLock lock(&mu_);
  const SequenceRange range{oldest_, oldest_ + entries_.size() - 1};
  if (range.TooOld(after)) return SequenceTooOldError(after, range);
  const std::uint64_t last = std::min(up_to, range.last);
  if (after >= last) return absl::OkStatus();
  for (std::uint64_t seq = after + 1; seq <= last && max_events > 0;
       ++seq, --max_events) {
    out.push_back(entries_[seq - oldest_].event);
  }
  return absl::OkStatus();
}

SequenceRange MemoryEventLog::Range() const {
  absl::MutexLock lock(&mu_);
  return {oldest_, oldest_ + entries_.size() - 1};
}

std::optional<std::uint64_t> MemoryEventLog::FindReplay(
    const ReplayDigest& digest) const {
  return replays_.Find(digest);
}

std::size_t MemoryEventLog::bytes() const {
  absl::MutexLock lock(&mu_);
  return bytes_;
}

}  // namespace paradym::webhooks
