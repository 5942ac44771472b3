// Events encoded once for every subscriber: the bytes a Subscribe stream
// sends, shared instead of copied.
//
// A SubscribeResponse is `repeated Event events = 1`, so its encoding is the
// concatenation of its events, each framed as field 1 (tag, length, Event
// encoding). EncodedChunk holds such framed events back to back; an
// EncodedBatch is one response, as pieces of chunks. The SubscriptionHub
// frames each live event once into a shared chunk, so subscribers that get
// the same events send the same bytes: a transport hands the pieces to its
// socket by reference (gRPC: slices that hold the chunk), with no per-
// subscriber copy or encoding.
//
//   EncodedBatchBuilder builder;
//   builder.AddEncoded(chunk, offset, size, sequence);  // shared bytes
//   builder.AddEvent(event);                            // framed on Build
//   EncodedBatch batch;
//   builder.Build(batch);
//   for (const EncodedBatch::Piece& piece : batch.pieces) Send(piece.bytes());

#ifndef PARADYM_WEBHOOKS_SERVER_CORE_ENCODED_BATCH_H_
#define PARADYM_WEBHOOKS_SERVER_CORE_ENCODED_BATCH_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "server/core/stored_event.h"

namespace paradym::webhooks {

// Framed events back to back in one buffer of fixed capacity. The owner
// appends; bytes already appended never change or move, so once it hands out
// a range, any thread may read that range while the owner keeps appending
// after it (the hand-off must order the two, e.g. through a mutex).
class EncodedChunk {
 public:
  explicit EncodedChunk(std::size_t capacity);

  EncodedChunk(const EncodedChunk&) = delete;
  EncodedChunk& operator=(const EncodedChunk&) = delete;

  // The size Append takes for `event`: tag, length and encoding.
  static std::size_t FramedSize(const StoredEvent& event);

  // Appends `event` framed as SubscribeResponse.events and returns its
  // offset. Requires FramedSize(event) <= room(). `scratch` is the caller's,
  // reused to save allocations. Owner only.
  std::size_t Append(const StoredEvent& event, std::string& scratch);
  // Appends `framed`, events already framed (bytes of another chunk).
  // Requires framed.size() <= room(). Owner only.
  void Append(absl::string_view framed);

  // Bytes appended so far. Owner only.
  std::size_t size() const { return size_; }
  std::size_t room() const { return capacity_ - size_; }
  std::size_t capacity() const { return capacity_; }
  const char* data() const { return data_.get(); }

 private:
  std::unique_ptr<char[]> data_;
  std::size_t capacity_;
  std::size_t size_ = 0;  // the owner's
};

// One SubscribeResponse, encoded: the concatenation of `pieces`.
struct EncodedBatch {
  struct Piece {
    std::shared_ptr<const EncodedChunk> chunk;
    std::size_t offset = 0;
    std::size_t size = 0;
    absl::string_view bytes() const {
      return absl::string_view(chunk->data() + offset, size);
    }
  };

  std::vector<Piece> pieces;
  std::size_t events = 0;
  std::uint64_t last_sequence = 0;

  bool empty() const { return events == 0; }
  // The bytes of all pieces.
  std::size_t size() const {
    std::size_t size = 0;
    for (const Piece& piece : pieces) size += piece.size;
    return size;
  }
  void Clear() {
    pieces.clear();
    events = 0;
    last_sequence = 0;
  }
};

// Assembles an EncodedBatch from events in sequence order. Consecutive
// events that lie back to back in one chunk become one piece. A piece covers
// at least half of its chunk, or its bytes are copied into a chunk of the
// batch's own: a batch therefore keeps at most about twice its size alive,
// however sparse the events it picked from shared chunks. Not thread-safe.
class EncodedBatchBuilder {
 public:
  // Adds the event `sequence` whose framed encoding is `size` bytes at
  // `offset` in `chunk`.
  void AddEncoded(const std::shared_ptr<const EncodedChunk>& chunk,
                  std::size_t offset, std::size_t size, std::uint64_t sequence);
  // Adds `event`, framed by Build.
  void AddEvent(EventPtr event);

  // Events added since the last Build.
  std::size_t events() const { return events_; }

  // Replaces `batch` with the events added, and starts over.
  void Build(EncodedBatch& batch);

 private:
  // Events from one chunk, back to back; or one event to frame.
  struct Run {
    std::shared_ptr<const EncodedChunk> chunk;
    std::size_t offset = 0;
    std::size_t size = 0;
    EventPtr event;  // set: frame this event
    bool Shared() const {
      return event == nullptr && 2 * size >= chunk->capacity();
    }
  };

  std::vector<Run> runs_;
  std::size_t events_ = 0;
  std::uint64_t last_sequence_ = 0;
  std::string scratch_;
};

}  // namespace paradym::webhooks

#endif  // PARADYM_WEBHOOKS_SERVER_CORE_ENCODED_BATCH_H_
