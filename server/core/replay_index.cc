#include "server/core/replay_index.h"

namespace paradym::webhooks {

void ReplayIndex::Add(std::uint64_t sequence, const ReplayDigest& digest) {
  absl::MutexLock lock(&mu_);
  by_digest_.insert_or_assign(digest, sequence);
  by_sequence_.emplace_back(sequence, digest);
}

std::optional<std::uint64_t> ReplayIndex::Find(
    const ReplayDigest& digest) const {
  absl::MutexLock lock(&mu_);
  auto it = by_digest_.find(digest);
  if (it == by_digest_.end()) return std::nullopt;
  return it->second;
}

void ReplayIndex::ForgetBefore(std::uint64_t sequence) {
  absl::MutexLock lock(&mu_);
  while (!by_sequence_.empty() && by_sequence_.front().first < sequence) {
    const auto& [forgotten, digest] = by_sequence_.front();
    auto it = by_digest_.find(digest);
    // A later event with the same digest keeps its entry.
    if (it != by_digest_.end() && it->second == forgotten) by_digest_.erase(it);
    by_sequence_.pop_front();
  }
}

void ReplayIndex::Clear() {
  absl::MutexLock lock(&mu_);
  by_digest_.clear();
  by_sequence_.clear();
}

std::size_t ReplayIndex::size() const {
  absl::MutexLock lock(&mu_);
  return by_sequence_.size();
}

}  // namespace paradym::webhooks
