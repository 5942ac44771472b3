#include "server/core/stored_event.h"

#include <utility>

#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "google/protobuf/timestamp.pb.h"
#include "google/protobuf/wire_format_lite.h"
#include "server/core/event_normalizer.h"
#include "server/core/proto_time.h"

namespace paradym::webhooks {
namespace {

// The tag of `sequence` (field 1, varint): (1 << 3) | 0.
constexpr char kSequenceTag = 0x08;

std::size_t VarintSize(std::uint64_t value) {
  return google::protobuf::io::CodedOutputStream::VarintSize64(value);
}

void AppendVarint(std::uint64_t value, std::string& out) {
  while (value >= 0x80) {
    out.push_back(static_cast<char>((value & 0x7F) | 0x80));
    value >>= 7;
  }
  out.push_back(static_cast<char>(value));
}

// Appends the encoding of `event`, whose size ByteSizeLong() has just
// computed, with map entries in key order: the same event, the same bytes.
void AppendDeterministic(const ::paradym::webhooks::v1::Event& event,
                         std::size_t size, std::string& out) {
  const std::size_t at = out.size();
  out.resize(at + size);
  google::protobuf::io::ArrayOutputStream array(&out[at],
                                                static_cast<int>(size));
  google::protobuf::io::CodedOutputStream coded(&array);
  coded.SetSerializationDeterministic(true);
  event.SerializeWithCachedSizes(&coded);
}

// The top-level fields of an Event encoding that the log needs.
struct Scanned {
  absl::string_view event_type;
  absl::string_view project_id;
  absl::string_view workflow_id;
  absl::string_view workflow_execution_id;
  absl::string_view endpoint;
  absl::string_view body;
  absl::Time receive_time = absl::UnixEpoch();
};

// Reads the top-level fields of `encoding` (an Event without `sequence`)
// into `out`. False when the bytes are not such an encoding.
bool ScanEncoding(absl::string_view encoding, Scanned& out) {
  using ::google::protobuf::internal::WireFormatLite;
  google::protobuf::io::CodedInputStream input(
      reinterpret_cast<const std::uint8_t*>(encoding.data()),
      static_cast<int>(encoding.size()));
  const auto read_string = [&](absl::string_view& field) {
    std::uint32_t size = 0;
    if (!input.ReadVarint32(&size)) return false;
    const std::size_t offset = input.CurrentPosition();
    if (size > encoding.size() - offset) return false;
    field = encoding.substr(offset, size);
    return input.Skip(static_cast<int>(size));
  };
  constexpr auto kDelimited = WireFormatLite::WIRETYPE_LENGTH_DELIMITED;
  bool ok = true;
  for (std::uint32_t tag = input.ReadTag(); ok && tag != 0;
       tag = input.ReadTag()) {
    switch (tag) {
      case WireFormatLite::MakeTag(2, kDelimited):
        ok = read_string(out.event_type);
        break;
      case WireFormatLite::MakeTag(5, kDelimited):
        ok = read_string(out.project_id);
        break;
      case WireFormatLite::MakeTag(8, kDelimited):
        ok = read_string(out.endpoint);
        break;
      case WireFormatLite::MakeTag(9, kDelimited):
        ok = read_string(out.workflow_id);
        break;
      case WireFormatLite::MakeTag(10, kDelimited):
        ok = read_string(out.workflow_execution_id);
        break;
      case WireFormatLite::MakeTag(13, kDelimited):
        ok = read_string(out.body);
        break;
      case WireFormatLite::MakeTag(7, kDelimited): {
        absl::string_view bytes;
        google::protobuf::Timestamp time;
        ok = read_string(bytes) &&
             time.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()));
        if (ok) out.receive_time = ToTime(time);
        break;
      }
      case WireFormatLite::MakeTag(1, WireFormatLite::WIRETYPE_VARINT):
        ok = false;  // the sequence is the stream's, never in the encoding
        break;
      default:
        ok = WireFormatLite::SkipField(&input, tag);
    }
  }
  return ok && input.ConsumedEntireMessage();
}

// True when SetTimestamp(ToTime(time)) gives `time` back: the receive time
// a store keeps as an absl::Time is then the event's, field for field.
bool IsCanonical(const google::protobuf::Timestamp& time) {
  google::protobuf::Timestamp again;
  SetTimestamp(ToTime(time), again);
  return again.seconds() == time.seconds() && again.nanos() == time.nanos();
}

}  // namespace

void StoredEvent::AppendFields(const absl::string_view (&fields)[4],
                               std::size_t encoding_size) {
  std::size_t size = encoding_size;
  for (absl::string_view field : fields) size += field.size();
  buffer_.reserve(size);
  for (int i = 0; i < 4; ++i) {
    offsets_[i] = static_cast<std::uint32_t>(buffer_.size());
    buffer_.append(fields[i].data(), fields[i].size());
  }
  offsets_[4] = static_cast<std::uint32_t>(buffer_.size());
}

bool StoredEvent::FindEndpointAndBody(bool digest) {
  Scanned scanned;
  if (!ScanEncoding(encoding_without_sequence(), scanned)) return false;
  const auto span = [this](absl::string_view field) {
    return Span{static_cast<std::uint32_t>(field.data() - buffer_.data()),
                static_cast<std::uint32_t>(field.size())};
  };
  endpoint_ = span(scanned.endpoint);
  body_ = span(scanned.body);
  if (digest) {
    has_replay_digest_ = !scanned.body.empty();
    if (has_replay_digest_) {
      replay_digest_ = ComputeReplayDigest(scanned.endpoint, scanned.body);
    }
  }
  return true;
}

std::shared_ptr<StoredEvent> StoredEvent::Encode(
    const ::paradym::webhooks::v1::Event& event) {
  std::shared_ptr<StoredEvent> stored(new StoredEvent());
  const std::size_t size = event.ByteSizeLong();
  stored->AppendFields({event.event_type(), event.project_id(),
                        event.workflow_id(), event.workflow_execution_id()},
                       size);
  stored->receive_time_ = ToTime(event.receive_time());
  AppendDeterministic(event, size, stored->buffer_);
  // The encoding of a well-formed message always scans.
  stored->FindEndpointAndBody(/*digest=*/false);
  stored->has_replay_digest_ = !event.body().empty();
  if (stored->has_replay_digest_) {
    stored->replay_digest_ =
        ComputeReplayDigest(event.endpoint(), event.body());
  }
  return stored;
}

std::shared_ptr<StoredEvent> StoredEvent::Create(
    const ::paradym::webhooks::v1::Event& event) {
  if (event.sequence() == 0) return Encode(event);
  ::paradym::webhooks::v1::Event copy = event;
  copy.clear_sequence();
  return Encode(copy);
}

std::shared_ptr<StoredEvent> StoredEvent::CreateNormalized(
    const ::paradym::webhooks::v1::Event& event) {
  std::shared_ptr<StoredEvent> stored = Create(event);
  stored->derived_from_body_ = !event.body().empty() &&
                               event.has_receive_time() &&
                               IsCanonical(event.receive_time());
  return stored;
}

absl::StatusOr<std::shared_ptr<StoredEvent>> StoredEvent::FromBody(
    std::uint64_t sequence, absl::Time receive_time, absl::string_view endpoint,
    absl::string_view body) {
  ::paradym::webhooks::v1::Event event;
  if (absl::Status status = EventNormalizer().Normalize(body, event);
      !status.ok()) {
    return status;
  }
  event.set_endpoint(endpoint.data(), endpoint.size());
  SetTimestamp(receive_time, *event.mutable_receive_time());
  std::shared_ptr<StoredEvent> stored = Encode(event);
  stored->sequence_ = sequence;
  stored->derived_from_body_ = true;
  return stored;
}

std::shared_ptr<StoredEvent> StoredEvent::FromParts(const Parts& parts) {
  std::shared_ptr<StoredEvent> stored(new StoredEvent());
  stored->sequence_ = parts.sequence;
  stored->receive_time_ = absl::FromUnixMicros(parts.receive_time_micros);
  stored->AppendFields({parts.event_type, parts.project_id, parts.workflow_id,
                        parts.workflow_execution_id},
                       parts.encoding_without_sequence.size());
  stored->buffer_.append(parts.encoding_without_sequence.data(),
                         parts.encoding_without_sequence.size());
  stored->FindEndpointAndBody(/*digest=*/parts.replay_digest == nullptr);
  if (parts.replay_digest != nullptr) {
    stored->has_replay_digest_ = true;
    stored->replay_digest_ = *parts.replay_digest;
  }
  return stored;
}

std::shared_ptr<StoredEvent> StoredEvent::FromKeptEncoding(
    std::uint64_t sequence, absl::Time receive_time,
    absl::string_view encoding_without_sequence) {
  Scanned scanned;
  Parts parts;
  if (ScanEncoding(encoding_without_sequence, scanned)) {
    parts.event_type = scanned.event_type;
    parts.project_id = scanned.project_id;
    parts.workflow_id = scanned.workflow_id;
    parts.workflow_execution_id = scanned.workflow_execution_id;
  }
  parts.sequence = sequence;
  parts.encoding_without_sequence = encoding_without_sequence;
  std::shared_ptr<StoredEvent> stored = FromParts(parts);
  stored->receive_time_ = receive_time;
  return stored;
}

absl::StatusOr<std::shared_ptr<StoredEvent>> StoredEvent::FromEncoding(
    std::uint64_t sequence, absl::string_view encoding_without_sequence) {
  Scanned scanned;
  if (!ScanEncoding(encoding_without_sequence, scanned)) {
    return absl::InvalidArgumentError(
        "the bytes are not a paradym.webhooks.v1.Event encoding without "
        "sequence");
  }
  if (!scanned.body.empty()) {
    absl::StatusOr<std::shared_ptr<StoredEvent>> derived = FromBody(
        sequence, scanned.receive_time, scanned.endpoint, scanned.body);
    if (derived.ok() &&
        (*derived)->encoding_without_sequence() == encoding_without_sequence) {
      return derived;
    }
  }
  Parts parts;
  parts.sequence = sequence;
  parts.event_type = scanned.event_type;
  parts.project_id = scanned.project_id;
  parts.workflow_id = scanned.workflow_id;
  parts.workflow_execution_id = scanned.workflow_execution_id;
  parts.encoding_without_sequence = encoding_without_sequence;
  std::shared_ptr<StoredEvent> stored = FromParts(parts);
  stored->receive_time_ = scanned.receive_time;
  return stored;
}

std::shared_ptr<StoredEvent> StoredEvent::WithSequence(
    std::uint64_t sequence) const {
  std::shared_ptr<StoredEvent> copy(new StoredEvent(*this));
  copy->sequence_ = sequence;
  return copy;
}

std::size_t StoredEvent::EncodedSize() const {
  return 1 + VarintSize(sequence_) + (buffer_.size() - offsets_[4]);
}

void StoredEvent::AppendEncoded(std::string& out) const {
  out.reserve(out.size() + EncodedSize());
  out.push_back(kSequenceTag);
  AppendVarint(sequence_, out);
  out.append(buffer_, offsets_[4], std::string::npos);
}

bool StoredEvent::Decode(::paradym::webhooks::v1::Event& event) const {
  std::string encoded;
  AppendEncoded(encoded);
  return event.ParseFromString(encoded);
}

}  // namespace paradym::webhooks
