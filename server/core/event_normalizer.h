// Turns a verified Paradym webhook body into a typed Event.
//
// The body must be one JSON object, UTF-8, with no duplicate keys, no NaN or
// Infinity literals and at most `max_depth` levels of nesting. `eventType` is
// required, and `payload.workflowExecutionId` for every `workflowExecution.*`
// type. Known fields are typed; everything else is kept (the whole payload in
// `Event.payload`, other envelope fields in `Event.extra_fields`, the exact
// bytes in `Event.body`). Event types this version does not know are
// accepted with `EVENT_TYPE_UNSPECIFIED` and their raw type string.
//
// Never call it before the signature over the same bytes is verified.
//
//   EventNormalizer normalizer;
//   v1::Event event;
//   absl::Status status = normalizer.Normalize(body, event);
//   // status: OK, or INVALID_ARGUMENT with a reason such as MALFORMED_JSON
//   // and, for field problems, a BadRequest naming the field path.

#ifndef PARADYM_WEBHOOKS_SERVER_CORE_EVENT_NORMALIZER_H_
#define PARADYM_WEBHOOKS_SERVER_CORE_EVENT_NORMALIZER_H_

#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "paradym/webhooks/v1/event.pb.h"

namespace paradym::webhooks {

// The EventType of a Paradym `eventType` string; EVENT_TYPE_UNSPECIFIED when
// this version does not know it.
v1::EventType EventTypeFromString(absl::string_view event_type);

// Thread-safe: const after construction; its scratch is per thread.
class EventNormalizer {
 public:
  struct Options {
    // The deepest nesting of objects and arrays accepted; the envelope itself
    // is level 1. Bounded by the stored form, not the JSON: protobuf decoders
    // stop at 100 nested messages by default (C++, Java, Python), and each
    // JSON object level is three of them (Struct, map entry, Value), each
    // array level two. 34 object levels still decode; 32 leaves a margin.
    int max_depth = 32;
  };

  EventNormalizer() : EventNormalizer(Options()) {}
  explicit EventNormalizer(Options options) : options_(options) {}

  // What the server adds to the body's fields.
  struct Received {
    absl::string_view endpoint;  // empty: none
    std::optional<absl::Time> receive_time;
  };
  // An Event, encoded.
  struct EncodedEvent {
    // Every field but `sequence`, in field number order.
    std::string encoding;
    // webhookPublishedAt, when the body has one.
    std::optional<absl::Time> publish_time;
  };

  // Writes the encoding of the Event that `body` holds, with the fields of
  // `received`, into `out`: straight from the parser, building no message
  // objects. The encoding decodes as the Event Normalize fills in. Errors are
  // INVALID_ARGUMENT with reason MALFORMED_JSON, INVALID_UTF8,
  // DUPLICATE_KEY, NESTING_TOO_DEEP, MISSING_FIELD, INVALID_FIELD or
  // INVALID_TIMESTAMP; `out` is then in an unspecified state.
  absl::Status Encode(absl::string_view body, const Received& received,
                      EncodedEvent& out) const;

  // Fills every field of `event` that comes from the body: Encode, decoded.
  // Leaves `sequence`, `receive_time` and `endpoint` alone.
  // On error `event` is in an unspecified state; the errors are Encode's.
  absl::Status Normalize(absl::string_view body, v1::Event& event) const;

 private:
  Options options_;
};

}  // namespace paradym::webhooks

#endif  // PARADYM_WEBHOOKS_SERVER_CORE_EVENT_NORMALIZER_H_
