#include "server/grpc/write_pacer.h"

#include <atomic>
#include <thread>

#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"

namespace paradym::webhooks {
namespace {

// Counts its turns and tells the first.
class CountingStream final : public WritePacer::Stream {
 public:
  void OnTurn() override {
    thread_ = std::this_thread::get_id();
    if (turns_.fetch_add(1) == 0) first_.Notify();
  }
  std::atomic<int> turns_{0};
  std::thread::id thread_;
  absl::Notification first_;
};

TEST(WritePacer, IntervalGrowsWithBusyStreamsWithinItsBounds) {
  WritePacer pacer({absl::Milliseconds(1), absl::Milliseconds(25), 1000});
  EXPECT_EQ(pacer.Interval(), absl::Milliseconds(1));
  struct Case {
    int busy;
    absl::Duration interval;
  };
  int busy = 0;
  for (const Case& c :
       {Case{1, absl::Milliseconds(1)}, Case{10, absl::Milliseconds(10)},
        Case{20, absl::Milliseconds(20)}, Case{100, absl::Milliseconds(25)},
        Case{4, absl::Milliseconds(4)}}) {
    SCOPED_TRACE(c.busy);
    for (; busy < c.busy; ++busy) pacer.Busy();
    for (; busy > c.busy; --busy) pacer.Idle();
    EXPECT_EQ(pacer.Interval(), c.interval);
  }
}

TEST(WritePacer, ATurnRunsOnceOnThePacersThread) {
  WritePacer pacer({});
  CountingStream stream;
  pacer.Schedule(stream, absl::Now());
  // Asking again while waiting keeps the one turn.
  pacer.Schedule(stream, absl::Now());
  ASSERT_TRUE(stream.first_.WaitForNotificationWithTimeout(absl::Seconds(30)));
  pacer.Cancel(stream);
  EXPECT_EQ(stream.turns_.load(), 1);
  EXPECT_NE(stream.thread_, std::this_thread::get_id());
}

TEST(WritePacer, TurnsComeInTheirOrderAndCancelledOnesNever) {
  CountingStream later, cancelled, sooner;
  {
    WritePacer pacer({});
    const absl::Time now = absl::Now();
    pacer.Schedule(later, now + absl::Milliseconds(20));
    pacer.Schedule(cancelled, now + absl::Milliseconds(10));
    pacer.Schedule(sooner, now);
    pacer.Cancel(cancelled);
    ASSERT_TRUE(later.first_.WaitForNotificationWithTimeout(absl::Seconds(30)));
    // One thread runs the turns in time order: the sooner one ran first.
    EXPECT_EQ(sooner.turns_.load(), 1);
    pacer.Cancel(later);
    pacer.Cancel(sooner);
  }  // the pacer's thread has stopped
  EXPECT_EQ(cancelled.turns_.load(), 0);
}

}  // namespace
}  // namespace paradym::webhooks
