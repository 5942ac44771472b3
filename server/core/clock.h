// The time source of the core, a seam so that tests control `receive_time`.
//
//   RealClock clock;
//   absl::Time now = clock.Now();

#ifndef PARADYM_WEBHOOKS_SERVER_CORE_CLOCK_H_
#define PARADYM_WEBHOOKS_SERVER_CORE_CLOCK_H_

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace paradym::webhooks {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual absl::Time Now() const = 0;
};

class RealClock final : public Clock {
 public:
  absl::Time Now() const override { return absl::Now(); }
};

}  // namespace paradym::webhooks

#endif  // PARADYM_WEBHOOKS_SERVER_CORE_CLOCK_H_
