#include "server/core/memory_event_log.h"

#include <memory>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/core/errors.h"
#include "tests/testing/event_log_testing.h"
#include "tests/testing/status_matchers.h"

namespace paradym::webhooks {
namespace {

namespace v1 = ::paradym::webhooks::v1;
using ::paradym::webhooks::testing::AppendAndWait;
using ::paradym::webhooks::testing::HasReason;
using ::paradym::webhooks::testing::IsOk;
using ::paradym::webhooks::testing::StatusIs;

std::shared_ptr<StoredEvent> MakeEvent(const std::string& body) {
  v1::Event event;
  event.set_event_type("workflowExecution.started");
  event.set_body(body);
  return StoredEvent::Create(event);
}

std::vector<std::uint64_t> Sequences(const std::vector<EventPtr>& events) {
  std::vector<std::uint64_t> sequences;
  for (const auto& e : events) sequences.push_back(e->sequence());
  return sequences;
}

TEST(MemoryEventLog, AssignsGapFreeSequencesFromOne) {
  MemoryEventLog log({10, 1 << 20});
  EXPECT_EQ(log.Range().oldest, 1u);
  EXPECT_EQ(log.Range().last, 0u);
  for (std::uint64_t i = 1; i <= 3; ++i) {
    absl::StatusOr<EventPtr> stored = AppendAndWait(log, MakeEvent("x"));
    ASSERT_THAT(stored, IsOk());
    EXPECT_EQ((*stored)->sequence(), i);
  }
  EXPECT_EQ(log.Range().oldest, 1u);
  EXPECT_EQ(log.Range().last, 3u);
}

TEST(MemoryEventLog, ReadAfterReturnsTheWindowInOrder) {
  MemoryEventLog log({10, 1 << 20});
  for (int i = 0; i < 6; ++i)
    ASSERT_THAT(AppendAndWait(log, MakeEvent("x")), IsOk());
  std::vector<EventPtr> out;
  ASSERT_THAT(log.ReadAfter(1, 5, 100, out), IsOk());
  EXPECT_THAT(Sequences(out), ::testing::ElementsAre(2, 3, 4, 5));
  out.clear();
  ASSERT_THAT(log.ReadAfter(0, 100, 2, out), IsOk());
  EXPECT_THAT(Sequences(out), ::testing::ElementsAre(1, 2));
  out.clear();
  ASSERT_THAT(log.ReadAfter(6, 100, 10, out), IsOk());
  EXPECT_TRUE(out.empty());
}

TEST(MemoryEventLog, EvictsOldestBeyondMaxEvents) {
  MemoryEventLog log({3, 1 << 20});
  for (int i = 0; i < 5; ++i)
    ASSERT_THAT(AppendAndWait(log, MakeEvent("x")), IsOk());
  EXPECT_EQ(log.Range().oldest, 3u);
  EXPECT_EQ(log.Range().last, 5u);
  std::vector<EventPtr> out;
  ASSERT_THAT(log.ReadAfter(2, 100, 10, out), IsOk());
  EXPECT_THAT(Sequences(out), ::testing::ElementsAre(3, 4, 5));
}

TEST(MemoryEventLog, EvictsOldestBeyondMaxBytesButKeepsNewest) {
  const std::string body(1000, 'b');
  MemoryEventLog log({100, 2500});
  for (int i = 0; i < 4; ++i)
    ASSERT_THAT(AppendAndWait(log, MakeEvent(body)), IsOk());
  EXPECT_EQ(log.Range().oldest, 3u);
  EXPECT_LE(log.bytes(), 2500u);
  // A single event over the byte limit is still kept.
  ASSERT_THAT(AppendAndWait(log, MakeEvent(std::string(5000, 'x'))), IsOk());
  EXPECT_EQ(log.Range().oldest, 5u);
  EXPECT_EQ(log.Range().last, 5u);
}

TEST(MemoryEventLog, ReadBeforeOldestIsOutOfRangeNamingTheOldest) {
  MemoryEventLog log({2, 1 << 20});
  for (int i = 0; i < 5; ++i)
    ASSERT_THAT(AppendAndWait(log, MakeEvent("x")), IsOk());
  std::vector<EventPtr> out;
  const absl::Status status = log.ReadAfter(1, 100, 10, out);
  EXPECT_THAT(status, StatusIs(absl::StatusCode::kOutOfRange));
  EXPECT_THAT(status, HasReason(kSequenceTooOld));
  EXPECT_EQ(ErrorMetadata(status, "oldest_sequence"), "4");
  EXPECT_TRUE(out.empty());
  // Starting right before the oldest is fine.
  EXPECT_THAT(log.ReadAfter(3, 100, 10, out), IsOk());
  EXPECT_THAT(Sequences(out), ::testing::ElementsAre(4, 5));
}

}  // namespace
}  // namespace paradym::webhooks
