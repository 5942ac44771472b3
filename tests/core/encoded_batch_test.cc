#include "server/core/encoded_batch.h"

#include <memory>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "paradym/webhooks/v1/webhook_service.pb.h"

namespace paradym::webhooks {
namespace {

namespace v1 = ::paradym::webhooks::v1;
using ::google::protobuf::util::MessageDifferencer;
using ::testing::ElementsAre;

std::shared_ptr<const StoredEvent> MakeEvent(std::uint64_t sequence,
                                             std::size_t body_bytes = 100) {
  v1::Event event;
  event.set_event_type("workflowExecution.started");
  event.set_project_id("p1");
  event.set_body(std::string(body_bytes, 'b'));
  auto stored = StoredEvent::Create(event);
  stored->set_sequence(sequence);
  return stored;
}

// The batch as the one SubscribeResponse a transport would send.
v1::SubscribeResponse Parse(const EncodedBatch& batch) {
  std::string bytes;
  for (const EncodedBatch::Piece& piece : batch.pieces) {
    bytes.append(piece.bytes().data(), piece.bytes().size());
  }
  EXPECT_EQ(bytes.size(), batch.size());
  v1::SubscribeResponse response;
  EXPECT_TRUE(response.ParseFromString(bytes));
  return response;
}

std::vector<std::uint64_t> Sequences(const v1::SubscribeResponse& response) {
  std::vector<std::uint64_t> sequences;
  for (const v1::Event& event : response.events()) {
    sequences.push_back(event.sequence());
  }
  return sequences;
}

// A chunk of `events` framed back to back; their offsets in `offsets`.
std::shared_ptr<EncodedChunk> Frame(
    const std::vector<std::shared_ptr<const StoredEvent>>& events,
    std::size_t capacity, std::vector<std::size_t>& offsets) {
  auto chunk = std::make_shared<EncodedChunk>(capacity);
  std::string scratch;
  for (const auto& event : events) {
    offsets.push_back(chunk->Append(*event, scratch));
  }
  offsets.push_back(chunk->size());
  return chunk;
}

TEST(EncodedChunk, FramesEventsAsSubscribeResponseEvents) {
  std::vector<std::shared_ptr<const StoredEvent>> events = {
      MakeEvent(1), MakeEvent(300, 20), MakeEvent(1ull << 40, 5000)};
  std::size_t framed = 0;
  for (const auto& event : events) framed += EncodedChunk::FramedSize(*event);
  std::vector<std::size_t> offsets;
  auto chunk = Frame(events, framed, offsets);
  EXPECT_EQ(chunk->size(), framed);
  EXPECT_EQ(chunk->room(), 0u);

  v1::SubscribeResponse response;
  ASSERT_TRUE(response.ParseFromArray(chunk->data(), framed));
  ASSERT_EQ(response.events_size(), 3);
  for (int i = 0; i < 3; ++i) {
    SCOPED_TRACE(i);
    v1::Event expected;
    ASSERT_TRUE(events[i]->Decode(expected));
    EXPECT_TRUE(MessageDifferencer::Equals(response.events(i), expected));
  }
}

TEST(EncodedBatchBuilder, BackToBackEventsOfAChunkAreOnePieceOfIt) {
  std::vector<std::shared_ptr<const StoredEvent>> events = {
      MakeEvent(1), MakeEvent(2), MakeEvent(3)};
  std::size_t framed = 0;
  for (const auto& event : events) framed += EncodedChunk::FramedSize(*event);
  std::vector<std::size_t> offsets;
  std::shared_ptr<const EncodedChunk> chunk =
      Frame(events, 2 * framed, offsets);
  EncodedBatchBuilder builder;
  for (std::size_t i = 0; i < 3; ++i) {
    builder.AddEncoded(chunk, offsets[i], offsets[i + 1] - offsets[i], i + 1);
  }
  EXPECT_EQ(builder.events(), 3u);
  EncodedBatch batch;
  builder.Build(batch);
  // The three cover half of the chunk: referenced, not copied.
  ASSERT_EQ(batch.pieces.size(), 1u);
  EXPECT_EQ(batch.pieces[0].chunk, chunk);
  EXPECT_EQ(batch.pieces[0].offset, 0u);
  EXPECT_EQ(batch.events, 3u);
  EXPECT_EQ(batch.last_sequence, 3u);
  EXPECT_THAT(Sequences(Parse(batch)), ElementsAre(1, 2, 3));
  EXPECT_EQ(builder.events(), 0u);  // it started over
}

// Bytes a batch picks sparsely from a chunk would keep all of the chunk
// alive while the batch is written: they are copied instead.
TEST(EncodedBatchBuilder, CopiesWhatCoversLessThanHalfOfItsChunk) {
  std::vector<std::shared_ptr<const StoredEvent>> events = {
      MakeEvent(1), MakeEvent(2), MakeEvent(3)};
  std::vector<std::size_t> offsets;
  std::shared_ptr<const EncodedChunk> sparse = Frame(events, 1 << 20, offsets);
  std::vector<std::size_t> dense_offsets;
  std::shared_ptr<const EncodedChunk> dense =
      Frame({MakeEvent(5), MakeEvent(6)}, 400, dense_offsets);
  ASSERT_GE(2 * dense->size(), dense->capacity());

  EncodedBatchBuilder builder;
  builder.AddEncoded(sparse, offsets[0], offsets[1] - offsets[0], 1);
  builder.AddEncoded(sparse, offsets[2], offsets[3] - offsets[2], 3);
  builder.AddEvent(MakeEvent(4));
  builder.AddEncoded(dense, 0, dense_offsets[1], 5);
  builder.AddEncoded(dense, dense_offsets[1],
                     dense_offsets[2] - dense_offsets[1], 6);
  builder.AddEvent(MakeEvent(7));
  EncodedBatch batch;
  builder.Build(batch);

  // Events 1, 3 and 4 in one copied piece, 5 and 6 in the dense chunk, 7
  // copied after them.
  ASSERT_EQ(batch.pieces.size(), 3u);
  EXPECT_NE(batch.pieces[0].chunk, sparse);
  EXPECT_EQ(batch.pieces[1].chunk, dense);
  EXPECT_EQ(batch.pieces[2].chunk, batch.pieces[0].chunk);
  EXPECT_EQ(batch.events, 6u);
  EXPECT_EQ(batch.last_sequence, 7u);
  EXPECT_THAT(Sequences(Parse(batch)), ElementsAre(1, 3, 4, 5, 6, 7));
  // The copy holds exactly what was copied.
  EXPECT_EQ(batch.pieces[0].chunk->capacity(),
            batch.pieces[0].size + batch.pieces[2].size);
}

TEST(EncodedBatchBuilder, NothingAddedBuildsAnEmptyBatch) {
  EncodedBatchBuilder builder;
  EncodedBatch batch;
  builder.AddEvent(MakeEvent(1));
  builder.Build(batch);
  ASSERT_FALSE(batch.empty());
  builder.Build(batch);
  EXPECT_TRUE(batch.empty());
  EXPECT_TRUE(batch.pieces.empty());
  EXPECT_EQ(batch.size(), 0u);
}

}  // namespace
}  // namespace paradym::webhooks
