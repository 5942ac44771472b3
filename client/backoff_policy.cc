#include "client/backoff_policy.h"

#include <algorithm>
#include <random>
#include <utility>

namespace paradym::webhooks::cli {

Jitter UniformJitter() {
  return [generator = std::mt19937{std::random_device{}()}]() mutable {
    return std::uniform_real_distribution<double>(0.5, 1.5)(generator);
  };
}

ExponentialBackoffPolicy::ExponentialBackoffPolicy(absl::Duration initial,
                                                   absl::Duration maximum,
                                                   Jitter jitter)
    : initial_(initial),
      maximum_(maximum),
      jitter_(std::move(jitter)),
      next_(initial) {}

absl::Duration ExponentialBackoffPolicy::OnFailure() {
  const absl::Duration base = std::min(maximum_, next_);
  next_ = std::min(maximum_, 2 * next_);
  return base * jitter_();
}

void ExponentialBackoffPolicy::Reset() { next_ = initial_; }

}  // namespace paradym::webhooks::cli
