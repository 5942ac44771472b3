// Which retained event has a given replay digest, in memory.
//
// An event log keeps one of these beside its events: it adds each stored
// event's digest with its sequence, and forgets the digests of the events
// its retention deleted, so that the index holds exactly the retained
// events. Each entry costs a 32-byte digest and a sequence twice over (in
// the hash map and in the sequence-ordered queue that forgetting walks):
// about 125 bytes per retained event with the map's free slots (measured
// with a million).
//
//   ReplayIndex index;
//   index.Add(7, digest);
//   index.Find(digest);      // 7
//   index.ForgetBefore(8);   // retention deleted 1..7
//   index.Find(digest);      // nullopt
//
// Thread-safe.

#ifndef PARADYM_WEBHOOKS_SERVER_CORE_REPLAY_INDEX_H_
#define PARADYM_WEBHOOKS_SERVER_CORE_REPLAY_INDEX_H_

#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "server/core/replay_digest.h"

namespace paradym::webhooks {

class ReplayIndex {
 public:
  // Remembers that the event at `sequence` has `digest`. Sequences must
  // increase from one call to the next. When two retained events have the
  // same digest (stored twice, see README "Replays"), Find answers the later
  // one, which retention deletes last.
  void Add(std::uint64_t sequence, const ReplayDigest& digest);

  // The sequence of the retained event with `digest`, if any.
  std::optional<std::uint64_t> Find(const ReplayDigest& digest) const;

  // Forgets every event before `sequence`.
  void ForgetBefore(std::uint64_t sequence);

  // Forgets everything.
  void Clear();

  // The number of events remembered.
  std::size_t size() const;

 private:
  mutable absl::Mutex mu_;
  absl::flat_hash_map<ReplayDigest, std::uint64_t, ReplayDigestHash> by_digest_
      ABSL_GUARDED_BY(mu_);
  std::deque<std::pair<std::uint64_t, ReplayDigest>> by_sequence_
      ABSL_GUARDED_BY(mu_);
};

}  // namespace paradym::webhooks

#endif  // PARADYM_WEBHOOKS_SERVER_CORE_REPLAY_INDEX_H_
