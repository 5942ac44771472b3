#include "server/core/subscription_hub.h"

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "paradym/webhooks/v1/webhook_service.pb.h"
#include "server/core/errors.h"
#include "server/core/memory_event_log.h"
#include "tests/testing/status_matchers.h"

namespace paradym::webhooks {
namespace {

namespace v1 = ::paradym::webhooks::v1;
using ::paradym::webhooks::testing::HasReason;
using ::paradym::webhooks::testing::IsOk;
using ::paradym::webhooks::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

// The log and hub wired as the ingestor wires them.
class HubTest : public ::testing::Test {
 protected:
  explicit HubTest(std::size_t log_events = 1000, std::size_t queue = 100)
      : log_({log_events, std::size_t{1} << 30}), hub_(log_, {queue}) {}

  std::uint64_t Publish(const std::string& type = "workflowExecution.started",
                        const std::string& project = "p1",
                        std::size_t body_bytes = 10) {
    v1::Event event;
    event.set_event_type(type);
    event.set_project_id(project);
    event.set_body(std::string(body_bytes, 'b'));
    std::uint64_t sequence = 0;
    // The log announces the event to the hub, its listener.
    log_.Append(StoredEvent::Create(event),
                [&](absl::StatusOr<EventPtr> stored) {
                  ASSERT_THAT(stored, IsOk());
                  sequence = (*stored)->sequence();
                });
    return sequence;
  }

  static std::vector<std::uint64_t> Sequences(
      const std::vector<EventPtr>& events) {
    std::vector<std::uint64_t> sequences;
    for (const auto& e : events) sequences.push_back(e->sequence());
    return sequences;
  }

  std::shared_ptr<Subscription> Subscribe(
      std::optional<std::uint64_t> start_after, EventFilter filter = {},
      std::function<void()> on_ready = [] {}) {
    auto subscription =
        hub_.Subscribe(std::move(filter), start_after, std::move(on_ready));
    EXPECT_THAT(subscription, IsOk());
    return subscription.ok() ? *subscription : nullptr;
  }

  MemoryEventLog log_;
  SubscriptionHub hub_;
};

TEST_F(HubTest, LiveSubscriptionSeesOnlyLaterEvents) {
  Publish();
  auto subscription = Subscribe(std::nullopt);
  std::vector<EventPtr> batch;
  ASSERT_THAT(subscription->Next(10, 1 << 20, batch), IsOk());
  EXPECT_THAT(batch, IsEmpty());
  Publish();
  Publish();
  ASSERT_THAT(subscription->Next(10, 1 << 20, batch), IsOk());
  EXPECT_THAT(Sequences(batch), ElementsAre(2, 3));
  hub_.Unsubscribe(*subscription);
}

TEST_F(HubTest, StartAfterZeroReplaysEverythingThenGoesLive) {
  Publish();
  Publish();
  auto subscription = Subscribe(0);
  std::vector<EventPtr> batch;
  ASSERT_THAT(subscription->Next(10, 1 << 20, batch), IsOk());
  EXPECT_THAT(Sequences(batch), ElementsAre(1, 2));
  Publish();
  ASSERT_THAT(subscription->Next(10, 1 << 20, batch), IsOk());
  EXPECT_THAT(Sequences(batch), ElementsAre(3));
  hub_.Unsubscribe(*subscription);
}

TEST_F(HubTest, StartAfterNResumesWithTheNextSequence) {
  for (int i = 0; i < 5; ++i) Publish();
  auto subscription = Subscribe(3);
  std::vector<EventPtr> batch;
  ASSERT_THAT(subscription->Next(10, 1 << 20, batch), IsOk());
  EXPECT_THAT(Sequences(batch), ElementsAre(4, 5));
  hub_.Unsubscribe(*subscription);
}

TEST_F(HubTest, StartAtTheLastSequenceIsLiveImmediately) {
  for (int i = 0; i < 3; ++i) Publish();
  auto subscription = Subscribe(3);
  std::vector<EventPtr> batch;
  ASSERT_THAT(subscription->Next(10, 1 << 20, batch), IsOk());
  EXPECT_THAT(batch, IsEmpty());
  hub_.Unsubscribe(*subscription);
}

TEST_F(HubTest, StartBeyondTheLastSequenceIsOutOfRange) {
  Publish();
  auto subscription = hub_.Subscribe({}, 5, [] {});
  ASSERT_THAT(subscription, StatusIs(absl::StatusCode::kOutOfRange));
  EXPECT_THAT(subscription, HasReason(kSequenceTooNew));
  EXPECT_EQ(ErrorMetadata(subscription.status(), "last_sequence"), "1");
}

class SmallLogHubTest : public HubTest {
 protected:
  SmallLogHubTest() : HubTest(/*log_events=*/3, /*queue=*/100) {}
};

TEST_F(SmallLogHubTest, StartOlderThanTheLogIsOutOfRangeNamingTheOldest) {
  for (int i = 0; i < 6; ++i) Publish();  // the log holds 4..6
  auto too_old = hub_.Subscribe({}, 2, [] {});
  ASSERT_THAT(too_old, StatusIs(absl::StatusCode::kOutOfRange));
  EXPECT_THAT(too_old, HasReason(kSequenceTooOld));
  EXPECT_EQ(ErrorMetadata(too_old.status(), "oldest_sequence"), "4");
  EXPECT_THAT(std::string(too_old.status().message()),
              ::testing::HasSubstr("oldest available is 4"));

  // 3 is just before the oldest held: fine. 0 means whatever is held.
  for (std::uint64_t start : {3, 0}) {
    SCOPED_TRACE(start);
    auto subscription = Subscribe(start);
    std::vector<EventPtr> batch;
    ASSERT_THAT(subscription->Next(10, 1 << 20, batch), IsOk());
    EXPECT_THAT(Sequences(batch), ElementsAre(4, 5, 6));
    hub_.Unsubscribe(*subscription);
  }
}

TEST_F(HubTest, FilterAppliesToReplayAndLive) {
  Publish("openid4vc.issuance.offered");
  Publish("workflowExecution.started");
  Publish("openid4vc.verification.verified", "p2");
  EventFilter::Spec spec;
  spec.event_types = {"openid4vc.*"};
  spec.project_ids = {"p1"};
  auto filter = EventFilter::Create(spec);
  ASSERT_THAT(filter, IsOk());
  auto subscription = Subscribe(0, *filter);
  std::vector<EventPtr> batch;
  ASSERT_THAT(subscription->Next(10, 1 << 20, batch), IsOk());
  EXPECT_THAT(Sequences(batch), ElementsAre(1));
  ASSERT_THAT(subscription->Next(10, 1 << 20, batch), IsOk());
  EXPECT_THAT(batch, IsEmpty());
  Publish("workflowExecution.failed");
  Publish("openid4vc.issuance.completed");
  ASSERT_THAT(subscription->Next(10, 1 << 20, batch), IsOk());
  EXPECT_THAT(Sequences(batch), ElementsAre(5));
  hub_.Unsubscribe(*subscription);
}

TEST_F(HubTest, BatchesRespectEventAndByteLimits) {
  for (int i = 0; i < 5; ++i) Publish("t.x", "p1", 2000);
  auto subscription = Subscribe(0);
  std::vector<EventPtr> batch;
  ASSERT_THAT(subscription->Next(2, 1 << 20, batch), IsOk());
  EXPECT_THAT(Sequences(batch), ElementsAre(1, 2));
  // About 2 KB encoded per event: 5000 bytes fit two.
  ASSERT_THAT(subscription->Next(10, 5000, batch), IsOk());
  EXPECT_THAT(Sequences(batch), ElementsAre(3, 4));
  // A single event larger than the byte limit still goes out alone.
  ASSERT_THAT(subscription->Next(10, 1, batch), IsOk());
  EXPECT_THAT(Sequences(batch), ElementsAre(5));
  for (int i = 0; i < 3; ++i) Publish("t.x", "p1", 2000);
  ASSERT_THAT(subscription->Next(10, 5000, batch), IsOk());
  EXPECT_THAT(Sequences(batch), ElementsAre(6, 7));
  hub_.Unsubscribe(*subscription);
}

TEST_F(HubTest, OnReadyRunsOnceWhenAWaitingSubscriptionGetsEvents) {
  std::atomic<int> wakes{0};
  auto subscription = Subscribe(std::nullopt, {}, [&] { ++wakes; });
  std::vector<EventPtr> batch;
  Publish();  // not armed yet: no wake needed, Next will see it
  EXPECT_EQ(wakes.load(), 0);
  ASSERT_THAT(subscription->Next(10, 1 << 20, batch), IsOk());
  EXPECT_THAT(Sequences(batch), ElementsAre(1));
  ASSERT_THAT(subscription->Next(10, 1 << 20, batch), IsOk());  // arms
  EXPECT_THAT(batch, IsEmpty());
  Publish();
  Publish();
  EXPECT_EQ(wakes.load(), 1);
  ASSERT_THAT(subscription->Next(10, 1 << 20, batch), IsOk());
  EXPECT_THAT(Sequences(batch), ElementsAre(2, 3));
  hub_.Unsubscribe(*subscription);
  Publish();
  EXPECT_EQ(wakes.load(), 1);
}

TEST_F(HubTest, AnUnsubscribedSubscriptionIsCancelledAndForgotten) {
  auto gone = Subscribe(std::nullopt);
  auto stays = Subscribe(std::nullopt);
  EXPECT_EQ(hub_.size(), 2u);
  hub_.Unsubscribe(*gone);
  EXPECT_EQ(hub_.size(), 1u);
  Publish();
  std::vector<EventPtr> batch;
  EXPECT_THAT(gone->Next(10, 1 << 20, batch),
              StatusIs(absl::StatusCode::kCancelled));
  EXPECT_THAT(batch, IsEmpty());
  ASSERT_THAT(stays->Next(10, 1 << 20, batch), IsOk());
  EXPECT_THAT(Sequences(batch), ElementsAre(1));
  hub_.Unsubscribe(*stays);
  EXPECT_EQ(hub_.size(), 0u);
}

TEST_F(HubTest, ASubscriptionMayUnsubscribeFromItsOwnOnReady) {
  int wakes = 0;
  std::shared_ptr<Subscription> subscription;
  subscription = Subscribe(std::nullopt, {}, [&] {
    ++wakes;
    hub_.Unsubscribe(*subscription);  // must not wait for itself
  });
  std::vector<EventPtr> batch;
  ASSERT_THAT(subscription->Next(10, 1 << 20, batch), IsOk());  // arms
  Publish();
  EXPECT_EQ(wakes, 1);
  EXPECT_EQ(hub_.size(), 0u);
  Publish();
  EXPECT_EQ(wakes, 1);
}

TEST_F(HubTest, NonMatchingEventsDoNotWake) {
  std::atomic<int> wakes{0};
  EventFilter::Spec spec;
  spec.project_ids = {"mine"};
  auto filter = EventFilter::Create(spec);
  ASSERT_THAT(filter, IsOk());
  auto subscription = Subscribe(std::nullopt, *filter, [&] { ++wakes; });
  std::vector<EventPtr> batch;
  ASSERT_THAT(subscription->Next(10, 1 << 20, batch), IsOk());
  Publish("t.x", "other");
  EXPECT_EQ(wakes.load(), 0);
  Publish("t.x", "mine");
  EXPECT_EQ(wakes.load(), 1);
  hub_.Unsubscribe(*subscription);
}

class TinyQueueHubTest : public HubTest {
 protected:
  TinyQueueHubTest() : HubTest(/*log_events=*/1000, /*queue=*/3) {}
};

TEST_F(TinyQueueHubTest,
       SlowSubscriberEndsWithResourceExhaustedAndLastSequence) {
  std::atomic<int> wakes{0};
  auto slow = Subscribe(std::nullopt, {}, [&] { ++wakes; });
  auto fast = Subscribe(std::nullopt);
  std::vector<EventPtr> batch;
  Publish();
  Publish();
  ASSERT_THAT(slow->Next(1, 1 << 20, batch), IsOk());  // takes 1, leaves 2
  EXPECT_THAT(Sequences(batch), ElementsAre(1));
  for (int i = 0; i < 3; ++i) {
    Publish();  // 3, 4 fit; 5 overflows
    ASSERT_THAT(fast->Next(10, 1 << 20, batch), IsOk());
  }
  const absl::Status status = slow->Next(10, 1 << 20, batch);
  EXPECT_THAT(status, StatusIs(absl::StatusCode::kResourceExhausted));
  EXPECT_THAT(status, HasReason(kSubscriberTooSlow));
  EXPECT_EQ(ErrorMetadata(status, "last_sequence"), "1");
  EXPECT_THAT(batch, IsEmpty());
  EXPECT_EQ(hub_.overflows(), 1u);
  // The fast subscriber is unaffected.
  Publish();
  ASSERT_THAT(fast->Next(10, 1 << 20, batch), IsOk());
  EXPECT_THAT(Sequences(batch), ElementsAre(6));
  hub_.Unsubscribe(*slow);
  hub_.Unsubscribe(*fast);
}

TEST_F(TinyQueueHubTest, OverflowWakesAWaitingSubscriber) {
  std::atomic<int> wakes{0};
  auto subscription = Subscribe(std::nullopt, {}, [&] { ++wakes; });
  std::vector<EventPtr> batch;
  ASSERT_THAT(subscription->Next(10, 1 << 20, batch), IsOk());  // arms
  for (int i = 0; i < 4; ++i) Publish();
  EXPECT_EQ(wakes.load(), 1);
  EXPECT_THAT(subscription->Next(10, 1 << 20, batch),
              StatusIs(absl::StatusCode::kResourceExhausted));
  hub_.Unsubscribe(*subscription);
}

TEST_F(HubTest, ShutdownEndsSubscriptionsAndRefusesNewOnes) {
  std::atomic<int> wakes{0};
  auto waiting = Subscribe(std::nullopt, {}, [&] { ++wakes; });
  std::vector<EventPtr> batch;
  ASSERT_THAT(waiting->Next(10, 1 << 20, batch), IsOk());  // arms
  Publish();
  ASSERT_THAT(waiting->Next(10, 1 << 20, batch), IsOk());
  auto replaying = Subscribe(0);
  hub_.Shutdown();
  EXPECT_EQ(wakes.load(), 1);
  for (auto* subscription : {waiting.get(), replaying.get()}) {
    const absl::Status status = subscription->Next(10, 1 << 20, batch);
    EXPECT_THAT(status, StatusIs(absl::StatusCode::kUnavailable));
    EXPECT_THAT(status, HasReason(kShuttingDown));
  }
  auto refused = hub_.Subscribe({}, std::nullopt, [] {});
  EXPECT_THAT(refused, StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_THAT(refused, HasReason(kShuttingDown));
  hub_.Unsubscribe(*waiting);
  hub_.Unsubscribe(*replaying);
  EXPECT_EQ(hub_.size(), 0u);
}

// The sequences of an encoded batch, parsed as the SubscribeResponse a
// transport sends.
std::vector<std::uint64_t> EncodedSequences(const EncodedBatch& batch) {
  std::string bytes;
  for (const EncodedBatch::Piece& piece : batch.pieces) {
    bytes.append(piece.bytes().data(), piece.bytes().size());
  }
  v1::SubscribeResponse response;
  EXPECT_TRUE(response.ParseFromString(bytes));
  std::vector<std::uint64_t> sequences;
  for (const v1::Event& event : response.events()) {
    sequences.push_back(event.sequence());
  }
  EXPECT_EQ(sequences.size(), batch.events);
  if (!sequences.empty()) {
    EXPECT_EQ(sequences.back(), batch.last_sequence);
  }
  return sequences;
}

// Live events are framed once: every subscription that takes them sends
// the hub's bytes, not a copy of its own.
TEST_F(HubTest, LiveSubscriptionsShareOneEncodingOfEachEvent) {
  auto first = Subscribe(std::nullopt);
  EventFilter::Spec spec;
  spec.project_ids = {"p1"};
  auto filter = EventFilter::Create(spec);
  ASSERT_THAT(filter, IsOk());
  auto second = Subscribe(std::nullopt, *filter);
  EncodedBatch batch;
  ASSERT_THAT(first->Next(100, 1 << 20, batch), IsOk());
  ASSERT_THAT(second->Next(100, 1 << 20, batch), IsOk());
  // About 2 KB each: 16 fill a 32 KiB chunk, the next 9 more than half of
  // another.
  for (int i = 0; i < 25; ++i) Publish("t.x", "p1", 2000);

  std::vector<const EncodedChunk*> chunks[2];
  for (int i = 0; i < 2; ++i) {
    SCOPED_TRACE(i);
    Subscription& subscription = i == 0 ? *first : *second;
    std::vector<std::uint64_t> sequences;
    while (sequences.size() < 25) {
      ASSERT_THAT(subscription.Next(16, 1 << 20, batch), IsOk());
      ASSERT_FALSE(batch.empty());
      for (const auto& piece : batch.pieces) {
        chunks[i].push_back(piece.chunk.get());
      }
      for (std::uint64_t sequence : EncodedSequences(batch)) {
        sequences.push_back(sequence);
      }
    }
    std::vector<std::uint64_t> expected;
    for (std::uint64_t s = 1; s <= 25; ++s) expected.push_back(s);
    EXPECT_EQ(sequences, expected);
  }
  // Both sent the same two chunks, one piece each.
  EXPECT_EQ(chunks[0].size(), 2u);
  EXPECT_EQ(chunks[0], chunks[1]);
  hub_.Unsubscribe(*first);
  hub_.Unsubscribe(*second);
}

TEST_F(HubTest, EncodedBatchesGoOnFromReplayToLiveWithoutAGap) {
  for (int i = 0; i < 5; ++i) Publish();
  auto live = Subscribe(std::nullopt);  // keeps the hub framing
  auto subscription = Subscribe(0);
  EncodedBatch batch;
  ASSERT_THAT(subscription->Next(3, 1 << 20, batch), IsOk());
  EXPECT_THAT(EncodedSequences(batch), ElementsAre(1, 2, 3));
  Publish();
  // Replay goes up to what was published when it looked: 6.
  ASSERT_THAT(subscription->Next(10, 1 << 20, batch), IsOk());
  EXPECT_THAT(EncodedSequences(batch), ElementsAre(4, 5, 6));
  ASSERT_THAT(subscription->Next(10, 1 << 20, batch), IsOk());  // live now
  EXPECT_TRUE(batch.empty());
  Publish();
  Publish();
  ASSERT_THAT(subscription->Next(10, 1 << 20, batch), IsOk());
  EXPECT_THAT(EncodedSequences(batch), ElementsAre(7, 8));
  ASSERT_THAT(live->Next(10, 1 << 20, batch), IsOk());
  EXPECT_THAT(EncodedSequences(batch), ElementsAre(6, 7, 8));
  hub_.Unsubscribe(*subscription);
  hub_.Unsubscribe(*live);
}

// The filters are indexed; each subscription still gets exactly the events
// its filter matches, once, in order.
TEST_F(HubTest, EachFilteredSubscriptionGetsExactlyWhatItsFilterMatches) {
  std::vector<EventFilter::Spec> specs(8);
  specs[0].workflow_execution_ids = {"e1"};
  specs[1].workflow_ids = {"w2"};
  specs[2].project_ids = {"p1", "p3"};
  specs[3].event_types = {"a.b"};
  specs[4].event_types = {"a.*"};
  specs[5].event_types = {"a.*", "a.b.*", "a.b"};  // overlapping types
  specs[6].event_types = {"c.*"};
  specs[6].project_ids = {"p2"};
  specs[7].project_ids = {"nobody"};
  std::vector<EventFilter> filters;
  std::vector<std::shared_ptr<Subscription>> subscriptions;
  for (const EventFilter::Spec& spec : specs) {
    auto filter = EventFilter::Create(spec);
    ASSERT_THAT(filter, IsOk());
    filters.push_back(*filter);
    subscriptions.push_back(Subscribe(std::nullopt, *filter));
  }
  struct Published {
    std::string type, project, workflow, execution;
  };
  const std::vector<Published> published = {
      {"a.b", "p1", "w1", "e1"}, {"a.b.c", "p2", "w2", "e2"},
      {"c.d", "p2", "w3", "e3"}, {"a.x", "p3", "w2", "e1"},
      {"c.d", "p1", "w1", "e4"}, {"b", "p4", "w4", "e4"},
  };
  std::vector<EventPtr> events;
  for (const Published& p : published) {
    v1::Event event;
    event.set_event_type(p.type);
    event.set_project_id(p.project);
    event.set_workflow_id(p.workflow);
    event.set_workflow_execution_id(p.execution);
    log_.Append(StoredEvent::Create(event),
                [&](absl::StatusOr<EventPtr> stored) {
                  ASSERT_THAT(stored, IsOk());
                  events.push_back(*stored);
                });
  }
  for (std::size_t i = 0; i < subscriptions.size(); ++i) {
    SCOPED_TRACE(i);
    std::vector<std::uint64_t> expected;
    for (const EventPtr& event : events) {
      if (filters[i].Matches(*event)) expected.push_back(event->sequence());
    }
    std::vector<EventPtr> batch;
    ASSERT_THAT(subscriptions[i]->Next(100, 1 << 20, batch), IsOk());
    EXPECT_EQ(Sequences(batch), expected);
    hub_.Unsubscribe(*subscriptions[i]);
  }
  // The table has no filter that matches nothing by accident.
  EXPECT_EQ(filters[7].Matches(*events[0]), false);
  EXPECT_TRUE(filters[5].Matches(*events[1]));
}

// A filtered subscription's queue counts only the events it matches.
TEST_F(TinyQueueHubTest, AFilteredSubscriberFallsBehindOnlyOnItsOwnEvents) {
  EventFilter::Spec spec;
  spec.project_ids = {"mine"};
  auto filter = EventFilter::Create(spec);
  ASSERT_THAT(filter, IsOk());
  auto subscription = Subscribe(std::nullopt, *filter);
  for (int i = 0; i < 10; ++i) Publish("t.x", "other");
  for (int i = 0; i < 3; ++i) Publish("t.x", "mine");  // 11..13: the queue
  std::vector<EventPtr> batch;
  ASSERT_THAT(subscription->Next(2, 1 << 20, batch), IsOk());
  EXPECT_THAT(Sequences(batch), ElementsAre(11, 12));
  for (int i = 0; i < 3; ++i) Publish("t.x", "mine");  // 14, 15 fit; 16 not
  const absl::Status status = subscription->Next(10, 1 << 20, batch);
  EXPECT_THAT(status, StatusIs(absl::StatusCode::kResourceExhausted));
  EXPECT_THAT(status, HasReason(kSubscriberTooSlow));
  EXPECT_EQ(ErrorMetadata(status, "last_sequence"), "12");
  EXPECT_EQ(hub_.overflows(), 1u);
  hub_.Unsubscribe(*subscription);
}

// Past max_shared_bytes the hub drops the oldest encodings; a subscriber
// that still needs those events gets them framed anew, the same bytes.
TEST(SubscriptionHubSharedBytes, EventsWhoseEncodingWasDroppedAreFramedAgain) {
  MemoryEventLog log({1000, std::size_t{1} << 30});
  SubscriptionHub::Options options;
  options.queue_capacity = 1000;
  options.max_shared_bytes = 1;  // one chunk at a time
  SubscriptionHub hub(log, options);
  auto subscription = hub.Subscribe({}, std::nullopt, [] {});
  ASSERT_THAT(subscription, IsOk());
  for (int i = 0; i < 40; ++i) {
    v1::Event event;
    event.set_event_type("t.x");
    event.set_body(std::string(3000, 'b'));  // 10 to a chunk
    log.Append(StoredEvent::Create(event), [](absl::StatusOr<EventPtr>) {});
  }
  EncodedBatch batch;
  ASSERT_THAT((*subscription)->Next(100, 1 << 20, batch), IsOk());
  std::vector<std::uint64_t> expected;
  for (std::uint64_t s = 1; s <= 40; ++s) expected.push_back(s);
  EXPECT_EQ(EncodedSequences(batch), expected);
  // The first 30 were copied into one piece; the last 10 are the chunk the
  // hub still keeps.
  ASSERT_EQ(batch.pieces.size(), 2u);
  EXPECT_NE(batch.pieces[0].chunk, batch.pieces[1].chunk);
  hub.Unsubscribe(**subscription);
}

// A replica's copy of a shared log: it knows of sequences it does not hold
// yet.
class CatchingUpLog final : public EventLog {
 public:
  CatchingUpLog() {
    copy_.SetListener([this](EventPtr event) { Announce(event); });
  }
  void Append(std::shared_ptr<StoredEvent> event,
              AppendCallback done) override {
    copy_.Append(std::move(event), std::move(done));
  }
  absl::Status ReadAfter(std::uint64_t after, std::uint64_t up_to,
                         std::size_t max_events,
                         std::vector<EventPtr>& out) const override {
    return copy_.ReadAfter(after, up_to, max_events, out);
  }
  SequenceRange Range() const override { return copy_.Range(); }
  std::uint64_t Horizon() const override { return horizon_; }

  std::uint64_t horizon_ = 0;

 private:
  MemoryEventLog copy_{{1000, std::size_t{1} << 30}};
};

TEST(SubscriptionHubLimits, SubscriptionsBeyondTheMostAreRefused) {
  MemoryEventLog log({100, std::size_t{1} << 30});
  SubscriptionHub::Options options;
  options.max_subscriptions = 2;
  SubscriptionHub hub(log, options);
  auto first = hub.Subscribe({}, std::nullopt, [] {});
  auto second = hub.Subscribe({}, std::nullopt, [] {});
  ASSERT_THAT(first, IsOk());
  ASSERT_THAT(second, IsOk());
  auto third = hub.Subscribe({}, std::nullopt, [] {});
  EXPECT_THAT(third, StatusIs(absl::StatusCode::kResourceExhausted));
  EXPECT_THAT(third, HasReason(kTooManySubscribers));
  EXPECT_EQ(ErrorMetadata(third.status(), "max_subscribers"), "2");
  // A place frees up when a subscription ends.
  hub.Unsubscribe(**first);
  auto again = hub.Subscribe({}, std::nullopt, [] {});
  ASSERT_THAT(again, IsOk());
  hub.Unsubscribe(**second);
  hub.Unsubscribe(**again);
}

TEST(SubscriptionHubHorizon, AStartTheCopyHasNotReachedWaitsForIt) {
  CatchingUpLog log;
  SubscriptionHub hub(log, {100});
  log.horizon_ = 5;
  auto too_new = hub.Subscribe({}, 6, [] {});
  EXPECT_THAT(too_new, StatusIs(absl::StatusCode::kOutOfRange));
  EXPECT_THAT(too_new, HasReason(kSequenceTooNew));
  EXPECT_EQ(ErrorMetadata(too_new.status(), "last_sequence"), "5");

  auto subscription = hub.Subscribe({}, 3, [] {});
  ASSERT_THAT(subscription, IsOk());
  std::vector<EventPtr> batch;
  ASSERT_THAT((*subscription)->Next(10, 1 << 20, batch), IsOk());
  EXPECT_THAT(batch, IsEmpty());
  for (int i = 0; i < 5; ++i) {
    v1::Event event;
    event.set_event_type("t.x");
    log.Append(StoredEvent::Create(event), [](absl::StatusOr<EventPtr>) {});
  }
  // What it had seen elsewhere (1..3) is not repeated.
  ASSERT_THAT((*subscription)->Next(10, 1 << 20, batch), IsOk());
  std::vector<std::uint64_t> sequences;
  for (const auto& event : batch) sequences.push_back(event->sequence());
  EXPECT_THAT(sequences, ElementsAre(4, 5));
  hub.Unsubscribe(**subscription);
}

// A consumer that starts replaying while a publisher keeps going must see
// every sequence exactly once, across the switch from replay to live.
TEST(SubscriptionHubConcurrency, NoGapOrDuplicateAcrossTheSwitchUnderLoad) {
  constexpr std::uint64_t kEvents = 20000;
  MemoryEventLog log({kEvents, std::size_t{1} << 30});
  SubscriptionHub hub(log, {kEvents});
  auto publish_one = [&] {
    v1::Event event;
    event.set_event_type("t.x");
    log.Append(
        StoredEvent::Create(event),
        [&](absl::StatusOr<EventPtr> stored) { ASSERT_THAT(stored, IsOk()); });
  };
  for (int i = 0; i < 1000; ++i) publish_one();
  std::thread publisher([&] {
    for (std::uint64_t i = 1000; i < kEvents; ++i) publish_one();
  });

  absl::Mutex mu;
  bool ready = false;
  auto subscription = hub.Subscribe({}, 0, [&] {
    absl::MutexLock lock(&mu);
    ready = true;
  });
  ASSERT_THAT(subscription, IsOk());
  std::uint64_t expected = 1;
  std::vector<EventPtr> batch;
  const absl::Time deadline = absl::Now() + absl::Seconds(60);
  while (expected <= kEvents && absl::Now() < deadline) {
    ASSERT_THAT((*subscription)->Next(64, 1 << 20, batch), IsOk());
    if (batch.empty()) {
      absl::MutexLock lock(&mu);
      mu.AwaitWithTimeout(absl::Condition(&ready), absl::Seconds(5));
      ready = false;
      continue;
    }
    for (const auto& event : batch) {
      ASSERT_EQ(event->sequence(), expected);
      ++expected;
    }
  }
  publisher.join();
  EXPECT_EQ(expected, kEvents + 1);
  hub.Unsubscribe(**subscription);
}

}  // namespace
}  // namespace paradym::webhooks
