// An accepted event as the event log keeps it: encoded once, with the few
// fields subscriptions filter on beside the encoding.
//
// Keeping the encoding instead of a live v1::Event is cheaper in every way
// that matters on the ingest path: one buffer to free when the log drops an
// old (cache-cold) event instead of a tree of strings and maps; one
// serialization shared by every subscriber; and exactly what a durable store
// writes and reads back.
//
// The encoding leaves out `sequence`, which the log assigns later;
// AppendEncoded() puts it first. Protobuf concatenation is merging, so the
// result decodes as the whole event.
//
// Most events follow from three things: the webhook's body, the endpoint
// that verified it and the receive time. FromBody derives the event from
// them; derived_from_body() says that it gives back exactly this event, so
// that a store may keep just those three.
//
//   EventNormalizer::EncodedEvent normalized;
//   normalizer.Encode(body, {endpoint, receive_time}, normalized);
//   std::shared_ptr<StoredEvent> stored =
//       *StoredEvent::FromNormalized(normalized.encoding);
//   log.Append(stored);                   // assigns stored->sequence()
//   std::string bytes;
//   stored->AppendEncoded(bytes);         // a complete v1::Event encoding
//   // What a store kept, read back:
//   absl::StatusOr<std::shared_ptr<StoredEvent>> again = StoredEvent::FromBody(
//       stored->sequence(), stored->receive_time(), stored->endpoint(),
//       stored->body());

#ifndef PARADYM_WEBHOOKS_SERVER_CORE_STORED_EVENT_H_
#define PARADYM_WEBHOOKS_SERVER_CORE_STORED_EVENT_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/base/call_once.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "paradym/webhooks/v1/event.pb.h"
#include "server/core/replay_digest.h"

namespace paradym::webhooks {

// Thread-compatible until the log assigns its sequence; thread-safe from
// then on, shared as an EventPtr that nobody modifies.
class StoredEvent {
 public:
  // Encodes `event` (its `sequence` is ignored). A store keeps the whole
  // encoding.
  static std::shared_ptr<StoredEvent> Create(
      const ::paradym::webhooks::v1::Event& event);

  // An event from the encoding EventNormalizer::Encode made (with options
  // no more permissive than the defaults) of a webhook's body, endpoint and
  // receive time: what WebhookIngestor stores. The event is
  // derived_from_body(), so that a store may keep only what FromBody needs.
  // INVALID_ARGUMENT when the bytes are not an Event encoding without
  // sequence.
  static absl::StatusOr<std::shared_ptr<StoredEvent>> FromNormalized(
      absl::string_view encoding_without_sequence);

  // The event a webhook gives: EventNormalizer::Encode's output for `body`,
  // `endpoint` and `receive_time`; derived_from_body(). The one way an event
  // is derived again from what a store kept of it, so a faster normalizer
  // makes reading faster too. INVALID_ARGUMENT (the normalizer's error) when
  // the body is not one the normalizer accepts.
  static absl::StatusOr<std::shared_ptr<StoredEvent>> FromBody(
      std::uint64_t sequence, absl::Time receive_time,
      absl::string_view endpoint, absl::string_view body);

  // What a store kept of an event that is not derived from its body: the
  // encoding without sequence, and the receive time it filed it under. The
  // filter fields and the replay digest are read from the encoding's
  // top-level fields; bytes that are not an Event encoding (a message on the
  // stream that is not an event) give an event without any.
  static std::shared_ptr<StoredEvent> FromKeptEncoding(
      std::uint64_t sequence, absl::Time receive_time,
      absl::string_view encoding_without_sequence);

  // An event from parts given one by one: the filter fields, the receive
  // time and the encoding without `sequence` (encoding_without_sequence()),
  // which need not be an Event's (a message on the stream that is not one).
  struct Parts {
    std::uint64_t sequence = 0;
    absl::string_view event_type;
    absl::string_view project_id;
    absl::string_view workflow_id;
    absl::string_view workflow_execution_id;
    std::int64_t receive_time_micros = 0;
    absl::string_view encoding_without_sequence;
    // The replay digest as stored; nullptr: computed from the encoding.
    const ReplayDigest* replay_digest = nullptr;
  };
  static std::shared_ptr<StoredEvent> FromParts(const Parts& parts);

  // An event from its encoding without `sequence` (what another replica
  // published), reading the filter fields and the receive time from the
  // top-level fields only. INVALID_ARGUMENT when the bytes are not an Event
  // encoding at that level. The event is derived_from_body() when FromBody
  // gives the same bytes (which costs a normalization).
  static absl::StatusOr<std::shared_ptr<StoredEvent>> FromEncoding(
      std::uint64_t sequence, absl::string_view encoding_without_sequence);

  // A copy of this event with another sequence.
  std::shared_ptr<StoredEvent> WithSequence(std::uint64_t sequence) const;

  std::uint64_t sequence() const { return sequence_; }
  // Set once, by the log, before the event is shared.
  void set_sequence(std::uint64_t sequence) { sequence_ = sequence; }

  // The fields subscriptions filter on.
  absl::string_view event_type() const { return Field(0); }
  absl::string_view project_id() const { return Field(1); }
  absl::string_view workflow_id() const { return Field(2); }
  absl::string_view workflow_execution_id() const { return Field(3); }
  // `receive_time` in microseconds since the Unix epoch, for retention.
  std::int64_t receive_time_micros() const {
    return absl::ToUnixMicros(receive_time_);
  }
  absl::Time receive_time() const { return receive_time_; }
  // The encoding's `endpoint` and `body` (empty when it has none).
  absl::string_view endpoint() const { return Slice(endpoint_); }
  absl::string_view body() const { return Slice(body_); }

  // True when FromBody(sequence(), receive_time(), endpoint(), body()) gives
  // this very event, byte for byte.
  bool derived_from_body() const { return derived_from_body_; }

  // True when `encoding_without_sequence` is this event: the same bytes,
  // or, for an event derived from its body, an encoding of the same webhook
  // (endpoint, body and receive time), which another version's normalizer
  // may have encoded otherwise.
  bool SameEventAs(absl::string_view encoding_without_sequence) const;

  // ComputeReplayDigest(endpoint, body): what recognizes a replay of this
  // webhook. Only events with a body have one (a message on the stream that
  // is not an event has none). Computed when first asked for, which reading
  // events back never does.
  bool has_replay_digest() const { return digest_given_ || !body().empty(); }
  const ReplayDigest& replay_digest() const;

  // The encoding of the event without `sequence`: what a store writes.
  absl::string_view encoding_without_sequence() const {
    return absl::string_view(buffer_).substr(offsets_[4]);
  }

  // Appends the complete encoding of the event, sequence included, to `out`.
  void AppendEncoded(std::string& out) const;
  // The size AppendEncoded appends.
  std::size_t EncodedSize() const;

  // The event itself, decoded. False if the encoding cannot be parsed (only
  // possible if memory was corrupted).
  bool Decode(::paradym::webhooks::v1::Event& event) const;

  // About how much memory this event holds.
  std::size_t MemoryBytes() const { return sizeof(*this) + buffer_.capacity(); }

 private:
  // Where a field is in buffer_.
  struct Span {
    std::uint32_t offset = 0;
    std::uint32_t size = 0;
  };

  StoredEvent() = default;
  // A copy (WithSequence); the digest is computed again if asked for.
  StoredEvent(const StoredEvent& other);
  // Reads the filter fields, the receive time, the endpoint and the body
  // from the top level of `encoding_without_sequence`.
  // Null when the bytes are not an Event encoding without sequence.
  static std::shared_ptr<StoredEvent> Scan(
      absl::string_view encoding_without_sequence);
  // Appends the four filter fields to buffer_ and records their offsets,
  // reserving room for an encoding of `encoding_size` bytes after them.
  void AppendFields(const absl::string_view (&fields)[4],
                    std::size_t encoding_size);
  absl::string_view Field(int i) const {
    return absl::string_view(buffer_).substr(offsets_[i],
                                             offsets_[i + 1] - offsets_[i]);
  }
  absl::string_view Slice(Span span) const {
    return absl::string_view(buffer_).substr(span.offset, span.size);
  }
  // Finds `endpoint` and `body` in the encoding. False when the encoding is
  // not an Event's.
  bool FindEndpointAndBody();

  std::uint64_t sequence_ = 0;
  absl::Time receive_time_ = absl::UnixEpoch();
  bool derived_from_body_ = false;
  // The replay digest was given (FromParts), not computed from the body.
  bool digest_given_ = false;
  mutable absl::once_flag digest_once_;
  mutable ReplayDigest replay_digest_{};
  // The four filter fields, then the encoding without `sequence`.
  std::string buffer_;
  std::uint32_t offsets_[5] = {};
  Span endpoint_;
  Span body_;
};

// An accepted event. Never modified once the log has stored it, so any
// thread may read it.
using EventPtr = std::shared_ptr<const StoredEvent>;

}  // namespace paradym::webhooks

#endif  // PARADYM_WEBHOOKS_SERVER_CORE_STORED_EVENT_H_
