// google.protobuf.Struct and Value in their wire format, written and read
// without building message objects.
//
// The strict JSON parser writes a webhook's JSON straight into this form and
// the normalizer reads the few fields it types from it: no tree of Value
// objects, no map nodes, one buffer. The encoding is the one protobuf
// defines, so any protobuf library decodes it into the same Struct
// (members in their JSON order).
//
//   std::string out;
//   std::size_t length = BeginLength(out);  // a nested message starts
//   ...                                      // its fields
//   EndLength(out, length);                  // its length is now known
//
//   std::optional<WireValue> id = FindStructField(payload, "workflowId");
//   if (id && id->kind == WireValue::kString) use(id->bytes);

#ifndef PARADYM_WEBHOOKS_SERVER_CORE_STRUCT_WIRE_H_
#define PARADYM_WEBHOOKS_SERVER_CORE_STRUCT_WIRE_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "absl/strings/string_view.h"

namespace paradym::webhooks {

// Tags: (field number << 3) | wire type.
inline constexpr char kStructFieldsTag = 0x0A;  // Struct.fields, map entries
inline constexpr char kMapKeyTag = 0x0A;        // entry key, string
inline constexpr char kMapValueTag = 0x12;      // entry value, Value
inline constexpr char kNullValueTag = 0x08;     // Value.null_value, varint
inline constexpr char kNumberValueTag = 0x11;   // Value.number_value, fixed64
inline constexpr char kStringValueTag = 0x1A;   // Value.string_value
inline constexpr char kBoolValueTag = 0x20;     // Value.bool_value, varint
inline constexpr char kStructValueTag = 0x2A;   // Value.struct_value
inline constexpr char kListValueTag = 0x32;     // Value.list_value
inline constexpr char kListValuesTag = 0x0A;    // ListValue.values

inline std::size_t VarintSize(std::uint64_t value) {
  std::size_t size = 1;
  while (value >= 0x80) {
    value >>= 7;
    ++size;
  }
  return size;
}
inline void AppendVarint(std::uint64_t value, std::string& out) {
  while (value >= 0x80) {
    out.push_back(static_cast<char>((value & 0x7F) | 0x80));
    value >>= 7;
  }
  out.push_back(static_cast<char>(value));
}
// A length-delimited field: `tag`, the length of `bytes`, `bytes`.
void AppendDelimited(std::uint32_t tag, absl::string_view bytes,
                     std::string& out);
// A varint or length-delimited field's tag (field numbers past 15 take two
// bytes).
void AppendTag(std::uint32_t field, std::uint32_t wire_type, std::string& out);

// Reserves one byte for the length of what follows and returns its offset.
std::size_t BeginLength(std::string& out);
// Writes the length of everything after `offset` there, making room when it
// takes more than the one byte reserved. Lengths that begin inside this one
// must end first.
void EndLength(std::string& out, std::size_t offset);

// One google.protobuf.Value, read from its encoding.
struct WireValue {
  enum Kind { kNull, kNumber, kString, kBool, kStruct, kList };
  Kind kind = kNull;
  // kString: the text; kStruct, kList: the encoding of the Struct or
  // ListValue.
  absl::string_view bytes;
  double number = 0;
  bool boolean = false;
  // The whole Value encoding.
  absl::string_view encoding;
};

// Reads the Value encoded in `encoding`; nullopt when it is not one Value of
// a single kind (an empty Value has no kind).
std::optional<WireValue> ReadValue(absl::string_view encoding);

// The value of the member `key` of the Struct encoded in `struct_encoding`,
// or nullopt when there is none (or the encoding cannot be read).
std::optional<WireValue> FindStructField(absl::string_view struct_encoding,
                                         absl::string_view key);

}  // namespace paradym::webhooks

#endif  // PARADYM_WEBHOOKS_SERVER_CORE_STRUCT_WIRE_H_
