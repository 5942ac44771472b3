// Realistic Paradym webhook bodies for `paradym-webhooks send`, like
// `stripe trigger`: every event type Paradym documents, with fresh ids and
// the current time, and `--set path=value` overrides.
//
//   absl::StatusOr<std::string> body = SampleBody(
//       "workflowExecution.failed", {"payload.error.code=expired"}, now);

#ifndef PARADYM_WEBHOOKS_CLIENT_SAMPLE_EVENTS_H_
#define PARADYM_WEBHOOKS_CLIENT_SAMPLE_EVENTS_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace paradym::webhooks::cli {

// The event types there are samples of, in a stable order.
const std::vector<std::string>& SampleEventTypes();

// A body of `event_type` published at `now`, with each `overrides` entry
// (`a.b.c=value`) applied in order: the value is taken as JSON when it is a
// JSON value (`3`, `true`, `null`, `"x"`, `{...}`, `[...]`), else as a
// string; missing objects on the path are created. INVALID_ARGUMENT for an
// unknown type or a malformed override.
absl::StatusOr<std::string> SampleBody(
    absl::string_view event_type, const std::vector<std::string>& overrides,
    absl::Time now);

// Applies `overrides` to the JSON object `body`.
absl::StatusOr<std::string> ApplyOverrides(
    absl::string_view body, const std::vector<std::string>& overrides);

}  // namespace paradym::webhooks::cli

#endif  // PARADYM_WEBHOOKS_CLIENT_SAMPLE_EVENTS_H_
