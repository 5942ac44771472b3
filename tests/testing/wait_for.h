// Waiting for a condition that another thread or process makes true, when
// nothing notifies us of it (a server's answer, a file, a metric). Where the
// code offers a notification (an absl::Notification, a callback, a Mutex
// condition), wait on that instead.
//
//   ASSERT_TRUE(WaitFor([&] { return log.Range().last == 5; },
//                       absl::Seconds(10)));
//   // A condition that costs a request: ask less often.
//   ASSERT_TRUE(WaitFor([&] { return ListAll().size() == 5; },
//                       absl::Seconds(30), absl::Milliseconds(100)));

#ifndef PARADYM_WEBHOOKS_TESTS_TESTING_WAIT_FOR_H_
#define PARADYM_WEBHOOKS_TESTS_TESTING_WAIT_FOR_H_

#include <algorithm>

#include "absl/functional/function_ref.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace paradym::webhooks::testing {

// True as soon as `condition` holds, looking every `interval`; false if it
// still does not after `timeout`. `condition` is asked at least once, and
// once more at the timeout.
inline bool WaitFor(absl::FunctionRef<bool()> condition, absl::Duration timeout,
                    absl::Duration interval = absl::Milliseconds(5)) {
  const absl::Time deadline = absl::Now() + timeout;
  for (;;) {
    if (condition()) return true;
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) return false;
    absl::SleepFor(std::min(interval, left));
  }
}

}  // namespace paradym::webhooks::testing

#endif  // PARADYM_WEBHOOKS_TESTS_TESTING_WAIT_FOR_H_
