#include "server/core/subscription_hub.h"

#include <algorithm>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "server/core/errors.h"
#include "server/core/status_macros.h"

namespace paradym::webhooks {
namespace {

// Events read from the log per step while replaying.
constexpr std::size_t kReplayChunk = 256;

// The size of a shared chunk of framed live events (a larger event gets one
// of its own). A batch references a chunk only for at least half of it.
constexpr std::size_t kChunkBytes = std::size_t{32} << 10;

// The subscription whose `on_ready` this thread is running, if any. Should a
// transport end a subscription from inside its own `on_ready`, Unsubscribe
// then waits only for the other threads' wakes instead of for itself.
thread_local const Subscription* waking_now = nullptr;

absl::Status Unsubscribed() {
  return MakeError(absl::StatusCode::kCancelled, kCancelled, "unsubscribed");
}

absl::Status ShuttingDown() {
  return MakeError(absl::StatusCode::kUnavailable, kShuttingDown,
                   "the server is shutting down; reconnect and resume after "
                   "the last sequence received");
}

}  // namespace

// Where Take puts the events it takes.
class Subscription::Sink {
 public:
  virtual ~Sink() = default;
  // Adds `event`, whose sequence is `sequence`. `chunk`: the shared chunk
  // that holds it framed (`size` bytes at `offset`); nullptr when none does.
  virtual void Add(const EventPtr& event, std::uint64_t sequence,
                   const std::shared_ptr<const EncodedChunk>* chunk,
                   std::size_t offset, std::size_t size) = 0;
  virtual std::size_t events() const = 0;
};

class Subscription::EventSink final : public Sink {
 public:
  explicit EventSink(std::vector<EventPtr>& out) : out_(out) {}
  void Add(const EventPtr& event, std::uint64_t,
           const std::shared_ptr<const EncodedChunk>*, std::size_t,
           std::size_t) override {
    out_.push_back(event);
  }
  std::size_t events() const override { return out_.size(); }

 private:
  std::vector<EventPtr>& out_;
};

class Subscription::EncodedSink final : public Sink {
 public:
  explicit EncodedSink(EncodedBatchBuilder& out) : out_(out) {}
  void Add(const EventPtr& event, std::uint64_t sequence,
           const std::shared_ptr<const EncodedChunk>* chunk, std::size_t offset,
           std::size_t size) override {
    if (chunk != nullptr) {
      out_.AddEncoded(*chunk, offset, size, sequence);
    } else {
      out_.AddEvent(event);
    }
  }
  std::size_t events() const override { return out_.events(); }

 private:
  EncodedBatchBuilder& out_;
};

absl::Status Subscription::Next(std::size_t max_events, std::size_t max_bytes,
                                std::vector<EventPtr>& out) {
  out.clear();
  EventSink sink(out);
  return Take(max_events, max_bytes, sink);
}

absl::Status Subscription::Next(std::size_t max_events, std::size_t max_bytes,
                                EncodedBatch& out) {
  EncodedSink sink(builder_);
  absl::Status status = Take(max_events, max_bytes, sink);
  // Outside the hub's lock: whatever must be copied is copied here.
  builder_.Build(out);
  return status;
}

absl::Status Subscription::Take(std::size_t max_events, std::size_t max_bytes,
                                Sink& out) {
  for (;;) {
    std::uint64_t up_to = 0;
    {
      absl::MutexLock lock(&hub_.mu_);
      SubscriptionHub::Subscriber* self = hub_.FindLocked(*this);
      if (self == nullptr) return Unsubscribed();
      if (!self->end.ok()) return self->end;
      if (!self->live && replay_cursor_ >= hub_.last_published_) {
        hub_.GoLiveLocked(*self);
      }
      if (self->live) {
        hub_.TakeLiveLocked(*self, max_events, max_bytes, out);
        return absl::OkStatus();
      }
      up_to = hub_.last_published_;
    }
    if (absl::Status status = Replay(up_to, max_events, max_bytes, out);
        !status.ok()) {
      absl::MutexLock lock(&hub_.mu_);
      SubscriptionHub::Subscriber* self = hub_.FindLocked(*this);
      if (self == nullptr) return Unsubscribed();
      if (self->end.ok()) self->end = status;
      return self->end;
    }
    if (out.events() > 0) return absl::OkStatus();
    // Nothing in that window matched; look again, possibly switching to live.
  }
}

template <typename Sink>
void SubscriptionHub::TakeLiveLocked(Subscriber& subscriber,
                                     std::size_t max_events,
                                     std::size_t max_bytes, Sink& out) {
  std::size_t bytes = 0;
  if (subscriber.subscription->match_all_) {
    // Every live event after the cursor, from the hub's.
    for (std::uint64_t sequence = std::max(subscriber.cursor + 1, live_first_);
         sequence <= last_published_ && out.events() < max_events; ++sequence) {
      const LiveEvent& live = LiveAt(sequence);
      if (out.events() > 0 && bytes + live.encoded_size > max_bytes) break;
      bytes += live.encoded_size;
      out.Add(live.event, sequence, ChunkOf(live), live.offset, live.size);
      subscriber.cursor = sequence;
    }
  } else {
    std::deque<EventPtr>& queue = subscriber.queue;
    while (!queue.empty() && out.events() < max_events) {
      const EventPtr& event = queue.front();
      const std::size_t size = event->EncodedSize();
      if (out.events() > 0 && bytes + size > max_bytes) break;
      bytes += size;
      const std::uint64_t sequence = event->sequence();
      // Its shared encoding, if the hub still has it.
      if (sequence >= live_first_ && sequence <= last_published_) {
        const LiveEvent& live = LiveAt(sequence);
        out.Add(event, sequence, ChunkOf(live), live.offset, live.size);
      } else {
        out.Add(event, sequence, nullptr, 0, 0);
      }
      subscriber.cursor = sequence;
      queue.pop_front();
    }
  }
  if (out.events() == 0) subscriber.armed = true;
}

absl::Status Subscription::Replay(std::uint64_t up_to, std::size_t max_events,
                                  std::size_t max_bytes, Sink& out) {
  std::vector<EventPtr> chunk;
  std::size_t bytes = 0;
  while (replay_cursor_ < up_to) {
    chunk.clear();
    RETURN_IF_ERROR(
        hub_.log_.ReadAfter(replay_cursor_, up_to, kReplayChunk, chunk));
    if (chunk.empty()) {
      // The log must hold everything up to what was published.
      return MakeError(
          absl::StatusCode::kInternal, kLogGap,
          absl::StrCat("the event log holds nothing after ", replay_cursor_,
                       " but sequence ", up_to, " was published"));
    }
    for (const EventPtr& event : chunk) {
      if (filter_.Matches(*event)) {
        const std::size_t size = event->EncodedSize();
        if (out.events() == max_events ||
            (out.events() > 0 && bytes + size > max_bytes)) {
          return absl::OkStatus();
        }
        bytes += size;
        out.Add(event, event->sequence(), nullptr, 0, 0);
      }
      replay_cursor_ = event->sequence();
    }
    if (out.events() > 0) return absl::OkStatus();
  }
  return absl::OkStatus();
}

SubscriptionHub::SubscriptionHub(EventLog& log, Options options)
    : log_(log),
      options_(options),
      live_first_(log.Range().last + 1),
      last_published_(log.Range().last) {
  log_.SetListener([this](EventPtr event) { Wake(Publish(std::move(event))); });
}

SubscriptionHub::~SubscriptionHub() { log_.SetListener(nullptr); }

absl::StatusOr<std::shared_ptr<Subscription>> SubscriptionHub::Subscribe(
    EventFilter filter, std::optional<std::uint64_t> start_after,
    std::function<void()> on_ready) {
  absl::MutexLock lock(&mu_);
  if (shutting_down_) return ShuttingDown();
  if (subscribers_.size() >= options_.max_subscriptions) {
    return MakeError(
        absl::StatusCode::kResourceExhausted, kTooManySubscribers,
        absl::StrCat(subscribers_.size(),
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
  auto subscriber = std::make_shared<Subscriber>(subscription);
  subscriber->attached = true;
  if (subscription->match_all_) {
    match_all_.push_back(subscriber.get());
  } else {
    index_.Add(subscription->filter_, subscriber.get());
  }
  // A start beyond what was published (a replica catching up) is live at
  // once: Publish skips what it has seen.
  if (cursor >= last_published_) GoLiveLocked(*subscriber);
  subscribers_.emplace(subscription.get(), std::move(subscriber));
  return subscription;
}

void SubscriptionHub::Unsubscribe(Subscription& subscription) {
  absl::MutexLock lock(&mu_);
  auto it = subscribers_.find(&subscription);
  if (it == subscribers_.end()) return;
  // Kept until its wakes have run; its Next says CANCELLED from now on.
  const std::shared_ptr<Subscriber> subscriber = std::move(it->second);
  subscribers_.erase(it);
  subscriber->queue.clear();
  DetachLocked(*subscriber);
  const int own_wakes = waking_now == &subscription ? 1 : 0;
  struct Waiting {
    const Subscriber* subscriber;
    int own_wakes;
  } waiting{subscriber.get(), own_wakes};
  mu_.Await(absl::Condition(
      +[](Waiting* w) ABSL_NO_THREAD_SAFETY_ANALYSIS {  // Await holds mu_
        return w->subscriber->wakes_running <= w->own_wakes;
      },
      &waiting));
}

SubscriptionHub::Wakeups SubscriptionHub::Publish(EventPtr event) {
  Wakeups wakeups;
  absl::MutexLock lock(&mu_);
  const std::uint64_t sequence = event->sequence();
  last_published_ = sequence;
  if (live_count_ == 0) {
    live_first_ = sequence + 1;
    return wakeups;
  }
  const bool matched = QueueForFilteredLocked(event, wakeups);
  KeepLocked(std::move(event), matched || !match_all_.empty());
  // The others read on from their cursor: wake those waiting, end those the
  // kept events no longer reach.
  for (Subscriber* subscriber : match_all_) {
    if (!subscriber->live || sequence <= subscriber->cursor) continue;
    if (subscriber->cursor + 1 < live_first_) {
      overflowing_.push_back(subscriber);
      continue;
    }
    ArmForWakeLocked(*subscriber, wakeups);
  }
  for (Subscriber* subscriber : overflowing_) {
    OverflowLocked(*subscriber, wakeups);
  }
  overflowing_.clear();
  return wakeups;
}

bool SubscriptionHub::QueueForFilteredLocked(const EventPtr& event,
                                             Wakeups& wakeups) {
  const std::uint64_t sequence = event->sequence();
  bool matched = false;
  // Only those the index names, each once.
  candidates_.clear();
  index_.AppendCandidates(*event, candidates_);
  for (Subscriber* subscriber : candidates_) {
    if (subscriber->considered == sequence) continue;
    subscriber->considered = sequence;
    if (!subscriber->live || sequence <= subscriber->cursor ||
        !subscriber->subscription->filter_.Matches(*event)) {
      continue;
    }
    if (subscriber->queue.size() >= options_.queue_capacity) {
      overflowing_.push_back(subscriber);
      continue;
    }
    subscriber->queue.push_back(event);
    matched = true;
    ArmForWakeLocked(*subscriber, wakeups);
  }
  return matched;
}

void SubscriptionHub::KeepLocked(EventPtr event, bool frame) {
  const std::size_t encoded_size = event->EncodedSize();
  LiveEvent live{std::move(event), kNoChunk, 0, 0,
                 static_cast<std::uint32_t>(encoded_size)};
  if (frame) {
    const std::size_t size = EncodedChunk::FramedSize(*live.event);
    if (filling_ == nullptr || filling_->room() < size) {
      auto chunk = std::make_shared<EncodedChunk>(std::max(kChunkBytes, size));
      filling_ = chunk.get();
      chunk_bytes_ += chunk->capacity();
      chunks_.push_back({std::move(chunk), live.event->sequence()});
      while (chunks_.size() > 1 && chunk_bytes_ > options_.max_shared_bytes) {
        DropOldestChunkLocked();
      }
    }
    live.offset =
        static_cast<std::uint32_t>(filling_->Append(*live.event, scratch_));
    live.size = static_cast<std::uint32_t>(size);
    live.chunk = chunks_base_ + chunks_.size() - 1;
  }
  live_events_.push_back(std::move(live));
  while (live_events_.size() > options_.queue_capacity) {
    live_events_.pop_front();
    ++live_first_;
  }
  // A chunk goes once no kept event is in it (batches may still hold it).
  while (chunks_.size() > 1 && chunks_[1].first_sequence <= live_first_) {
    DropOldestChunkLocked();
  }
}

void SubscriptionHub::DropOldestChunkLocked() {
  chunk_bytes_ -= chunks_.front().chunk->capacity();
  chunks_.pop_front();
  ++chunks_base_;
}

void SubscriptionHub::Wake(Wakeups wakeups) {
  if (wakeups.empty()) return;
  for (const std::shared_ptr<Subscriber>& subscriber : wakeups) {
    waking_now = subscriber->subscription.get();
    subscriber->subscription->on_ready_();
    waking_now = nullptr;
  }
  absl::MutexLock lock(&mu_);
  for (const std::shared_ptr<Subscriber>& subscriber : wakeups) {
    --subscriber->wakes_running;
  }
}

void SubscriptionHub::Shutdown() {
  Wakeups wakeups;
  {
    absl::MutexLock lock(&mu_);
    shutting_down_ = true;
    for (const auto& [subscription, subscriber] : subscribers_) {
      if (subscriber->end.ok()) EndLocked(*subscriber, ShuttingDown(), wakeups);
    }
  }
  Wake(std::move(wakeups));
}

std::size_t SubscriptionHub::size() const {
  absl::MutexLock lock(&mu_);
  return subscribers_.size();
}

std::uint64_t SubscriptionHub::overflows() const {
  absl::MutexLock lock(&mu_);
  return overflows_;
}

SubscriptionHub::Subscriber* SubscriptionHub::FindLocked(
    const Subscription& subscription) const {
  auto it = subscribers_.find(&subscription);
  return it == subscribers_.end() ? nullptr : it->second.get();
}

void SubscriptionHub::EndLocked(Subscriber& subscriber, absl::Status status,
                                Wakeups& wakeups) {
  subscriber.end = std::move(status);
  subscriber.queue.clear();
  DetachLocked(subscriber);
  ArmForWakeLocked(subscriber, wakeups);
}

void SubscriptionHub::OverflowLocked(Subscriber& subscriber, Wakeups& wakeups) {
  ++overflows_;
  const std::uint64_t last = subscriber.cursor;
  EndLocked(subscriber,
            MakeError(absl::StatusCode::kResourceExhausted, kSubscriberTooSlow,
                      absl::StrCat("the subscriber fell more than ",
                                   options_.queue_capacity,
                                   " events behind; resume with "
                                   "start_after_sequence ",
                                   last),
                      {{"last_sequence", std::to_string(last)}}),
            wakeups);
}

void SubscriptionHub::ArmForWakeLocked(Subscriber& subscriber,
                                       Wakeups& wakeups) {
  if (!subscriber.armed) return;
  subscriber.armed = false;
  ++subscriber.wakes_running;
  wakeups.push_back(subscriber.shared_from_this());
}

void SubscriptionHub::DetachLocked(Subscriber& subscriber) {
  if (!subscriber.attached) return;
  subscriber.attached = false;
  const Subscription& subscription = *subscriber.subscription;
  if (subscription.match_all_) {
    auto it = std::find(match_all_.begin(), match_all_.end(), &subscriber);
    *it = match_all_.back();
    match_all_.pop_back();
  } else {
    index_.Remove(subscription.filter_, &subscriber);
  }
  if (!subscriber.live || --live_count_ > 0) return;
  // Nobody is live: keep nothing.
  live_events_.clear();
  live_first_ = last_published_ + 1;
  chunks_base_ += chunks_.size();
  chunks_.clear();
  chunk_bytes_ = 0;
  filling_ = nullptr;
}

void SubscriptionHub::GoLiveLocked(Subscriber& subscriber) {
  subscriber.live = true;
  subscriber.cursor = subscriber.subscription->replay_cursor_;
  if (subscriber.attached) ++live_count_;
}

}  // namespace paradym::webhooks
