// Appending to an EventLog from a test, one event at a time.
//
//   absl::StatusOr<EventPtr> stored = AppendAndWait(log,
//   StoredEvent::Create(e));

#ifndef PARADYM_WEBHOOKS_TESTS_TESTING_EVENT_LOG_TESTING_H_
#define PARADYM_WEBHOOKS_TESTS_TESTING_EVENT_LOG_TESTING_H_

#include <memory>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "server/core/event_log.h"

namespace paradym::webhooks::testing {

// Appends `event` and waits at most `timeout` for the log's answer.
inline absl::StatusOr<EventPtr> AppendAndWait(
    EventLog& log, std::shared_ptr<StoredEvent> event,
    absl::Duration timeout = absl::Seconds(30)) {
  struct Result {
    absl::Notification done;
    absl::StatusOr<EventPtr> stored;
  };
  // Shared, so that a late answer after a timeout writes to live memory.
  auto result = std::make_shared<Result>();
  log.Append(std::move(event), [result](absl::StatusOr<EventPtr> stored) {
    result->stored = std::move(stored);
    result->done.Notify();
  });
  if (!result->done.WaitForNotificationWithTimeout(timeout)) {
    return absl::DeadlineExceededError("the log did not answer the append");
  }
  return result->stored;
}

}  // namespace paradym::webhooks::testing

#endif  // PARADYM_WEBHOOKS_TESTS_TESTING_EVENT_LOG_TESTING_H_
