// A Clock that tests set by hand.
//
//   FakeClock clock(absl::FromUnixSeconds(1718184600));
//   clock.Advance(absl::Seconds(1));

#ifndef PARADYM_WEBHOOKS_TESTS_TESTING_FAKE_CLOCK_H_
#define PARADYM_WEBHOOKS_TESTS_TESTING_FAKE_CLOCK_H_

#include "absl/synchronization/mutex.h"
#include "server/core/clock.h"

namespace paradym::webhooks::testing {

class FakeClock final : public Clock {
 public:
  explicit FakeClock(absl::Time now) : now_(now) {}
  absl::Time Now() const override {
    absl::MutexLock lock(&mu_);
    return now_;
  }
  void Advance(absl::Duration d) {
    absl::MutexLock lock(&mu_);
    now_ += d;
  }

 private:
  mutable absl::Mutex mu_;
  absl::Time now_;
};

}  // namespace paradym::webhooks::testing

#endif  // PARADYM_WEBHOOKS_TESTS_TESTING_FAKE_CLOCK_H_
