#include "server/core/event_log.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "server/core/errors.h"

namespace paradym::webhooks {

absl::Status SequenceTooOldError(std::uint64_t after, SequenceRange range) {
  return MakeError(
      absl::StatusCode::kOutOfRange, kSequenceTooOld,
      absl::StrCat("events after sequence ", after,
                   " are no longer held; the oldest available is ",
                   range.oldest, " (start after ", range.oldest - 1,
                   ", or 0 for everything held)"),
      {{"oldest_sequence", std::to_string(range.oldest)},
       {"last_sequence", std::to_string(range.last)}});
}

}  // namespace paradym::webhooks
