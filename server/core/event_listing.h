// Pages through the event log, oldest first, with a subscription's filters:
// what ListEvents serves, so an operator can inspect or export the store.
//
// A page holds at most `page_size` matching events and never looks at more
// than `max_scanned` events, so a filter that matches rarely still answers
// promptly; `next_page_token` then continues where the scan stopped.
//
//   absl::StatusOr<EventPage> page = ListEvents(log, {.filter = filter,
//                                                     .page_size = 100});
//   ... ListEvents(log, {.filter = filter, .page_token =
//   page->next_page_token});

#ifndef PARADYM_WEBHOOKS_SERVER_CORE_EVENT_LISTING_H_
#define PARADYM_WEBHOOKS_SERVER_CORE_EVENT_LISTING_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "server/core/event_filter.h"
#include "server/core/event_log.h"

namespace paradym::webhooks {

struct EventQuery {
  EventFilter filter;
  // Start after this sequence; 0: from the oldest event held.
  std::uint64_t start_after_sequence = 0;
  // At most this many events, 1 to kMaxPageSize; 0: kDefaultPageSize.
  std::int64_t page_size = 0;
  // From a previous page; excludes start_after_sequence.
  std::string page_token;
  // The most events one page examines.
  std::size_t max_scanned = 10000;
  // The most bytes of encoded events on one page (a single larger event
  // still comes alone), so that a page stays under gRPC's default 4 MiB
  // message limit of clients.
  std::size_t max_page_bytes = std::size_t{3} << 20;

  static constexpr std::int64_t kDefaultPageSize = 100;
  static constexpr std::int64_t kMaxPageSize = 1000;
};

struct EventPage {
  std::vector<EventPtr> events;
  // Continues after this page; empty when the page reached the newest event,
  // in which case every event up to range.last was examined.
  std::string next_page_token;
  // What the log held when the page was read.
  SequenceRange range;
};

// INVALID_ARGUMENT (INVALID_REQUEST naming `page_size` or
// `start_after_sequence`; INVALID_PAGE_TOKEN) for a bad query, OUT_OF_RANGE
// (SEQUENCE_TOO_OLD) when the start is no longer held, and the log's errors.
absl::StatusOr<EventPage> ListEvents(const EventLog& log,
                                     const EventQuery& query);

}  // namespace paradym::webhooks

#endif  // PARADYM_WEBHOOKS_SERVER_CORE_EVENT_LISTING_H_
