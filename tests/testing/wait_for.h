// Waiting for a condition that another thread or process makes true.
//
//   ASSERT_TRUE(WaitFor([&] { return log.Range().last == 5; },
//                       absl::Seconds(10)));

#ifndef PARADYM_WEBHOOKS_TESTS_TESTING_WAIT_FOR_H_
#define PARADYM_WEBHOOKS_TESTS_TESTING_WAIT_FOR_H_

#include "absl/functional/function_ref.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace paradym::webhooks::testing {

// True as soon as `condition` holds, looking every few milliseconds; false
// if it still does not after `timeout`.
inline bool WaitFor(absl::FunctionRef<bool()> condition,
                    absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  for (;;) {
    if (condition()) return true;
    if (absl::Now() >= deadline) return false;
    absl::SleepFor(absl::Milliseconds(5));
  }
}

}  // namespace paradym::webhooks::testing

#endif  // PARADYM_WEBHOOKS_TESTS_TESTING_WAIT_FOR_H_
