#include "server/core/subscription_hub.h"

#include <algorithm>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "server/core/errors.h"

namespace paradym::webhooks {
namespace {

// Events read from the log per step while replaying.
constexpr std::size_t kReplayChunk = 256;

// The subscription whose `on_ready` this thread is running, if any. Should a
// transport end a subscription from inside its own `on_ready`, Unsubscribe
// then waits only for the other threads' wakes instead of for itself.
thread_local const Subscription* waking_now = nullptr;

absl::Status ShuttingDown() {
  return MakeError(absl::StatusCode::kUnavailable, kShuttingDown,
                   "the server is shutting down; reconnect and resume after "
                   "the last sequence received");
}

}  // namespace

absl::Status Subscription::Next(std::size_t max_events, std::size_t max_bytes,
                                std::vector<EventPtr>& out) {
  out.clear();
  for (;;) {
    std::uint64_t up_to = 0;
    {
      absl::MutexLock lock(&hub_.mu_);
      if (!end_.ok()) return end_;
      if (!live_ && cursor_ >= hub_.last_published_) live_ = true;
      if (live_) {
        std::size_t bytes = 0;
        while (!queue_.empty() && out.size() < max_events) {
          const std::size_t size = queue_.front()->EncodedSize();
          if (!out.empty() && bytes + size > max_bytes) break;
          bytes += size;
          out.push_back(std::move(queue_.front()));
          queue_.pop_front();
        }
        if (out.empty()) {
          armed_ = true;
        } else {
          cursor_ = out.back()->sequence();
        }
        return absl::OkStatus();
      }
      up_to = hub_.last_published_;
    }
    if (absl::Status status = Replay(up_to, max_events, max_bytes, out);
        !status.ok()) {
      absl::MutexLock lock(&hub_.mu_);
      if (end_.ok()) end_ = status;
      return end_;
    }
    if (!out.empty()) return absl::OkStatus();
    // Nothing in that window matched; look again, possibly switching to live.
  }
}

absl::Status Subscription::Replay(std::uint64_t up_to, std::size_t max_events,
                                  std::size_t max_bytes,
                                  std::vector<EventPtr>& out) {
  std::vector<EventPtr> chunk;
  std::size_t bytes = 0;
  while (cursor_ < up_to) {
    chunk.clear();
    if (absl::Status status =
            hub_.log_.ReadAfter(cursor_, up_to, kReplayChunk, chunk);
        !status.ok()) {
      return status;
    }
    if (chunk.empty()) {
      // The log must hold everything up to what was published.
      return MakeError(
          absl::StatusCode::kInternal, "LOG_GAP",
          absl::StrCat("the event log holds nothing after ", cursor_,
                       " but sequence ", up_to, " was published"));
    }
    for (EventPtr& event : chunk) {
      if (filter_.Matches(*event)) {
        const std::size_t size = event->EncodedSize();
        if (out.size() == max_events ||
            (!out.empty() && bytes + size > max_bytes)) {
          return absl::OkStatus();
        }
        bytes += size;
        cursor_ = event->sequence();
        out.push_back(std::move(event));
      } else {
        cursor_ = event->sequence();
      }
    }
    if (!out.empty()) return absl::OkStatus();
  }
  return absl::OkStatus();
}

SubscriptionHub::SubscriptionHub(EventLog& log, Options options)
    : log_(log), options_(options), last_published_(log.Range().last) {
  log_.SetListener([this](EventPtr event) { Wake(Publish(std::move(event))); });
}

SubscriptionHub::~SubscriptionHub() { log_.SetListener(nullptr); }

absl::StatusOr<std::shared_ptr<Subscription>> SubscriptionHub::Subscribe(
    EventFilter filter, std::optional<std::uint64_t> start_after,
    std::function<void()> on_ready) {
  absl::MutexLock lock(&mu_);
  if (shutting_down_) return ShuttingDown();
  if (subscriptions_.size() >= options_.max_subscriptions) {
    return MakeError(
        absl::StatusCode::kResourceExhausted, kTooManySubscribers,
        absl::StrCat(subscriptions_.size(),
                     " Subscribe streams are open, the most this server "
                     "takes (--max_subscribers); retry later"),
        {{"max_subscribers", std::to_string(options_.max_subscriptions)}});
  }
  std::uint64_t cursor = last_published_;
  if (start_after.has_value()) {
    const std::uint64_t after = *start_after;
    const SequenceRange range = log_.Range();
    const std::uint64_t horizon = std::max(last_published_, log_.Horizon());
    if (after > horizon) {
      return MakeError(
          absl::StatusCode::kOutOfRange, kSequenceTooNew,
          absl::StrCat(
              "start_after_sequence ", after,
              " is beyond the last accepted sequence ", horizon,
              "; was the log reset? Start after 0 for everything held"),
          {{"oldest_sequence", std::to_string(range.oldest)},
           {"last_sequence", std::to_string(horizon)}});
    }
    if (after == 0) {
      cursor = std::min(range.oldest - 1, last_published_);
    } else if (range.TooOld(after)) {
      return SequenceTooOldError(after, range);
    } else {
      cursor = after;
    }
  }
  std::shared_ptr<Subscription> subscription(
      new Subscription(*this, std::move(filter), cursor, std::move(on_ready)));
  subscription->AssertHub(*this);
  // A start beyond what was published (a replica catching up) is live at
  // once: Publish skips what it has seen.
  subscription->live_ = cursor >= last_published_;
  subscriptions_.push_back(subscription);
  return subscription;
}

void SubscriptionHub::Unsubscribe(Subscription& subscription) {
  absl::MutexLock lock(&mu_);
  subscription.AssertHub(*this);
  subscription.unsubscribed_ = true;
  subscription.queue_.clear();
  if (subscription.end_.ok()) {
    subscription.end_ = absl::CancelledError("unsubscribed");
  }
  subscriptions_.erase(
      std::remove_if(subscriptions_.begin(), subscriptions_.end(),
                     [&](const std::shared_ptr<Subscription>& s) {
                       return s.get() == &subscription;
                     }),
      subscriptions_.end());
  const int own_wakes = waking_now == &subscription ? 1 : 0;
  struct Waiting {
    Subscription* subscription;
    int own_wakes;
  } waiting{&subscription, own_wakes};
  mu_.Await(absl::Condition(
      +[](Waiting* w) ABSL_NO_THREAD_SAFETY_ANALYSIS {  // Await holds mu_
        return w->subscription->wakes_running_ <= w->own_wakes;
      },
      &waiting));
}

SubscriptionHub::Wakeups SubscriptionHub::Publish(EventPtr event) {
  Wakeups wakeups;
  absl::MutexLock lock(&mu_);
  last_published_ = event->sequence();
  for (const auto& subscription : subscriptions_) {
    subscription->AssertHub(*this);
    // A live subscription's cursor changes only under mu_.
    if (!subscription->live_ || !subscription->end_.ok() ||
        event->sequence() <= subscription->cursor_ ||
        !subscription->filter_.Matches(*event)) {
      continue;
    }
    if (subscription->queue_.size() >= options_.queue_capacity) {
      ++overflows_;
      const std::uint64_t last = subscription->cursor_;
      EndLocked(
          subscription,
          MakeError(absl::StatusCode::kResourceExhausted, kSubscriberTooSlow,
                    absl::StrCat("the subscriber fell more than ",
                                 options_.queue_capacity,
                                 " events behind; resume with "
                                 "start_after_sequence ",
                                 last),
                    {{"last_sequence", std::to_string(last)}}),
          wakeups);
      continue;
    }
    subscription->queue_.push_back(event);
    ArmForWakeLocked(subscription, wakeups);
  }
  return wakeups;
}

void SubscriptionHub::Wake(Wakeups wakeups) {
  if (wakeups.empty()) return;
  for (const auto& subscription : wakeups) {
    waking_now = subscription.get();
    subscription->on_ready_();
    waking_now = nullptr;
  }
  absl::MutexLock lock(&mu_);
  for (const auto& subscription : wakeups) {
    subscription->AssertHub(*this);
    --subscription->wakes_running_;
  }
}

void SubscriptionHub::Shutdown() {
  Wakeups wakeups;
  {
    absl::MutexLock lock(&mu_);
    shutting_down_ = true;
    for (const auto& subscription : subscriptions_) {
      subscription->AssertHub(*this);
      if (subscription->end_.ok()) {
        EndLocked(subscription, ShuttingDown(), wakeups);
      }
    }
  }
  Wake(std::move(wakeups));
}

std::size_t SubscriptionHub::size() const {
  absl::MutexLock lock(&mu_);
  return subscriptions_.size();
}

std::uint64_t SubscriptionHub::overflows() const {
  absl::MutexLock lock(&mu_);
  return overflows_;
}

void SubscriptionHub::EndLocked(
    const std::shared_ptr<Subscription>& subscription, absl::Status status,
    Wakeups& wakeups) {
  subscription->AssertHub(*this);
  subscription->end_ = std::move(status);
  subscription->queue_.clear();
  ArmForWakeLocked(subscription, wakeups);
}

void SubscriptionHub::ArmForWakeLocked(
    const std::shared_ptr<Subscription>& subscription, Wakeups& wakeups) {
  subscription->AssertHub(*this);
  if (!subscription->armed_ || subscription->unsubscribed_) return;
  subscription->armed_ = false;
  ++subscription->wakes_running_;
  wakeups.push_back(subscription);
}

}  // namespace paradym::webhooks
