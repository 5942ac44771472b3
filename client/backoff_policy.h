// How long a client waits before it tries again after a failure: truncated
// exponential backoff with jitter, so that the many consumers of a server
// that restarts do not all come back at the same moment.
//
//   ExponentialBackoffPolicy backoff(absl::Milliseconds(100), absl::Seconds(5),
//                                    UniformJitter());
//   absl::Duration delay = backoff.OnFailure();  // about 100 ms
//   delay = backoff.OnFailure();                 // about 200 ms
//   backoff.Reset();                             // progress: 100 ms again
//
// Thread-compatible: one caller at a time.

#ifndef PARADYM_WEBHOOKS_CLIENT_BACKOFF_POLICY_H_
#define PARADYM_WEBHOOKS_CLIENT_BACKOFF_POLICY_H_

#include <functional>

#include "absl/time/time.h"

namespace paradym::webhooks::cli {

class BackoffPolicy {
 public:
  virtual ~BackoffPolicy() = default;

  // An attempt failed: the delay before the next one.
  virtual absl::Duration OnFailure() = 0;

  // An attempt made progress: the next failure is treated as the first.
  virtual void Reset() = 0;
};

// A factor each delay is multiplied by.
using Jitter = std::function<double()>;

// Factors drawn uniformly from [0.5, 1.5), from a generator seeded by
// std::random_device.
Jitter UniformJitter();

class ExponentialBackoffPolicy final : public BackoffPolicy {
 public:
  // The first failure waits `initial`, each further one twice as long, up to
  // `maximum`; every delay is then multiplied by `jitter()`.
  ExponentialBackoffPolicy(absl::Duration initial, absl::Duration maximum,
                           Jitter jitter);

  absl::Duration OnFailure() override;
  void Reset() override;

 private:
  const absl::Duration initial_;
  const absl::Duration maximum_;
  Jitter jitter_;
  absl::Duration next_;  // before jitter
};

}  // namespace paradym::webhooks::cli

#endif  // PARADYM_WEBHOOKS_CLIENT_BACKOFF_POLICY_H_
