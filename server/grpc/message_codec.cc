#include "server/grpc/message_codec.h"

#include <grpcpp/impl/codegen/proto_utils.h>

#include <cstdint>
#include <limits>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/wire_format_lite.h"
#include "server/core/errors.h"
#include "server/core/json_text.h"
#include "server/core/struct_wire.h"

namespace paradym::webhooks {
namespace {

using ::google::protobuf::Descriptor;
using ::google::protobuf::FieldDescriptor;
using ::google::protobuf::internal::WireFormatLite;
using ::google::protobuf::io::CodedInputStream;

absl::Status MalformedRequest(const Descriptor& type) {
  return MakeError(
      absl::StatusCode::kInvalidArgument, kMalformedRequest,
      absl::StrCat("the request is not a ", type.full_name(), " encoding"));
}

// Nested messages deeper than this are refused as malformed, as protobuf's
// parser would refuse them.
constexpr int kMaxDepth = 100;

// The tag of a response's field 1 (the event, or the repeated events),
// length-delimited: (1 << 3) | 2.
constexpr char kEventsTag = 0x0A;

// Walks the encoding of a `type` message without building it: every field
// must be well formed, and every `string` field (nested ones too) UTF-8.
absl::Status CheckEncoding(CodedInputStream& input, const Descriptor& type,
                           const std::string& path, int depth) {
  while (std::uint32_t tag = input.ReadTag()) {
    const FieldDescriptor* field =
        type.FindFieldByNumber(WireFormatLite::GetTagFieldNumber(tag));
    const bool length_delimited = WireFormatLite::GetTagWireType(tag) ==
                                  WireFormatLite::WIRETYPE_LENGTH_DELIMITED;
    if (field == nullptr || !length_delimited ||
        (field->type() != FieldDescriptor::TYPE_STRING &&
         field->type() != FieldDescriptor::TYPE_MESSAGE)) {
      // Unknown fields and other types: protobuf keeps or parses them as
      // they are; they only have to be well formed.
      if (!WireFormatLite::SkipField(&input, tag)) {
        return MalformedRequest(type);
      }
      continue;
    }
    std::uint32_t size;
    if (!input.ReadVarint32(&size) ||
        size > static_cast<std::uint32_t>(std::numeric_limits<int>::max())) {
      return MalformedRequest(type);
    }
    const std::string field_path =
        path.empty() ? field->name() : absl::StrCat(path, ".", field->name());
    if (field->type() == FieldDescriptor::TYPE_MESSAGE) {
      if (depth >= kMaxDepth) return MalformedRequest(type);
      const CodedInputStream::Limit limit =
          input.PushLimit(static_cast<int>(size));
      absl::Status nested =
          CheckEncoding(input, *field->message_type(), field_path, depth + 1);
      if (!nested.ok()) return nested;
      if (input.BytesUntilLimit() != 0) return MalformedRequest(type);
      input.PopLimit(limit);
      continue;
    }
    std::string value;
    if (!input.ReadString(&value, static_cast<int>(size))) {
      return MalformedRequest(type);
    }
    if (FirstInvalidUtf8(value) != absl::string_view::npos) {
      return MakeError(
          absl::StatusCode::kInvalidArgument, kInvalidUtf8,
          absl::StrCat("the request field `", field_path, "` is not UTF-8"), {},
          {{field_path, "not valid UTF-8"}});
    }
  }
  // ReadTag also stops at a tag of 0, which no encoding holds.
  if (!input.ConsumedEntireMessage()) return MalformedRequest(type);
  return absl::OkStatus();
}

}  // namespace

absl::Status DecodeMessage(absl::string_view bytes,
                           google::protobuf::Message& message) {
  const Descriptor& type = *message.GetDescriptor();
  CodedInputStream input(reinterpret_cast<const std::uint8_t*>(bytes.data()),
                         static_cast<int>(bytes.size()));
  absl::Status checked = CheckEncoding(input, type, "", 0);
  if (!checked.ok()) return checked;
  if (!message.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return MalformedRequest(type);
  }
  return absl::OkStatus();
}

absl::Status DecodeMessage(const grpc::ByteBuffer& bytes,
                           google::protobuf::Message& message) {
  grpc::Slice slice;
  if (!bytes.TrySingleSlice(&slice).ok() &&
      !bytes.DumpToSingleSlice(&slice).ok()) {
    return MalformedRequest(*message.GetDescriptor());
  }
  return DecodeMessage(
      absl::string_view(reinterpret_cast<const char*>(slice.begin()),
                        slice.size()),
      message);
}

void EncodeMessage(const google::protobuf::Message& message,
                   grpc::ByteBuffer& out) {
  bool own_buffer;
  grpc::GenericSerialize<grpc::ProtoBufferWriter, google::protobuf::Message>(
      message, &out, &own_buffer);
}

void TakeBytes(std::string bytes, grpc::ByteBuffer& out) {
  auto* owned = new std::string(std::move(bytes));
  grpc::Slice slice(
      owned->data(), owned->size(),
      [](void* string) { delete static_cast<std::string*>(string); }, owned);
  out = grpc::ByteBuffer(&slice, 1);
}

void EncodeEventResponse(absl::string_view event_encoding,
                         grpc::ByteBuffer& out, absl::string_view more_fields) {
  std::string bytes;
  bytes.reserve(event_encoding.size() + more_fields.size() + 6);
  bytes.push_back(kEventsTag);
  AppendVarint(event_encoding.size(), bytes);
  bytes.append(event_encoding.data(), event_encoding.size());
  bytes.append(more_fields.data(), more_fields.size());
  TakeBytes(std::move(bytes), out);
}

void EncodeEventsResponse(const std::vector<EventPtr>& events,
                          grpc::ByteBuffer& out,
                          absl::string_view more_fields) {
  std::size_t size = more_fields.size();
  for (const EventPtr& event : events) size += event->EncodedSize() + 6;
  std::string bytes;
  bytes.reserve(size);
  for (const EventPtr& event : events) {
    bytes.push_back(kEventsTag);
    AppendVarint(event->EncodedSize(), bytes);
    event->AppendEncoded(bytes);
  }
  bytes.append(more_fields.data(), more_fields.size());
  TakeBytes(std::move(bytes), out);
}

}  // namespace paradym::webhooks
