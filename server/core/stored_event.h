// An accepted event as the event log keeps it: encoded once, with the few
// fields subscriptions filter on beside the encoding.
//
// Keeping the encoding instead of a live v1::Event is cheaper in every way
// that matters on the ingest path: one buffer to free when the log drops an
// old (cache-cold) event instead of a tree of strings and maps; one
// serialization shared by every subscriber; and exactly what a durable store
// writes and reads back.
//
// The encoding leaves out `sequence`, which the log assigns later; Encoded()
// puts it first. Protobuf concatenation is merging, so the result decodes as
// the whole event.
//
//   std::shared_ptr<StoredEvent> stored = StoredEvent::Create(event);
//   log.Append(stored);                   // assigns stored->sequence()
//   std::string bytes;
//   stored->AppendEncoded(bytes);         // a complete v1::Event encoding

#ifndef PARADYM_WEBHOOKS_SERVER_CORE_STORED_EVENT_H_
#define PARADYM_WEBHOOKS_SERVER_CORE_STORED_EVENT_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "paradym/webhooks/v1/event.pb.h"
#include "server/core/replay_digest.h"

namespace paradym::webhooks {

class StoredEvent {
 public:
  // Encodes `event` (its `sequence` is ignored).
  static std::shared_ptr<StoredEvent> Create(
      const ::paradym::webhooks::v1::Event& event);

  // What a store wrote, read back: the filter fields, the receive time and
  // the encoding without `sequence` (encoding_without_sequence()).
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
  // encoding at that level.
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
  std::int64_t receive_time_micros() const { return receive_time_micros_; }

  // ComputeReplayDigest(endpoint, body): what recognizes a replay of this
  // webhook. Only events with a body have one (a message on the stream that
  // is not an event has none).
  bool has_replay_digest() const { return has_replay_digest_; }
  const ReplayDigest& replay_digest() const { return replay_digest_; }

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
  StoredEvent() = default;
  // Appends the four filter fields to buffer_ and records their offsets,
  // reserving room for an encoding of `encoding_size` bytes after them.
  void AppendFields(const absl::string_view (&fields)[4],
                    std::size_t encoding_size);
  absl::string_view Field(int i) const {
    return absl::string_view(buffer_).substr(offsets_[i],
                                             offsets_[i + 1] - offsets_[i]);
  }

  // Sets the replay digest from the encoding's `endpoint` and `body`.
  void ComputeReplayDigestFromEncoding();

  std::uint64_t sequence_ = 0;
  std::int64_t receive_time_micros_ = 0;
  bool has_replay_digest_ = false;
  ReplayDigest replay_digest_{};
  // The four filter fields, then the encoding without `sequence`.
  std::string buffer_;
  std::uint32_t offsets_[5] = {};
};

// An accepted event. Never modified once the log has stored it, so any
// thread may read it.
using EventPtr = std::shared_ptr<const StoredEvent>;

}  // namespace paradym::webhooks

#endif  // PARADYM_WEBHOOKS_SERVER_CORE_STORED_EVENT_H_
