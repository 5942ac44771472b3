// Errors of the paradym-webhooks core: absl::Status values that carry a
// machine-readable reason and, for bad input fields, the field paths.
//
// The reason travels as a serialized google.rpc.ErrorInfo payload and the
// field paths as a google.rpc.BadRequest payload, keyed by their type URLs.
// Each transport edge turns these payloads into its own error form in one
// place (gRPC status details, an HTTP JSON body); the core never knows which.
//
//   absl::Status status = MakeError(absl::StatusCode::kUnauthenticated,
//                                   kSignatureMismatch,
//                                   "the signature does not match the body");
//   ErrorReason(status);  // "SIGNATURE_MISMATCH"

#ifndef PARADYM_WEBHOOKS_SERVER_CORE_ERRORS_H_
#define PARADYM_WEBHOOKS_SERVER_CORE_ERRORS_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace paradym::webhooks {

// The ErrorInfo domain of every reason below.
inline constexpr absl::string_view kErrorDomain = "webhooks.paradym.v1";

// Type URLs of the status payloads.
inline constexpr absl::string_view kErrorInfoTypeUrl =
    "type.googleapis.com/google.rpc.ErrorInfo";
inline constexpr absl::string_view kBadRequestTypeUrl =
    "type.googleapis.com/google.rpc.BadRequest";

// UNAUTHENTICATED: the webhook is not proven to come from Paradym.
inline constexpr absl::string_view kSignatureMissing = "SIGNATURE_MISSING";
inline constexpr absl::string_view kSignatureMalformed = "SIGNATURE_MALFORMED";
inline constexpr absl::string_view kSignatureMismatch = "SIGNATURE_MISMATCH";
// UNAUTHENTICATED: `webhookPublishedAt` is missing, older than
// --max_event_age or too far ahead of the clock: possibly a replay.
inline constexpr absl::string_view kStaleEvent = "STALE_EVENT";

// UNAUTHENTICATED: a gRPC caller did not prove who it is (see
// access_control.h).
inline constexpr absl::string_view kTokenMissing = "TOKEN_MISSING";
inline constexpr absl::string_view kTokenInvalid = "TOKEN_INVALID";
// No credentials are configured: only loopback callers are served.
inline constexpr absl::string_view kLoopbackOnly = "LOOPBACK_ONLY";
// PERMISSION_DENIED: the caller's token does not grant the call's scope.
inline constexpr absl::string_view kScopeMissing = "SCOPE_MISSING";

// INVALID_ARGUMENT: the body cannot be read as a Paradym event.
inline constexpr absl::string_view kBodyTooLarge = "BODY_TOO_LARGE";
inline constexpr absl::string_view kMalformedJson = "MALFORMED_JSON";
inline constexpr absl::string_view kInvalidUtf8 = "INVALID_UTF8";
inline constexpr absl::string_view kDuplicateKey = "DUPLICATE_KEY";
inline constexpr absl::string_view kNestingTooDeep = "NESTING_TOO_DEEP";
inline constexpr absl::string_view kMissingField = "MISSING_FIELD";
inline constexpr absl::string_view kInvalidField = "INVALID_FIELD";
inline constexpr absl::string_view kInvalidTimestamp = "INVALID_TIMESTAMP";

// INVALID_ARGUMENT: a request field (not the webhook body) is invalid.
inline constexpr absl::string_view kInvalidRequest = "INVALID_REQUEST";
// INVALID_ARGUMENT: the request bytes are not an encoding of the request
// message. (A request `string` field that is not UTF-8: INVALID_UTF8.)
inline constexpr absl::string_view kMalformedRequest = "MALFORMED_REQUEST";

// NOT_FOUND: the named endpoint is not configured.
inline constexpr absl::string_view kUnknownEndpoint = "UNKNOWN_ENDPOINT";

// OUT_OF_RANGE: a subscription cannot start where it asked to.
inline constexpr absl::string_view kSequenceTooOld = "SEQUENCE_TOO_OLD";
inline constexpr absl::string_view kSequenceTooNew = "SEQUENCE_TOO_NEW";

// INTERNAL: a subscriber's replay found the event log holding less than was
// published to it.
inline constexpr absl::string_view kLogGap = "LOG_GAP";

// RESOURCE_EXHAUSTED: a subscriber fell too far behind.
inline constexpr absl::string_view kSubscriberTooSlow = "SUBSCRIBER_TOO_SLOW";
// RESOURCE_EXHAUSTED: as many Subscribe streams are open as allowed.
inline constexpr absl::string_view kTooManySubscribers = "TOO_MANY_SUBSCRIBERS";

// UNAVAILABLE: the service is stopping.
inline constexpr absl::string_view kShuttingDown = "SHUTTING_DOWN";

// CANCELLED: the client ended the call (no one receives this error).
inline constexpr absl::string_view kCancelled = "CANCELLED";

// UNAVAILABLE: the event store could not commit the event (the disk is full,
// or it failed otherwise); nothing was stored and what was stored is intact.
inline constexpr absl::string_view kStoreFull = "STORE_FULL";
inline constexpr absl::string_view kStoreFailed = "STORE_FAILED";
// At startup, the event store cannot be opened: FAILED_PRECONDITION with
// STORE_FAILED (the data directory is not writable, is locked by another
// process, or holds something else or a newer format), or DATA_LOSS with
// STORE_CORRUPT (the file is damaged).
inline constexpr absl::string_view kStoreCorrupt = "STORE_CORRUPT";

// A failure or refusal of NATS or the JetStream stream (--store=jetstream);
// the code says which: UNAVAILABLE (cannot be reached now: retried),
// NOT_FOUND (no such message), FAILED_PRECONDITION (refused, a stream that
// cannot hold the events safely, or one that does not match this replica's
// outbox or copy). Replication retries or stops on it (readiness then says
// REPLICATION_STALLED); at startup the server does not start.
inline constexpr absl::string_view kStreamError = "STREAM_ERROR";

// UNAVAILABLE (readiness): a replica cannot forward its outbox to the shared
// stream, and too many accepted events wait in it.
inline constexpr absl::string_view kReplicationStalled = "REPLICATION_STALLED";

// INVALID_ARGUMENT: a ListEvents page token that this server did not issue.
inline constexpr absl::string_view kInvalidPageToken = "INVALID_PAGE_TOKEN";

// INVALID_ARGUMENT: bytes that should encode a paradym.webhooks.v1.Event do
// not (a message on the JetStream stream that is no event).
inline constexpr absl::string_view kMalformedEvent = "MALFORMED_EVENT";

// INVALID_ARGUMENT or FAILED_PRECONDITION, at startup (or a reload): a flag,
// or a file a flag names (secrets, tokens, TLS, NATS credentials), is
// invalid, unreadable or readable by others. The message names it.
inline constexpr absl::string_view kInvalidConfig = "INVALID_CONFIG";

// INTERNAL: an invariant of this server does not hold (a bug). The message
// says which.
inline constexpr absl::string_view kInternalError = "INTERNAL_ERROR";

// One invalid field of the webhook body or of a request.
struct FieldViolation {
  std::string field;        // e.g. "payload.workflowExecutionId"
  std::string description;  // e.g. "required string is missing"
};

// Returns a status with `code` and `message` that carries `reason` (and
// `metadata`) as a google.rpc.ErrorInfo payload and, when `violations` is not
// empty, a google.rpc.BadRequest payload.
absl::Status MakeError(
    absl::StatusCode code, absl::string_view reason, absl::string_view message,
    std::vector<std::pair<std::string, std::string>> metadata = {},
    std::vector<FieldViolation> violations = {});

// `status` with `code` instead of its own: its message, reason and other
// payloads stay.
absl::Status WithCode(const absl::Status& status, absl::StatusCode code);

// The ErrorInfo reason carried by `status`, or "" when it carries none.
std::string ErrorReason(const absl::Status& status);

// The ErrorInfo metadata value for `key`, or "" when absent.
std::string ErrorMetadata(const absl::Status& status, absl::string_view key);

// The field violations carried by `status`, in order.
std::vector<FieldViolation> ErrorFieldViolations(const absl::Status& status);

}  // namespace paradym::webhooks

#endif  // PARADYM_WEBHOOKS_SERVER_CORE_ERRORS_H_
