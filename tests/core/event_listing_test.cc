#include "server/core/event_listing.h"

#include <memory>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/core/errors.h"
#include "server/core/memory_event_log.h"
#include "tests/testing/event_log_testing.h"
#include "tests/testing/status_matchers.h"

namespace paradym::webhooks {
namespace {

namespace v1 = ::paradym::webhooks::v1;
using ::paradym::webhooks::testing::AppendAndWait;
using ::paradym::webhooks::testing::HasReason;
using ::paradym::webhooks::testing::IsOk;
using ::paradym::webhooks::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

std::vector<std::uint64_t> Sequences(const EventPage& page) {
  std::vector<std::uint64_t> sequences;
  for (const auto& e : page.events) sequences.push_back(e->sequence());
  return sequences;
}

class EventListingTest : public ::testing::Test {
 protected:
  explicit EventListingTest(std::size_t max_events = 1000)
      : log_({max_events, std::size_t{1} << 30}) {}

  // Appends events of the given projects, in order (sequences 1, 2, ...).
  void Append(const std::vector<std::string>& projects) {
    for (const std::string& project : projects) {
      v1::Event event;
      event.set_event_type("workflowExecution.started");
      event.set_project_id(project);
      ASSERT_THAT(AppendAndWait(log_, StoredEvent::Create(event)), IsOk());
    }
  }

  static EventFilter Projects(std::vector<std::string> projects) {
    EventFilter::Spec spec;
    spec.project_ids = std::move(projects);
    return *EventFilter::Create(std::move(spec));
  }

  MemoryEventLog log_;
};

TEST_F(EventListingTest, PagesThroughEverythingOldestFirst) {
  Append({"a", "a", "a", "a", "a"});
  EventQuery query;
  query.page_size = 2;
  absl::StatusOr<EventPage> page = ListEvents(log_, query);
  ASSERT_THAT(page, IsOk());
  EXPECT_THAT(Sequences(*page), ElementsAre(1, 2));
  EXPECT_EQ(page->range.oldest, 1u);
  EXPECT_EQ(page->range.last, 5u);
  ASSERT_FALSE(page->next_page_token.empty());

  query.page_token = page->next_page_token;
  page = ListEvents(log_, query);
  ASSERT_THAT(page, IsOk());
  EXPECT_THAT(Sequences(*page), ElementsAre(3, 4));

  query.page_token = page->next_page_token;
  page = ListEvents(log_, query);
  ASSERT_THAT(page, IsOk());
  EXPECT_THAT(Sequences(*page), ElementsAre(5));
  EXPECT_EQ(page->next_page_token, "") << "the last page has no token";
}

// A default page of large events must stay under gRPC's default 4 MiB
// message limit of clients; an event larger than the cap comes alone.
TEST_F(EventListingTest, APageStaysUnderTheByteCap) {
  for (int i = 0; i < 12; ++i) {
    v1::Event event;
    event.set_event_type("workflowExecution.started");
    event.set_body(std::string(i == 5 ? (4 << 20) : 500000, 'x'));
    ASSERT_THAT(AppendAndWait(log_, StoredEvent::Create(event)), IsOk());
  }
  EventQuery query;
  std::vector<std::uint64_t> seen;
  for (int pages = 0; pages < 20; ++pages) {
    absl::StatusOr<EventPage> page = ListEvents(log_, query);
    ASSERT_THAT(page, IsOk());
    std::size_t bytes = 0;
    for (const EventPtr& event : page->events) bytes += event->EncodedSize();
    if (page->events.size() > 1) {
      EXPECT_LE(bytes, query.max_page_bytes);
    }
    for (std::uint64_t sequence : Sequences(*page)) seen.push_back(sequence);
    if (page->next_page_token.empty()) break;
    query.page_token = page->next_page_token;
  }
  EXPECT_THAT(seen, ElementsAre(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12));
}

TEST_F(EventListingTest, FiltersLikeSubscribe) {
  Append({"a", "b", "a", "c", "b", "a"});
  EventQuery query;
  query.filter = Projects({"b"});
  absl::StatusOr<EventPage> page = ListEvents(log_, query);
  ASSERT_THAT(page, IsOk());
  EXPECT_THAT(Sequences(*page), ElementsAre(2, 5));
  EXPECT_EQ(page->next_page_token, "");
}

TEST_F(EventListingTest, StartsAfterASequence) {
  Append({"a", "a", "a", "a"});
  EventQuery query;
  query.start_after_sequence = 2;
  absl::StatusOr<EventPage> page = ListEvents(log_, query);
  ASSERT_THAT(page, IsOk());
  EXPECT_THAT(Sequences(*page), ElementsAre(3, 4));
  query.start_after_sequence = 4;
  page = ListEvents(log_, query);
  ASSERT_THAT(page, IsOk());
  EXPECT_THAT(page->events, IsEmpty());
  EXPECT_EQ(page->next_page_token, "");
}

TEST_F(EventListingTest, ARareMatchStillAnswersWithinTheScanLimit) {
  Append({"a", "a", "a", "a", "a", "a", "b"});
  EventQuery query;
  query.filter = Projects({"b"});
  query.max_scanned = 3;
  absl::StatusOr<EventPage> page = ListEvents(log_, query);
  ASSERT_THAT(page, IsOk());
  EXPECT_THAT(page->events, IsEmpty());
  ASSERT_FALSE(page->next_page_token.empty()) << "more to examine";
  query.page_token = page->next_page_token;
  page = ListEvents(log_, query);  // 4..6
  ASSERT_THAT(page, IsOk());
  EXPECT_THAT(page->events, IsEmpty());
  query.page_token = page->next_page_token;
  page = ListEvents(log_, query);  // 7
  ASSERT_THAT(page, IsOk());
  EXPECT_THAT(Sequences(*page), ElementsAre(7));
  EXPECT_EQ(page->next_page_token, "");
}

TEST_F(EventListingTest, PageSizeIsCappedAndDefaulted) {
  std::vector<std::string> projects(1200, "a");
  Append(projects);
  EventQuery query;
  query.page_size = 5000;
  absl::StatusOr<EventPage> page = ListEvents(log_, query);
  ASSERT_THAT(page, IsOk());
  EXPECT_EQ(page->events.size(), 1000u);
  query.page_size = 0;
  page = ListEvents(log_, query);
  ASSERT_THAT(page, IsOk());
  EXPECT_EQ(page->events.size(), 100u);
}

TEST_F(EventListingTest, BadQueriesAreInvalidArgumentNamingTheField) {
  Append({"a", "a"});
  EventQuery negative;
  negative.page_size = -1;
  absl::Status status = ListEvents(log_, negative).status();
  EXPECT_THAT(status, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(status, HasReason(kInvalidRequest));
  ASSERT_EQ(ErrorFieldViolations(status).size(), 1u);
  EXPECT_EQ(ErrorFieldViolations(status)[0].field, "page_size");

  for (const char* token : {"garbage", "after-", "after-x", "after-0",
                            "after-99999999999999999999999"}) {
    SCOPED_TRACE(token);
    EventQuery bad_token;
    bad_token.page_token = token;
    status = ListEvents(log_, bad_token).status();
    EXPECT_THAT(status, StatusIs(absl::StatusCode::kInvalidArgument));
    EXPECT_THAT(status, HasReason(kInvalidPageToken));
  }

  EventQuery both;
  both.page_token = "after-1";
  both.start_after_sequence = 1;
  status = ListEvents(log_, both).status();
  EXPECT_THAT(status, HasReason(kInvalidRequest));
  EXPECT_EQ(ErrorFieldViolations(status)[0].field, "start_after_sequence");
}

class ShortEventListingTest : public EventListingTest {
 protected:
  ShortEventListingTest() : EventListingTest(3) {}
};

// The largest start (by field or page token) must not wrap around to "before
// the oldest".
TEST_F(ShortEventListingTest, TheLargestStartIsBeyondTheLastNotTooOld) {
  Append({"a", "a", "a", "a", "a", "a"});  // holds 4..6
  EventQuery query;
  query.start_after_sequence = ~std::uint64_t{0};
  absl::StatusOr<EventPage> page = ListEvents(log_, query);
  ASSERT_THAT(page, IsOk());
  EXPECT_THAT(page->events, IsEmpty());
  EXPECT_EQ(page->next_page_token, "");
  query.start_after_sequence = 0;
  query.page_token = "after-18446744073709551615";
  page = ListEvents(log_, query);
  ASSERT_THAT(page, IsOk());
  EXPECT_THAT(page->events, IsEmpty());
  std::vector<EventPtr> out;
  EXPECT_THAT(log_.ReadAfter(~std::uint64_t{0}, ~std::uint64_t{0}, 10, out),
              IsOk());
  EXPECT_THAT(out, IsEmpty());
}

TEST_F(ShortEventListingTest, AStartBeforeTheOldestIsOutOfRange) {
  Append({"a", "a", "a", "a", "a", "a"});  // holds 4..6
  EventQuery query;
  query.start_after_sequence = 2;
  absl::Status status = ListEvents(log_, query).status();
  EXPECT_THAT(status, StatusIs(absl::StatusCode::kOutOfRange));
  EXPECT_THAT(status, HasReason(kSequenceTooOld));
  EXPECT_EQ(ErrorMetadata(status, "oldest_sequence"), "4");
  // From the oldest held (0) is fine.
  query.start_after_sequence = 0;
  absl::StatusOr<EventPage> page = ListEvents(log_, query);
  ASSERT_THAT(page, IsOk());
  EXPECT_THAT(Sequences(*page), ElementsAre(4, 5, 6));
}

}  // namespace
}  // namespace paradym::webhooks
