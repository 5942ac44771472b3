#include "server/core/encoded_batch.h"

#include <cassert>
#include <cstring>
#include <utility>

#include "server/core/struct_wire.h"

namespace paradym::webhooks {
namespace {

// The tag of SubscribeResponse.events: field 1, length-delimited.
constexpr char kEventsTag = (1 << 3) | 2;

char* WriteVarint(std::uint64_t value, char* out) {
  while (value >= 0x80) {
    *out++ = static_cast<char>((value & 0x7F) | 0x80);
    value >>= 7;
  }
  *out++ = static_cast<char>(value);
  return out;
}

}  // namespace

EncodedChunk::EncodedChunk(std::size_t capacity)
    : data_(new char[capacity]), capacity_(capacity) {}

std::size_t EncodedChunk::FramedSize(const StoredEvent& event) {
  const std::size_t size = event.EncodedSize();
  return 1 + VarintSize(size) + size;
}

std::size_t EncodedChunk::Append(const StoredEvent& event,
                                 std::string& scratch) {
  scratch.clear();
  event.AppendEncoded(scratch);
  assert(1 + VarintSize(scratch.size()) + scratch.size() <= room());
  const std::size_t offset = size_;
  char* out = data_.get() + size_;
  *out++ = kEventsTag;
  out = WriteVarint(scratch.size(), out);
  std::memcpy(out, scratch.data(), scratch.size());
  size_ = static_cast<std::size_t>(out - data_.get()) + scratch.size();
  return offset;
}

void EncodedChunk::Append(absl::string_view framed) {
  assert(framed.size() <= room());
  std::memcpy(data_.get() + size_, framed.data(), framed.size());
  size_ += framed.size();
}

void EncodedBatchBuilder::AddEncoded(
    const std::shared_ptr<const EncodedChunk>& chunk, std::size_t offset,
    std::size_t size, std::uint64_t sequence) {
  ++events_;
  last_sequence_ = sequence;
  if (!runs_.empty()) {
    Run& last = runs_.back();
    if (last.event == nullptr && last.chunk == chunk &&
        last.offset + last.size == offset) {
      last.size += size;
      return;
    }
  }
  runs_.push_back({chunk, offset, size, nullptr});
}

void EncodedBatchBuilder::AddEvent(EventPtr event) {
  ++events_;
  last_sequence_ = event->sequence();
  runs_.push_back({nullptr, 0, 0, std::move(event)});
}

void EncodedBatchBuilder::Build(EncodedBatch& batch) {
  batch.Clear();
  batch.events = events_;
  batch.last_sequence = last_sequence_;
  // What is not referenced goes into one chunk of the batch's own.
  std::size_t copied = 0;
  for (const Run& run : runs_) {
    if (run.event != nullptr) {
      copied += EncodedChunk::FramedSize(*run.event);
    } else if (!run.Shared()) {
      copied += run.size;
    }
  }
  std::shared_ptr<EncodedChunk> own;
  if (copied > 0) own = std::make_shared<EncodedChunk>(copied);
  for (Run& run : runs_) {
    if (run.event == nullptr && run.Shared()) {
      batch.pieces.push_back({std::move(run.chunk), run.offset, run.size});
      continue;
    }
    // Appended to `own`, right after what was appended before.
    const std::size_t offset = own->size();
    std::size_t size;
    if (run.event != nullptr) {
      own->Append(*run.event, scratch_);
      size = own->size() - offset;
    } else {
      // Bytes of a chunk: the same framed events, copied as they are.
      size = run.size;
      own->Append(absl::string_view(run.chunk->data() + run.offset, size));
    }
    EncodedBatch::Piece* last =
        batch.pieces.empty() ? nullptr : &batch.pieces.back();
    if (last != nullptr && last->chunk == own &&
        last->offset + last->size == offset) {
      last->size += size;
    } else {
      batch.pieces.push_back({own, offset, size});
    }
  }
  runs_.clear();
  events_ = 0;
  last_sequence_ = 0;
}

}  // namespace paradym::webhooks
