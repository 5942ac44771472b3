// Fans accepted events out to subscribers, each at its own pace.
//
// A subscription first replays what the log holds after its start, then
// switches to live events with no gap and no duplicate: the switch happens
// under the hub's lock at the exact sequence the hub last published.
//
// Live events cost each subscriber as little as possible:
// - The hub keeps the last `queue_capacity` live events once, for all, each
//   framed once as a SubscribeResponse entry in shared chunks
//   (encoded_batch.h). A subscription whose filter matches everything just
//   reads on from its cursor; Next(EncodedBatch&) gives it pieces of those
//   chunks, so its transport sends the shared bytes without copying them.
// - A filtered subscription is found through a FilterIndex, so one whose
//   filter cannot match an event costs nothing for it; the events it matches
//   go into its own bounded queue (pointers to the shared events).
// Publishing never waits on a subscriber: one that falls more than
// `queue_capacity` of its events behind is ended with RESOURCE_EXHAUSTED
// (SUBSCRIBER_TOO_SLOW) carrying the last sequence it was given.
//
// The consumer pulls with Next(); when Next() finds nothing it arms the
// subscription, and `on_ready` runs once, outside every hub lock, when events
// arrive or the subscription ends.
//
//   auto subscription = hub.Subscribe(filter, std::nullopt, [&] { Pump(); });
//   EncodedBatch batch;  // or std::vector<EventPtr>
//   absl::Status status = (*subscription)->Next(256, 1 << 20, batch);
//   ...
//   hub.Unsubscribe(**subscription);  // on_ready never runs after this
//
// The hub listens to its log (EventLog::SetListener): every event the log
// announces is published, in sequence order, and the subscriptions it wakes
// are woken after the hub's lock is released.

#ifndef PARADYM_WEBHOOKS_SERVER_CORE_SUBSCRIPTION_HUB_H_
#define PARADYM_WEBHOOKS_SERVER_CORE_SUBSCRIPTION_HUB_H_

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "server/core/encoded_batch.h"
#include "server/core/event_filter.h"
#include "server/core/event_log.h"
#include "server/core/filter_index.h"

namespace paradym::webhooks {

class Subscription;

// Thread-safe: the log's threads publish while consumers on other threads
// subscribe, take and unsubscribe. One lock, `mu_`, guards the hub and what
// it keeps of each subscription (a Subscriber); it is never held while
// reading the log for a replay or running an `on_ready`.
class SubscriptionHub {
 public:
  struct Options {
    // Live events a subscriber may have waiting before it is ended with
    // RESOURCE_EXHAUSTED.
    std::size_t queue_capacity = 8192;
    // Open subscriptions at most; more are refused with RESOURCE_EXHAUSTED
    // (TOO_MANY_SUBSCRIBERS). Each pins a batch in its transport's buffers.
    std::size_t max_subscriptions = 1000;
    // The most bytes of shared encodings kept for live events. Past it, the
    // oldest events lose theirs, and a subscriber that still needs one gets
    // it framed anew (a copy of its own): a speed limit, not a cut-off.
    std::size_t max_shared_bytes = std::size_t{64} << 20;
  };

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
  // (but for the one that called this, if any) and never runs again. From
  // inside an `on_ready`, only that subscription may be removed.
  void Unsubscribe(Subscription& subscription);

  // Ends every subscription with UNAVAILABLE (SHUTTING_DOWN) and refuses new
  // ones.
  void Shutdown();

  // The number of open subscriptions.
  std::size_t size() const;

  // How many subscriptions were ended for falling behind, since start.
  std::uint64_t overflows() const;

 private:
  friend class Subscription;

  // What the hub keeps of one subscription: whether and where it gets live
  // events, and how it ends. Guarded by mu_ as the containers that hold it
  // are: it is reached only through subscribers_, index_, match_all_, the
  // scratch lists and Wakeups, under mu_ (Wake reads only the constant
  // `subscription` without it). An unsubscribed one is in none of them, so
  // nothing arms or ends it again.
  struct Subscriber : std::enable_shared_from_this<Subscriber> {
    explicit Subscriber(std::shared_ptr<Subscription> subscription)
        : subscription(std::move(subscription)) {}

    const std::shared_ptr<Subscription> subscription;
    // Switched from replay to live events; from then on `cursor` is the last
    // sequence given out or skipped (before, the consumer keeps its own).
    bool live = false;
    std::uint64_t cursor = 0;
    // Filed in index_ or match_all_ (and, when live, counted in
    // live_count_): from Subscribe until the subscription ends.
    bool attached = false;
    // Live events matched and not taken yet (filtered subscriptions only).
    std::deque<EventPtr> queue;
    // The last sequence Publish considered it for.
    std::uint64_t considered = 0;
    // Next found nothing: the next event or the end wakes it.
    bool armed = false;
    absl::Status end;
    // Wakes armed and not yet run to their end; Unsubscribe waits for them.
    int wakes_running = 0;
  };

  // Subscribers that must be woken, returned by Publish and Shutdown. Each
  // holds its subscription and is counted in its `wakes_running`.
  using Wakeups = std::vector<std::shared_ptr<Subscriber>>;

  // Hands `event` to every live matching subscription. Events come in
  // sequence order, each after the log stored it. Never blocks on a
  // subscriber; Wake() the result once the publisher's locks are released.
  [[nodiscard]] Wakeups Publish(EventPtr event);

  // Runs `on_ready` of each subscription in `wakeups`.
  void Wake(Wakeups wakeups);

  // A live event as the hub keeps it for its subscriptions.
  struct LiveEvent {
    EventPtr event;
    // Where its framed encoding is: chunks_[chunk - chunks_base_], unless
    // that chunk is gone or the event was not framed (kNoChunk).
    std::uint64_t chunk;
    std::uint32_t offset;
    std::uint32_t size;
    // event->EncodedSize(), here so that taking the event need not read the
    // event itself (many subscribers, many cache misses).
    std::uint32_t encoded_size;
  };
  static constexpr std::uint64_t kNoChunk = ~std::uint64_t{0};
  // A chunk of framed live events, the first of which is `first_sequence`.
  struct Chunk {
    std::shared_ptr<const EncodedChunk> chunk;
    std::uint64_t first_sequence;
  };

  // What the hub keeps of `subscription`; nullptr once unsubscribed.
  Subscriber* FindLocked(const Subscription& subscription) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Takes `subscriber`'s live events into `out`, a Subscription::Sink (a
  // type this header cannot name yet), as Subscription::Next does.
  template <typename Sink>
  void TakeLiveLocked(Subscriber& subscriber, std::size_t max_events,
                      std::size_t max_bytes, Sink& out)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Ends `subscriber` with `status` and, when it waits, adds it to `wakeups`.
  void EndLocked(Subscriber& subscriber, absl::Status status, Wakeups& wakeups)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Ends `subscriber` for falling behind.
  void OverflowLocked(Subscriber& subscriber, Wakeups& wakeups)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ArmForWakeLocked(Subscriber& subscriber, Wakeups& wakeups)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Stops handing live events to `subscriber` (ended or unsubscribed).
  void DetachLocked(Subscriber& subscriber) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Switches `subscriber` from replay to live events, from where its
  // consumer's replay left off. On the consumer's thread, or before it has
  // the subscription.
  void GoLiveLocked(Subscriber& subscriber) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Queues `event` for the live filtered subscriptions it matches; whether
  // it matched any. Those that have too many queued go to overflowing_.
  bool QueueForFilteredLocked(const EventPtr& event, Wakeups& wakeups)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Keeps `event`, framed when `frame`, for the live subscriptions.
  void KeepLocked(EventPtr event, bool frame)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void DropOldestChunkLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The live event `sequence`, which must be kept.
  const LiveEvent& LiveAt(std::uint64_t sequence) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return live_events_[sequence - live_first_];
  }
  // The shared chunk `live.chunk`, or nullptr when there is none.
  const std::shared_ptr<const EncodedChunk>* ChunkOf(
      const LiveEvent& live) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (live.chunk == kNoChunk || live.chunk < chunks_base_) return nullptr;
    return &chunks_[live.chunk - chunks_base_].chunk;
  }

  EventLog& log_;
  const Options options_;
  mutable absl::Mutex mu_;
  // Every open subscription, by its address.
  absl::flat_hash_map<const Subscription*, std::shared_ptr<Subscriber>>
      subscribers_ ABSL_GUARDED_BY(mu_);
  // The subscriptions that get live events: filtered ones in `index_`, the
  // others in `match_all_`. Ended ones are in neither.
  FilterIndex<Subscriber> index_ ABSL_GUARDED_BY(mu_);
  std::vector<Subscriber*> match_all_ ABSL_GUARDED_BY(mu_);
  std::vector<Subscriber*> candidates_ ABSL_GUARDED_BY(mu_);   // scratch
  std::vector<Subscriber*> overflowing_ ABSL_GUARDED_BY(mu_);  // scratch
  // Live subscriptions not ended. While there is one, the hub keeps the
  // last live events: live_events_ holds live_first_..last_published_.
  std::size_t live_count_ ABSL_GUARDED_BY(mu_) = 0;
  std::deque<LiveEvent> live_events_ ABSL_GUARDED_BY(mu_);
  std::uint64_t live_first_ ABSL_GUARDED_BY(mu_);
  // The chunks their encodings are in, oldest first; the last one is being
  // filled (`filling_`). chunks_[i] has the number chunks_base_ + i.
  std::deque<Chunk> chunks_ ABSL_GUARDED_BY(mu_);
  std::uint64_t chunks_base_ ABSL_GUARDED_BY(mu_) = 0;
  std::size_t chunk_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  EncodedChunk* filling_ ABSL_GUARDED_BY(mu_) = nullptr;
  std::string scratch_ ABSL_GUARDED_BY(mu_);
  std::uint64_t last_published_ ABSL_GUARDED_BY(mu_);
  bool shutting_down_ ABSL_GUARDED_BY(mu_) = false;
  std::uint64_t overflows_ ABSL_GUARDED_BY(mu_) = 0;
};

// One subscription of a SubscriptionHub, as its consumer sees it: the
// events it pulls. The hub keeps the rest (SubscriptionHub::Subscriber).
//
// Thread-compatible: one consumer at a time calls Next, while the hub
// publishes on other threads.
class Subscription {
 public:
  Subscription(const Subscription&) = delete;
  Subscription& operator=(const Subscription&) = delete;

  // Replaces `out` with the next matching events: at most `max_events`, and
  // no more than `max_bytes` encoded (StoredEvent::EncodedSize) unless a
  // single event is larger. Empty `out` with OK: nothing yet, and `on_ready`
  // will run once when there is. Otherwise the status that ended the
  // subscription: RESOURCE_EXHAUSTED (SUBSCRIBER_TOO_SLOW), UNAVAILABLE
  // (SHUTTING_DOWN), OUT_OF_RANGE (SEQUENCE_TOO_OLD, when replay falls behind
  // the log), CANCELLED after Unsubscribe.
  absl::Status Next(std::size_t max_events, std::size_t max_bytes,
                    std::vector<EventPtr>& out);
  // The same events, encoded as one SubscribeResponse: live events as pieces
  // of the hub's shared chunks where it can (see EncodedBatchBuilder).
  absl::Status Next(std::size_t max_events, std::size_t max_bytes,
                    EncodedBatch& out);

 private:
  friend class SubscriptionHub;
  class Sink;
  class EventSink;
  class EncodedSink;

  Subscription(SubscriptionHub& hub, EventFilter filter, std::uint64_t cursor,
               std::function<void()> on_ready)
      : hub_(hub),
        filter_(std::move(filter)),
        match_all_(filter_.MatchesEverything()),
        on_ready_(std::move(on_ready)),
        replay_cursor_(cursor) {}

  absl::Status Take(std::size_t max_events, std::size_t max_bytes, Sink& out);

  // Reads the next replay batch from the log, outside the hub's lock.
  absl::Status Replay(std::uint64_t up_to, std::size_t max_events,
                      std::size_t max_bytes, Sink& out);

  SubscriptionHub& hub_;
  const EventFilter filter_;
  const bool match_all_;  // filter_ matches every event
  const std::function<void()> on_ready_;

  // The consumer's: the last sequence replay gave out or skipped, until the
  // hub takes over at the switch to live (Subscriber::cursor).
  std::uint64_t replay_cursor_;
  EncodedBatchBuilder builder_;
};

}  // namespace paradym::webhooks

#endif  // PARADYM_WEBHOOKS_SERVER_CORE_SUBSCRIPTION_HUB_H_
