// Fans accepted events out to subscribers, each at its own pace.
//
// A subscription first replays what the log holds after its start, then
// switches to live events with no gap and no duplicate: the switch happens
// under the hub's lock at the exact sequence the hub last published. Live
// events go into the subscription's bounded queue (pointers to the shared,
// immutable events, so fan-out copies nothing). Publishing never waits on a
// subscriber: one whose queue is full is ended with RESOURCE_EXHAUSTED
// (SUBSCRIBER_TOO_SLOW) carrying the last sequence it was given.
//
// The consumer pulls with Next(); when Next() finds nothing it arms the
// subscription, and `on_ready` runs once, outside every hub lock, when events
// arrive or the subscription ends.
//
//   auto subscription = hub.Subscribe(filter, std::nullopt, [&] { Pump(); });
//   std::vector<EventPtr> batch;
//   absl::Status status = (*subscription)->Next(256, 1 << 20, batch);
//   ...
//   hub.Unsubscribe(**subscription);  // on_ready never runs after this
//
// The hub listens to its log (EventLog::SetListener): every event the log
// announces is published, in sequence order. Publish can also be called
// directly, with the same ordering, by a hub whose log announces nothing:
//   SubscriptionHub::Wakeups wakeups = hub.Publish(stored_event);
//   hub.Wake(std::move(wakeups));  // after releasing the publisher's locks

#ifndef PARADYM_WEBHOOKS_SERVER_CORE_SUBSCRIPTION_HUB_H_
#define PARADYM_WEBHOOKS_SERVER_CORE_SUBSCRIPTION_HUB_H_

#include <cassert>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "server/core/event_filter.h"
#include "server/core/event_log.h"

namespace paradym::webhooks {

class Subscription;

class SubscriptionHub {
 public:
  struct Options {
    // Live events a subscriber may have waiting before it is ended with
    // RESOURCE_EXHAUSTED.
    std::size_t queue_capacity = 8192;
    // Open subscriptions at most; more are refused with RESOURCE_EXHAUSTED
    // (TOO_MANY_SUBSCRIBERS). Each pins a batch in its transport's buffers.
    std::size_t max_subscriptions = 1000;
  };

  // Subscriptions that must be woken, returned by Publish and Shutdown.
  using Wakeups = std::vector<std::shared_ptr<Subscription>>;

  // Becomes the listener of `log`, which must outlive the hub and must not
  // append while the hub is destroyed. Live events start after the log's last
  // sequence.
  SubscriptionHub(EventLog& log, Options options);
  ~SubscriptionHub();

  SubscriptionHub(const SubscriptionHub&) = delete;
  SubscriptionHub& operator=(const SubscriptionHub&) = delete;

  // Starts a subscription. `start_after`: nullopt for live events only; 0 for
  // everything the log holds; N for everything after N, also when N is beyond
  // what the log holds yet but within its Horizon() (a replica catching up:
  // the events come once it has them). OUT_OF_RANGE (SEQUENCE_TOO_OLD /
  // SEQUENCE_TOO_NEW) when N is outside the log, UNAVAILABLE (SHUTTING_DOWN)
  // after Shutdown, RESOURCE_EXHAUSTED (TOO_MANY_SUBSCRIBERS) when
  // max_subscriptions are open.
  absl::StatusOr<std::shared_ptr<Subscription>> Subscribe(
      EventFilter filter, std::optional<std::uint64_t> start_after,
      std::function<void()> on_ready);

  // Removes `subscription`. When this returns, its `on_ready` is not running
  // and never runs again. Must not be called from inside `on_ready`.
  void Unsubscribe(Subscription& subscription);

  // Hands `event` to every live matching subscription. Events must come in
  // sequence order, each after the log stored it. Never blocks on a
  // subscriber; call Wake() with the result after releasing your own locks.
  [[nodiscard]] Wakeups Publish(EventPtr event);

  // Runs `on_ready` of each subscription in `wakeups`.
  void Wake(Wakeups wakeups);

  // Ends every subscription with UNAVAILABLE (SHUTTING_DOWN) and refuses new
  // ones.
  void Shutdown();

  // The number of open subscriptions.
  std::size_t size() const;

  // How many subscriptions were ended for falling behind, since start.
  std::uint64_t overflows() const;

 private:
  friend class Subscription;

  // Ends `subscription` with `status` and, when it waits, adds it to `wakeups`.
  void EndLocked(const std::shared_ptr<Subscription>& subscription,
                 absl::Status status, Wakeups& wakeups)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ArmForWakeLocked(const std::shared_ptr<Subscription>& subscription,
                        Wakeups& wakeups) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  EventLog& log_;
  const Options options_;
  mutable absl::Mutex mu_;
  std::vector<std::shared_ptr<Subscription>> subscriptions_
      ABSL_GUARDED_BY(mu_);
  std::uint64_t last_published_ ABSL_GUARDED_BY(mu_);
  bool shutting_down_ ABSL_GUARDED_BY(mu_) = false;
  std::uint64_t overflows_ ABSL_GUARDED_BY(mu_) = 0;
};

// Declared after SubscriptionHub, whose lock guards its state.
class Subscription {
 public:
  Subscription(const Subscription&) = delete;
  Subscription& operator=(const Subscription&) = delete;

  // Replaces `out` with the next matching events: at most `max_events`, and
  // no more than `max_bytes` encoded unless a single event is larger. Empty
  // `out` with OK: nothing yet, and `on_ready` will run once when there is.
  // Otherwise the status that ended the subscription: RESOURCE_EXHAUSTED
  // (SUBSCRIBER_TOO_SLOW), UNAVAILABLE (SHUTTING_DOWN), OUT_OF_RANGE
  // (SEQUENCE_TOO_OLD, when replay falls behind the log). One consumer at a
  // time.
  absl::Status Next(std::size_t max_events, std::size_t max_bytes,
                    std::vector<EventPtr>& out);

 private:
  friend class SubscriptionHub;
  Subscription(SubscriptionHub& hub, EventFilter filter, std::uint64_t cursor,
               std::function<void()> on_ready)
      : hub_(hub),
        filter_(std::move(filter)),
        on_ready_(std::move(on_ready)),
        cursor_(cursor) {}

  // `hub`, whose lock the caller holds, is hub_: every subscription a hub
  // handles is its own. Tells the thread-safety analysis, which cannot see
  // it, that the state below is locked.
  void AssertHub(const SubscriptionHub& hub) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(hub.mu_)
          ABSL_ASSERT_EXCLUSIVE_LOCK(hub_.mu_) {
    assert(&hub == &hub_);
  }

  // Reads the next replay batch from the log, outside the hub's lock.
  absl::Status Replay(std::uint64_t up_to, std::size_t max_events,
                      std::size_t max_bytes, std::vector<EventPtr>& out);

  SubscriptionHub& hub_;
  const EventFilter filter_;
  const std::function<void()> on_ready_;

  // Only the consumer touches these while replaying; the hub's lock guards
  // the switch to live.
  std::uint64_t cursor_;  // the last sequence given out (or skipped)

  bool live_ ABSL_GUARDED_BY(hub_.mu_) = false;
  std::deque<EventPtr> queue_ ABSL_GUARDED_BY(hub_.mu_);
  bool armed_ ABSL_GUARDED_BY(hub_.mu_) = false;
  absl::Status end_ ABSL_GUARDED_BY(hub_.mu_);
  int wakes_running_ ABSL_GUARDED_BY(hub_.mu_) = 0;
  bool unsubscribed_ ABSL_GUARDED_BY(hub_.mu_) = false;
};

}  // namespace paradym::webhooks

#endif  // PARADYM_WEBHOOKS_SERVER_CORE_SUBSCRIPTION_HUB_H_
