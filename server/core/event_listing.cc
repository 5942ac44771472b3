#include "server/core/event_listing.h"

#include <algorithm>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "server/core/errors.h"
#include "server/core/status_macros.h"

namespace paradym::webhooks {
namespace {

// Page tokens are opaque to clients; this prefix lets a token from anywhere
// else be told apart from ours.
constexpr absl::string_view kTokenPrefix = "after-";

// Events read from the log per step of a scan.
constexpr std::size_t kScanChunk = 256;

absl::Status InvalidField(std::string field, std::string description) {
  std::string message = absl::StrCat(field, ": ", description);
  return MakeError(absl::StatusCode::kInvalidArgument, kInvalidRequest, message,
                   {}, {{std::move(field), std::move(description)}});
}

// The sequence the query starts after, 0 for the oldest.
absl::StatusOr<std::uint64_t> StartAfter(const EventQuery& query) {
  if (query.page_token.empty()) return query.start_after_sequence;
  if (query.start_after_sequence != 0) {
    return InvalidField("start_after_sequence",
                        "set either start_after_sequence or page_token, not "
                        "both");
  }
  std::uint64_t after = 0;
  if (!absl::StartsWith(query.page_token, kTokenPrefix) ||
      !absl::SimpleAtoi(query.page_token.substr(kTokenPrefix.size()), &after) ||
      after == 0) {
    return MakeError(absl::StatusCode::kInvalidArgument, kInvalidPageToken,
                     "page_token is not one this server issued; pass a "
                     "next_page_token back unchanged",
                     {}, {{"page_token", "not issued by this server"}});
  }
  return after;
}

}  // namespace

absl::StatusOr<EventPage> ListEvents(const EventLog& log,
                                     const EventQuery& query) {
  if (query.page_size < 0) {
    return InvalidField("page_size", "must not be negative");
  }
  const std::size_t page_size = static_cast<std::size_t>(
      query.page_size == 0
          ? EventQuery::kDefaultPageSize
          : std::min(query.page_size, EventQuery::kMaxPageSize));
  ASSIGN_OR_RETURN(std::uint64_t cursor, StartAfter(query));

  EventPage page;
  page.range = log.Range();
  if (cursor == 0) {
    cursor = page.range.oldest - 1;
  } else if (page.range.TooOld(cursor)) {
    return SequenceTooOldError(cursor, page.range);
  }
  std::size_t scanned = 0;
  std::size_t bytes = 0;
  bool full = false;
  std::vector<EventPtr> chunk;
  while (!full && cursor < page.range.last && page.events.size() < page_size &&
         scanned < query.max_scanned) {
    chunk.clear();
    const std::size_t want = std::min(kScanChunk, query.max_scanned - scanned);
    RETURN_IF_ERROR(log.ReadAfter(cursor, page.range.last, want, chunk));
    if (chunk.empty()) break;
    for (EventPtr& event : chunk) {
      if (query.filter.Matches(*event)) {
        const std::size_t size = event->EncodedSize();
        if (!page.events.empty() && bytes + size > query.max_page_bytes) {
          full = true;  // the next page starts with this event
          break;
        }
        bytes += size;
        cursor = event->sequence();
        page.events.push_back(std::move(event));
        if (page.events.size() == page_size) break;
      } else {
        cursor = event->sequence();
      }
      ++scanned;
    }
  }
  if (cursor < page.range.last) {
    page.next_page_token = absl::StrCat(kTokenPrefix, cursor);
  }
  return page;
}

}  // namespace paradym::webhooks
