// Parses untrusted JSON text into a google.protobuf.Struct, strictly.
//
// Stricter than most JSON readers, because the text is a webhook body that
// will be stored and re-read by other programs: the top level must be an
// object; strings must be valid UTF-8 (also after \u escapes); duplicate keys,
// NaN/Infinity literals, NUL bytes and trailing data are errors; nesting is
// limited. The reader is iterative, so deep input cannot overflow the stack.
//
//   google::protobuf::Struct object;
//   absl::Status status = ParseJsonObject(R"({"a": [1, "x"]})", 64, object);
//
// Errors are INVALID_ARGUMENT with reason MALFORMED_JSON, INVALID_UTF8,
// DUPLICATE_KEY or NESTING_TOO_DEEP, and a BadRequest naming the JSON path
// (for example `payload.items[2]`) when the problem sits at a field.

#ifndef PARADYM_WEBHOOKS_SERVER_CORE_STRICT_JSON_PARSER_H_
#define PARADYM_WEBHOOKS_SERVER_CORE_STRICT_JSON_PARSER_H_

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/struct.pb.h"

namespace paradym::webhooks {

// Receives the members of the top-level object, for callers that want each
// in a place of their own rather than in one Struct.
class JsonObjectSink {
 public:
  virtual ~JsonObjectSink() = default;
  // The Value the member named `key` is read into, or null when `key` came
  // before (the parse then fails with DUPLICATE_KEY).
  virtual google::protobuf::Value* Member(absl::string_view key) = 0;
};

// Parses `json`, handing each top-level member to `sink`. `max_depth` counts
// the top level object as 1.
absl::Status ParseJsonObject(absl::string_view json, int max_depth,
                             JsonObjectSink& sink);

// Parses `json` into `object` (cleared first).
absl::Status ParseJsonObject(absl::string_view json, int max_depth,
                             google::protobuf::Struct& object);

}  // namespace paradym::webhooks

#endif  // PARADYM_WEBHOOKS_SERVER_CORE_STRICT_JSON_PARSER_H_
