#include "server/core/struct_wire.h"

#include <cstring>

namespace paradym::webhooks {
namespace {

// Reads a varint at `pos` of `in`, advancing `pos`; false past the end or
// past 10 bytes.
bool ReadVarint(absl::string_view in, std::size_t& pos, std::uint64_t& value) {
  value = 0;
  for (int shift = 0; shift < 64 && pos < in.size(); shift += 7) {
    const auto byte = static_cast<std::uint8_t>(in[pos++]);
    value |= static_cast<std::uint64_t>(byte & 0x7F) << shift;
    if ((byte & 0x80) == 0) return true;
  }
  return false;
}

// Reads the length-delimited bytes at `pos`, advancing `pos`.
bool ReadDelimited(absl::string_view in, std::size_t& pos,
                   absl::string_view& bytes) {
  std::uint64_t size = 0;
  if (!ReadVarint(in, pos, size) || size > in.size() - pos) return false;
  bytes = in.substr(pos, size);
  pos += size;
  return true;
}

}  // namespace

void AppendTag(std::uint32_t field, std::uint32_t wire_type, std::string& out) {
  AppendVarint((field << 3) | wire_type, out);
}

void AppendDelimited(std::uint32_t tag, absl::string_view bytes,
                     std::string& out) {
  AppendVarint(tag, out);
  AppendVarint(bytes.size(), out);
  out.append(bytes.data(), bytes.size());
}

std::size_t BeginLength(std::string& out) {
  out.push_back('\0');
  return out.size() - 1;
}

void EndLength(std::string& out, std::size_t offset) {
  const std::size_t length = out.size() - offset - 1;
  const std::size_t size = VarintSize(length);
  // Most lengths fit the byte reserved; a longer one moves what follows.
  if (size > 1) out.insert(offset + 1, size - 1, '\0');
  std::size_t pos = offset;
  std::uint64_t value = length;
  while (value >= 0x80) {
    out[pos++] = static_cast<char>((value & 0x7F) | 0x80);
    value >>= 7;
  }
  out[pos] = static_cast<char>(value);
}

std::optional<WireValue> ReadValue(absl::string_view encoding) {
  WireValue value;
  value.encoding = encoding;
  std::size_t pos = 0;
  bool have_kind = false;
  while (pos < encoding.size()) {
    const char tag = encoding[pos++];
    std::uint64_t scalar = 0;
    switch (tag) {
      case kNullValueTag:
        if (!ReadVarint(encoding, pos, scalar)) return std::nullopt;
        value.kind = WireValue::kNull;
        break;
      case kNumberValueTag:
        if (encoding.size() - pos < 8) return std::nullopt;
        std::memcpy(&value.number, encoding.data() + pos, 8);
        pos += 8;
        value.kind = WireValue::kNumber;
        break;
      case kStringValueTag:
      case kStructValueTag:
      case kListValueTag:
        if (!ReadDelimited(encoding, pos, value.bytes)) return std::nullopt;
        value.kind = tag == kStringValueTag   ? WireValue::kString
                     : tag == kStructValueTag ? WireValue::kStruct
                                              : WireValue::kList;
        break;
      case kBoolValueTag:
        if (!ReadVarint(encoding, pos, scalar)) return std::nullopt;
        value.boolean = scalar != 0;
        value.kind = WireValue::kBool;
        break;
      default:
        return std::nullopt;
    }
    // A oneof written twice is not what this file writes.
    if (have_kind) return std::nullopt;
    have_kind = true;
  }
  if (!have_kind) return std::nullopt;
  return value;
}

std::optional<WireValue> FindStructField(absl::string_view struct_encoding,
                                         absl::string_view key) {
  std::size_t pos = 0;
  while (pos < struct_encoding.size()) {
    absl::string_view entry;
    if (struct_encoding[pos++] != kStructFieldsTag ||
        !ReadDelimited(struct_encoding, pos, entry)) {
      return std::nullopt;
    }
    // An entry written here is its key, then its value.
    std::size_t at = 0;
    absl::string_view entry_key, entry_value;
    if (entry.empty() || entry[at++] != kMapKeyTag ||
        !ReadDelimited(entry, at, entry_key)) {
      return std::nullopt;
    }
    if (entry_key != key) continue;
    if (at >= entry.size() || entry[at++] != kMapValueTag ||
        !ReadDelimited(entry, at, entry_value) || at != entry.size()) {
      return std::nullopt;
    }
    return ReadValue(entry_value);
  }
  return std::nullopt;
}

}  // namespace paradym::webhooks
