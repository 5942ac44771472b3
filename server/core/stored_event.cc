#include "server/core/stored_event.h"

#include <algorithm>
#include <iterator>
#include <utility>

#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/timestamp.pb.h"
#include "google/protobuf/wire_format_lite.h"
#include "server/core/errors.h"
#include "server/core/event_normalizer.h"
#include "server/core/proto_time.h"
#include "server/core/status_macros.h"
#include "server/core/struct_wire.h"

namespace paradym::webhooks {
namespace {

// The tag of `sequence` (field 1, varint): (1 << 3) | 0.
constexpr char kSequenceTag = 0x08;

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

// The encoding of the event a webhook's body, endpoint and receive time
// give: what FromBody derives. Valid until this thread's next call.
absl::StatusOr<absl::string_view> DeriveEncoding(absl::Time receive_time,
                                                 absl::string_view endpoint,
                                                 absl::string_view body) {
  // Reused by every event this thread derives.
  thread_local EventNormalizer::EncodedEvent encoded;
  RETURN_IF_ERROR(
      EventNormalizer().Encode(body, {endpoint, receive_time}, encoded));
  return absl::string_view(encoded.encoding);
}

absl::Status NotAnEventError() {
  return MakeError(absl::StatusCode::kInvalidArgument, kMalformedEvent,
                   "the bytes are not a paradym.webhooks.v1.Event encoding "
                   "without sequence");
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

StoredEvent::StoredEvent(const StoredEvent& other)
    : sequence_(other.sequence_),
      receive_time_(other.receive_time_),
      derived_from_body_(other.derived_from_body_),
      digest_given_(other.digest_given_),
      // Only a given digest: a computed one may be being written right now.
      replay_digest_(other.digest_given_ ? other.replay_digest_
                                         : ReplayDigest{}),
      buffer_(other.buffer_),
      endpoint_(other.endpoint_),
      body_(other.body_) {
  std::copy(std::begin(other.offsets_), std::end(other.offsets_), offsets_);
}

const ReplayDigest& StoredEvent::replay_digest() const {
  absl::call_once(digest_once_, [this] {
    if (!digest_given_ && !body().empty()) {
      replay_digest_ = ComputeReplayDigest(endpoint(), body());
    }
  });
  return replay_digest_;
}

bool StoredEvent::FindEndpointAndBody() {
  Scanned scanned;
  if (!ScanEncoding(encoding_without_sequence(), scanned)) return false;
  const auto span = [this](absl::string_view field) {
    if (field.empty()) return Span{};
    return Span{static_cast<std::uint32_t>(field.data() - buffer_.data()),
                static_cast<std::uint32_t>(field.size())};
  };
  endpoint_ = span(scanned.endpoint);
  body_ = span(scanned.body);
  return true;
}

std::shared_ptr<StoredEvent> StoredEvent::Create(
    const ::paradym::webhooks::v1::Event& event) {
  std::shared_ptr<StoredEvent> stored(new StoredEvent());
  std::string& buffer = stored->buffer_;
  stored->AppendFields({event.event_type(), event.project_id(),
                        event.workflow_id(), event.workflow_execution_id()},
                       event.ByteSizeLong());
  stored->receive_time_ = ToTime(event.receive_time());
  if (event.sequence() == 0) {
    event.AppendToString(&buffer);
  } else {
    ::paradym::webhooks::v1::Event copy = event;
    copy.clear_sequence();
    copy.AppendToString(&buffer);
  }
  // The encoding of a message always scans.
  stored->FindEndpointAndBody();
  return stored;
}

std::shared_ptr<StoredEvent> StoredEvent::Scan(
    absl::string_view encoding_without_sequence) {
  Scanned scanned;
  if (!ScanEncoding(encoding_without_sequence, scanned)) return nullptr;
  std::shared_ptr<StoredEvent> stored(new StoredEvent());
  stored->AppendFields({scanned.event_type, scanned.project_id,
                        scanned.workflow_id, scanned.workflow_execution_id},
                       encoding_without_sequence.size());
  const std::size_t at = stored->buffer_.size();
  stored->buffer_.append(encoding_without_sequence.data(),
                         encoding_without_sequence.size());
  const auto span = [&](absl::string_view field) {
    if (field.empty()) return Span{};
    return Span{static_cast<std::uint32_t>(
                    at + (field.data() - encoding_without_sequence.data())),
                static_cast<std::uint32_t>(field.size())};
  };
  stored->endpoint_ = span(scanned.endpoint);
  stored->body_ = span(scanned.body);
  stored->receive_time_ = scanned.receive_time;
  return stored;
}

absl::StatusOr<std::shared_ptr<StoredEvent>> StoredEvent::FromNormalized(
    absl::string_view encoding_without_sequence) {
  std::shared_ptr<StoredEvent> stored = Scan(encoding_without_sequence);
  if (stored == nullptr) return NotAnEventError();
  stored->derived_from_body_ = !stored->body().empty();
  return stored;
}

absl::StatusOr<std::shared_ptr<StoredEvent>> StoredEvent::FromBody(
    std::uint64_t sequence, absl::Time receive_time, absl::string_view endpoint,
    absl::string_view body) {
  ASSIGN_OR_RETURN(const absl::string_view encoding,
                   DeriveEncoding(receive_time, endpoint, body));
  std::shared_ptr<StoredEvent> stored = Scan(encoding);
  if (stored == nullptr) {
    return MakeError(absl::StatusCode::kInternal, kInternalError,
                     "a normalized event does not scan");
  }
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
  stored->FindEndpointAndBody();
  if (parts.replay_digest != nullptr) {
    stored->digest_given_ = true;
    stored->replay_digest_ = *parts.replay_digest;
  }
  return stored;
}

std::shared_ptr<StoredEvent> StoredEvent::FromKeptEncoding(
    std::uint64_t sequence, absl::Time receive_time,
    absl::string_view encoding_without_sequence) {
  std::shared_ptr<StoredEvent> stored = Scan(encoding_without_sequence);
  if (stored == nullptr) {
    Parts parts;
    parts.encoding_without_sequence = encoding_without_sequence;
    stored = FromParts(parts);
  }
  stored->sequence_ = sequence;
  stored->receive_time_ = receive_time;
  return stored;
}

absl::StatusOr<std::shared_ptr<StoredEvent>> StoredEvent::FromEncoding(
    std::uint64_t sequence, absl::string_view encoding_without_sequence) {
  std::shared_ptr<StoredEvent> stored = Scan(encoding_without_sequence);
  if (stored == nullptr) return NotAnEventError();
  stored->sequence_ = sequence;
  if (!stored->body().empty()) {
    absl::StatusOr<absl::string_view> derived = DeriveEncoding(
        stored->receive_time(), stored->endpoint(), stored->body());
    stored->derived_from_body_ =
        derived.ok() && *derived == encoding_without_sequence;
  }
  return stored;
}

bool StoredEvent::SameEventAs(
    absl::string_view encoding_without_sequence) const {
  if (this->encoding_without_sequence() == encoding_without_sequence) {
    return true;
  }
  Scanned scanned;
  return derived_from_body_ &&
         ScanEncoding(encoding_without_sequence, scanned) &&
         scanned.body == body() && scanned.endpoint == endpoint() &&
         scanned.receive_time == receive_time_;
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
