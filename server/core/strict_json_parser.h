// Parses untrusted JSON text into a google.protobuf.Struct, strictly, as
// message objects or straight into its wire format.
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

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/struct.pb.h"

namespace paradym::webhooks {

// Where the value of a top-level member goes.
struct JsonMemberTarget {
  // The value's encoding is appended here.
  std::string* buffer = nullptr;
  // True: as a google.protobuf.Struct map entry (the key, then the Value),
  // the form of every member of a nested object. False: the bare
  // google.protobuf.Value encoding.
  bool map_entry = false;
};

// Receives the members of the top-level object, for callers that want each
// in a place of their own rather than in one Struct.
class JsonObjectSink {
 public:
  virtual ~JsonObjectSink() = default;
  // Where the member named `key` goes. Called once per key: a key that came
  // before fails the parse with DUPLICATE_KEY instead.
  virtual JsonMemberTarget Member(absl::string_view key) = 0;
};

// Parses `json`, writing each top-level member where `sink` says, in the
// protobuf wire format of google.protobuf.Value (see struct_wire.h): no
// message objects are built. `max_depth` counts the top level object as 1.
absl::Status ParseJsonObject(absl::string_view json, int max_depth,
                             JsonObjectSink& sink);

// Parses `json` into `object` (cleared first).
absl::Status ParseJsonObject(absl::string_view json, int max_depth,
                             google::protobuf::Struct& object);

}  // namespace paradym::webhooks

#endif  // PARADYM_WEBHOOKS_SERVER_CORE_STRICT_JSON_PARSER_H_
