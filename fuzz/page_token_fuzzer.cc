// The ListEvents page token decoder, through ListEvents over a small log.
//
// Properties: never a crash; a token is refused with INVALID_ARGUMENT
// INVALID_PAGE_TOKEN, or OUT_OF_RANGE SEQUENCE_TOO_OLD when it points before
// the oldest event held; an accepted token gives a page of events after the
// sequence it names, in order; a next_page_token is always accepted again.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/strings/string_view.h"
#include "fuzz/fuzz_check.h"
#include "paradym/webhooks/v1/event.pb.h"
#include "server/core/errors.h"
#include "server/core/event_listing.h"
#include "server/core/memory_event_log.h"
#include "server/core/stored_event.h"

namespace {

namespace pw = ::paradym::webhooks;

// Sequences 1 to 20, of which the log holds the last 10.
const pw::MemoryEventLog& Log() {
  static const pw::MemoryEventLog* const log = [] {
    auto* log = new pw::MemoryEventLog({10, std::size_t{1} << 20});
    for (int i = 0; i < 20; ++i) {
      pw::v1::Event event;
      event.set_event_type("workflowExecution.started");
      log->Append(pw::StoredEvent::Create(event),
                  [](absl::StatusOr<pw::EventPtr> stored) {
                    FUZZ_CHECK(stored.ok()) << stored.status();
                  });
    }
    return log;
  }();
  return *log;
}

void CheckPage(const absl::StatusOr<pw::EventPage>& page) {
  if (!page.ok()) {
    const std::string reason = pw::ErrorReason(page.status());
    FUZZ_CHECK((page.status().code() == absl::StatusCode::kInvalidArgument &&
                reason == pw::kInvalidPageToken) ||
               (page.status().code() == absl::StatusCode::kOutOfRange &&
                reason == pw::kSequenceTooOld))
        << page.status();
    return;
  }
  std::uint64_t previous = 0;
  for (const pw::EventPtr& event : page->events) {
    FUZZ_CHECK(event->sequence() > previous);
    FUZZ_CHECK(event->sequence() >= page->range.oldest &&
               event->sequence() <= page->range.last);
    previous = event->sequence();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size) {
  pw::EventQuery query;
  query.page_size = 3;
  query.page_token.assign(reinterpret_cast<const char*>(data), size);
  const absl::StatusOr<pw::EventPage> page = pw::ListEvents(Log(), query);
  CheckPage(page);
  if (page.ok() && !page->next_page_token.empty()) {
    query.page_token = page->next_page_token;
    const absl::StatusOr<pw::EventPage> next = pw::ListEvents(Log(), query);
    FUZZ_CHECK(next.ok()) << next.status();
    CheckPage(next);
    FUZZ_CHECK(next->events.empty() || page->events.empty() ||
               next->events.front()->sequence() >
                   page->events.back()->sequence());
  }
  return 0;
}
