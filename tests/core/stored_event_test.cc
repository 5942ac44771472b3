#include "server/core/stored_event.h"

#include <string>

#include "absl/strings/escaping.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "paradym/webhooks/v1/webhook_service.pb.h"
#include "server/core/errors.h"
#include "server/core/event_normalizer.h"
#include "server/core/proto_time.h"
#include "server/core/replay_index.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_data.h"

namespace paradym::webhooks {
namespace {

using ::paradym::webhooks::testing::HasReason;
using ::paradym::webhooks::testing::IsOk;
using ::paradym::webhooks::testing::StatusIs;

v1::Event SampleEvent() {
  v1::Event event;
  event.set_event_type("workflowExecution.failed");
  event.set_type(v1::EVENT_TYPE_WORKFLOW_EXECUTION_FAILED);
  event.set_project_id("project-1");
  event.set_workflow_id("workflow-1");
  event.set_workflow_execution_id("execution-1");
  event.set_body(std::string(R"({"eventType":"workflowExecution.failed"})") +
                 std::string(200, ' '));
  (*event.mutable_payload()->mutable_fields())["n"].set_number_value(1.5);
  event.mutable_workflow_execution_failed()->mutable_error()->set_code("x");
  return event;
}

TEST(StoredEvent, KeepsTheFilterFields) {
  const auto stored = StoredEvent::Create(SampleEvent());
  EXPECT_EQ(stored->event_type(), "workflowExecution.failed");
  EXPECT_EQ(stored->project_id(), "project-1");
  EXPECT_EQ(stored->workflow_id(), "workflow-1");
  EXPECT_EQ(stored->workflow_execution_id(), "execution-1");
}

TEST(StoredEvent, DecodesToTheSameEventWithItsSequence) {
  for (std::uint64_t sequence : {1ull, 127ull, 128ull, 300ull, 1ull << 40}) {
    SCOPED_TRACE(sequence);
    auto stored = StoredEvent::Create(SampleEvent());
    stored->set_sequence(sequence);
    v1::Event decoded;
    ASSERT_TRUE(stored->Decode(decoded));
    v1::Event expected = SampleEvent();
    expected.set_sequence(sequence);
    EXPECT_TRUE(
        google::protobuf::util::MessageDifferencer::Equals(decoded, expected))
        << decoded.DebugString();
    std::string bytes = "prefix";
    stored->AppendEncoded(bytes);
    EXPECT_EQ(bytes.size(), 6 + stored->EncodedSize());
    v1::Event reparsed;
    ASSERT_TRUE(reparsed.ParseFromString(bytes.substr(6)));
    EXPECT_EQ(reparsed.sequence(), sequence);
  }
}

TEST(StoredEvent, KeepsTheReceiveTimeInMicroseconds) {
  v1::Event event = SampleEvent();
  event.mutable_receive_time()->set_seconds(1718184600);
  event.mutable_receive_time()->set_nanos(123456789);
  EXPECT_EQ(StoredEvent::Create(event)->receive_time_micros(),
            1718184600123456);
}

TEST(StoredEvent, ReadBackFromItsPartsIsTheSameEvent) {
  v1::Event event = SampleEvent();
  event.mutable_receive_time()->set_seconds(1718184600);
  auto original = StoredEvent::Create(event);
  original->set_sequence(42);
  // What a store keeps: the parts, copied into buffers of its own.
  const std::string encoding(original->encoding_without_sequence());
  const std::string type(original->event_type());
  StoredEvent::Parts parts;
  parts.sequence = 42;
  parts.event_type = type;
  parts.project_id = "project-1";
  parts.workflow_id = "workflow-1";
  parts.workflow_execution_id = "execution-1";
  parts.receive_time_micros = original->receive_time_micros();
  parts.encoding_without_sequence = encoding;
  auto read_back = StoredEvent::FromParts(parts);
  EXPECT_EQ(read_back->sequence(), 42u);
  EXPECT_EQ(read_back->event_type(), "workflowExecution.failed");
  EXPECT_EQ(read_back->project_id(), "project-1");
  EXPECT_EQ(read_back->workflow_id(), "workflow-1");
  EXPECT_EQ(read_back->workflow_execution_id(), "execution-1");
  EXPECT_EQ(read_back->receive_time_micros(), 1718184600000000);
  std::string original_bytes, read_back_bytes;
  original->AppendEncoded(original_bytes);
  read_back->AppendEncoded(read_back_bytes);
  EXPECT_EQ(read_back_bytes, original_bytes);
}

TEST(StoredEvent, IgnoresASequenceAlreadySet) {
  v1::Event event = SampleEvent();
  event.set_sequence(99);
  auto stored = StoredEvent::Create(event);
  stored->set_sequence(7);
  v1::Event decoded;
  ASSERT_TRUE(stored->Decode(decoded));
  EXPECT_EQ(decoded.sequence(), 7u);
}

TEST(StoredEvent, AnEncodedEventIsASubscribeResponseField) {
  auto first = StoredEvent::Create(SampleEvent());
  first->set_sequence(1);
  auto second = StoredEvent::Create(SampleEvent());
  second->set_sequence(2);
  // What the gRPC adapter sends: field 1, length-delimited, per event.
  std::string response;
  for (const auto& stored : {first, second}) {
    std::string encoded;
    stored->AppendEncoded(encoded);
    response.push_back(0x0A);
    response.push_back(static_cast<char>((encoded.size() & 0x7F) | 0x80));
    response.push_back(static_cast<char>(encoded.size() >> 7));
    response += encoded;
  }
  ASSERT_GE(first->EncodedSize(), 128u);  // two-byte lengths above
  ASSERT_LT(first->EncodedSize(), 16384u);
  v1::SubscribeResponse parsed;
  ASSERT_TRUE(parsed.ParseFromString(response));
  ASSERT_EQ(parsed.events_size(), 2);
  EXPECT_EQ(parsed.events(0).sequence(), 1u);
  EXPECT_EQ(parsed.events(1).sequence(), 2u);
  EXPECT_EQ(parsed.events(1).workflow_execution_failed().error().code(), "x");
}

TEST(StoredEvent, ReadsAnotherReplicasEncoding) {
  v1::Event event = SampleEvent();
  event.mutable_receive_time()->set_seconds(1718184600);
  event.mutable_receive_time()->set_nanos(5000);
  const auto original = StoredEvent::Create(event);
  absl::StatusOr<std::shared_ptr<StoredEvent>> read =
      StoredEvent::FromEncoding(42, original->encoding_without_sequence());
  ASSERT_THAT(read, IsOk());
  EXPECT_EQ((*read)->sequence(), 42u);
  EXPECT_EQ((*read)->event_type(), "workflowExecution.failed");
  EXPECT_EQ((*read)->project_id(), "project-1");
  EXPECT_EQ((*read)->workflow_id(), "workflow-1");
  EXPECT_EQ((*read)->workflow_execution_id(), "execution-1");
  EXPECT_EQ((*read)->receive_time_micros(), 1718184600000005);
  EXPECT_EQ((*read)->encoding_without_sequence(),
            original->encoding_without_sequence());

  const auto renumbered = (*read)->WithSequence(7);
  EXPECT_EQ(renumbered->sequence(), 7u);
  EXPECT_EQ((*read)->sequence(), 42u);
  EXPECT_EQ(renumbered->project_id(), "project-1");
  EXPECT_EQ(renumbered->encoding_without_sequence(),
            original->encoding_without_sequence());
}

TEST(StoredEvent, RefusesBytesThatAreNotAnEventWithoutSequence) {
  const auto original = StoredEvent::Create(SampleEvent());
  const std::string good(original->encoding_without_sequence());
  std::string with_sequence;
  original->AppendEncoded(with_sequence);
  const std::string cases[] = {
      good.substr(0, good.size() - 3),  // cut short
      std::string("\x12\x05"
                  "ab",
                  4),  // a string longer than the rest
      std::string("\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 11),
      std::string("\x3a\x02\x08\x80", 4),  // receive_time not a Timestamp
      with_sequence,                       // carries a sequence
  };
  for (const std::string& bytes : cases) {
    SCOPED_TRACE(::testing::PrintToString(bytes.substr(0, 12)));
    EXPECT_THAT(StoredEvent::FromEncoding(1, bytes),
                StatusIs(absl::StatusCode::kInvalidArgument));
  }
  // Nothing at all is an event with every field empty.
  EXPECT_THAT(StoredEvent::FromEncoding(1, ""), IsOk());
}

TEST(StoredEvent, CarriesTheReplayDigestOfItsEndpointAndBody) {
  v1::Event event = SampleEvent();
  event.set_endpoint("shop");
  const auto original = StoredEvent::Create(event);
  ASSERT_TRUE(original->has_replay_digest());
  EXPECT_EQ(original->replay_digest(),
            ComputeReplayDigest("shop", event.body()));
  // Every way a store reads an event back finds the same digest.
  absl::StatusOr<std::shared_ptr<StoredEvent>> read =
      StoredEvent::FromEncoding(3, original->encoding_without_sequence());
  ASSERT_THAT(read, IsOk());
  EXPECT_TRUE((*read)->has_replay_digest());
  EXPECT_EQ((*read)->replay_digest(), original->replay_digest());
  StoredEvent::Parts parts;
  parts.sequence = 3;
  parts.encoding_without_sequence = original->encoding_without_sequence();
  EXPECT_EQ(StoredEvent::FromParts(parts)->replay_digest(),
            original->replay_digest());
  const ReplayDigest given = ComputeReplayDigest("other", "given");
  parts.replay_digest = &given;
  EXPECT_EQ(StoredEvent::FromParts(parts)->replay_digest(), given);
  EXPECT_EQ(original->WithSequence(9)->replay_digest(),
            original->replay_digest());
  // Without a body (a message on the stream that is no event) there is none.
  event.clear_body();
  EXPECT_FALSE(StoredEvent::Create(event)->has_replay_digest());
  EXPECT_FALSE(StoredEvent::FromEncoding(1, "")->get()->has_replay_digest());
}

// What WebhookIngestor stores of a webhook: the normalizer's encoding of
// its body, endpoint and receive time.
std::shared_ptr<StoredEvent> Ingested(const std::string& body,
                                      const std::string& endpoint,
                                      absl::Time received) {
  EventNormalizer::EncodedEvent normalized;
  EXPECT_THAT(EventNormalizer().Encode(body, {endpoint, received}, normalized),
              IsOk());
  absl::StatusOr<std::shared_ptr<StoredEvent>> stored =
      StoredEvent::FromNormalized(normalized.encoding);
  EXPECT_THAT(stored, IsOk());
  return stored.ok() ? *stored : StoredEvent::Create(v1::Event());
}

std::string Encoded(const StoredEvent& event) {
  std::string bytes;
  event.AppendEncoded(bytes);
  return bytes;
}

const absl::Time kReceived =
    absl::FromUnixNanos(int64_t{1718184600} * 1000000000 + 123456789);

// A store keeps only receive time, endpoint and body of such an event:
// FromBody must give back every byte, for every kind of event.
TEST(StoredEvent, FromBodyGivesBackWhatTheIngestorMade) {
  for (const std::string& name : testing::ListTestData("events")) {
    SCOPED_TRACE(name);
    const std::string body = testing::ReadTestData("events/" + name);
    const auto made = Ingested(body, "shop", kReceived);
    made->set_sequence(12);
    EXPECT_TRUE(made->derived_from_body());
    EXPECT_EQ(made->endpoint(), "shop");
    EXPECT_EQ(made->body(), body);
    EXPECT_EQ(made->receive_time(), kReceived);
    absl::StatusOr<std::shared_ptr<StoredEvent>> derived =
        StoredEvent::FromBody(12, made->receive_time(),
                              std::string(made->endpoint()),
                              std::string(made->body()));
    ASSERT_THAT(derived, IsOk());
    EXPECT_EQ(Encoded(**derived), Encoded(*made));
    EXPECT_TRUE((*derived)->derived_from_body());
    EXPECT_EQ((*derived)->event_type(), made->event_type());
    EXPECT_EQ((*derived)->project_id(), made->project_id());
    EXPECT_EQ((*derived)->workflow_id(), made->workflow_id());
    EXPECT_EQ((*derived)->workflow_execution_id(),
              made->workflow_execution_id());
    EXPECT_EQ((*derived)->receive_time(), kReceived);
    EXPECT_EQ((*derived)->replay_digest(), ComputeReplayDigest("shop", body));
    // The event itself: the normalizer's, with endpoint and receive time.
    v1::Event expected;
    ASSERT_THAT(EventNormalizer().Normalize(body, expected), IsOk());
    expected.set_sequence(12);
    expected.set_endpoint("shop");
    SetTimestamp(kReceived, *expected.mutable_receive_time());
    v1::Event decoded;
    ASSERT_TRUE((*derived)->Decode(decoded));
    EXPECT_TRUE(
        google::protobuf::util::MessageDifferencer::Equals(decoded, expected))
        << decoded.DebugString();
  }
}

TEST(StoredEvent, OnlyWhatTheNormalizerMadeIsDerivedFromItsBody) {
  const std::string body =
      testing::ReadTestData("events/workflowExecution.failed.json");
  const auto made = Ingested(body, "default", kReceived);
  EXPECT_TRUE(made->derived_from_body());
  // Create promises nothing about where an event came from.
  v1::Event event;
  ASSERT_TRUE(made->Decode(event));
  EXPECT_FALSE(StoredEvent::Create(event)->derived_from_body());
  // Nothing to derive it from.
  v1::Event no_body;
  no_body.set_event_type("x");
  absl::StatusOr<std::shared_ptr<StoredEvent>> without =
      StoredEvent::FromNormalized(
          StoredEvent::Create(no_body)->encoding_without_sequence());
  ASSERT_THAT(without, IsOk());
  EXPECT_FALSE((*without)->derived_from_body());
  EXPECT_THAT(StoredEvent::FromNormalized("\x08\x01"),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(StoredEvent, FromBodyRefusesWhatTheNormalizerRefuses) {
  absl::StatusOr<std::shared_ptr<StoredEvent>> derived =
      StoredEvent::FromBody(1, kReceived, "default", "{not json");
  EXPECT_THAT(derived, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(derived, HasReason(kMalformedJson));
  derived = StoredEvent::FromBody(1, kReceived, "default", "{}");
  EXPECT_THAT(derived, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(derived, HasReason(kMissingField));
}

// A replica's copy gets encodings: those its body gives back may be kept
// lean too; any other is kept whole.
TEST(StoredEvent, AnotherReplicasEncodingIsDerivedFromItsBodyWhenItCanBe) {
  const std::string body =
      testing::ReadTestData("events/workflowExecution.completed.json");
  const auto published = Ingested(body, "default", kReceived);
  absl::StatusOr<std::shared_ptr<StoredEvent>> read =
      StoredEvent::FromEncoding(5, published->encoding_without_sequence());
  ASSERT_THAT(read, IsOk());
  EXPECT_TRUE((*read)->derived_from_body());
  EXPECT_EQ((*read)->sequence(), 5u);
  EXPECT_EQ((*read)->encoding_without_sequence(),
            published->encoding_without_sequence());
  EXPECT_EQ((*read)->body(), body);
  EXPECT_EQ((*read)->endpoint(), "default");
  EXPECT_EQ((*read)->receive_time(), kReceived);

  // One field more than the body gives: kept as it came.
  v1::Event edited;
  ASSERT_TRUE(published->Decode(edited));
  edited.set_webhook_id("not in the body");
  const auto other = StoredEvent::Create(edited);
  read = StoredEvent::FromEncoding(6, other->encoding_without_sequence());
  ASSERT_THAT(read, IsOk());
  EXPECT_FALSE((*read)->derived_from_body());
  EXPECT_EQ((*read)->encoding_without_sequence(),
            other->encoding_without_sequence());
  EXPECT_EQ((*read)->receive_time(), kReceived);
  EXPECT_EQ((*read)->replay_digest(), ComputeReplayDigest("default", body));
}

// The outbox and a replica's copy check what they hold against the
// stream: an event derived from its body is the same webhook however
// another version encoded it.
TEST(StoredEvent, ADerivedEventIsTheSameWebhookInAnyEncoding) {
  const std::string body =
      testing::ReadTestData("events/workflowExecution.failed.json");
  const auto derived = Ingested(body, "default", kReceived);
  ASSERT_TRUE(derived->derived_from_body());
  EXPECT_TRUE(derived->SameEventAs(derived->encoding_without_sequence()));
  // Encoded by protobuf from the decoded event, with a field more: as a
  // later normalizer might.
  v1::Event event;
  ASSERT_TRUE(derived->Decode(event));
  event.clear_sequence();
  event.set_webhook_id("added later");
  const std::string other = event.SerializeAsString();
  ASSERT_NE(other, derived->encoding_without_sequence());
  EXPECT_TRUE(derived->SameEventAs(other));
  // Another webhook: another body, endpoint or receive time.
  const struct {
    const char* name;
    std::shared_ptr<StoredEvent> event;
  } others[] = {
      {"body", Ingested(testing::ReadTestData(
                            "events/workflowExecution.completed.json"),
                        "default", kReceived)},
      {"endpoint", Ingested(body, "shop", kReceived)},
      {"receive time",
       Ingested(body, "default", kReceived + absl::Nanoseconds(1))},
  };
  for (const auto& c : others) {
    SCOPED_TRACE(c.name);
    EXPECT_FALSE(derived->SameEventAs(c.event->encoding_without_sequence()));
  }
  EXPECT_FALSE(derived->SameEventAs("\xff"));
  // An event kept whole is the same only byte for byte.
  const auto whole = StoredEvent::Create(event);
  EXPECT_TRUE(whole->SameEventAs(whole->encoding_without_sequence()));
  EXPECT_FALSE(whole->SameEventAs(derived->encoding_without_sequence()));
}

TEST(StoredEvent, AKeptEncodingIsReadAsItWasKept) {
  v1::Event event = SampleEvent();
  event.set_endpoint("shop");
  SetTimestamp(kReceived, *event.mutable_receive_time());
  const auto original = StoredEvent::Create(event);
  const auto kept = StoredEvent::FromKeptEncoding(
      8, kReceived, std::string(original->encoding_without_sequence()));
  EXPECT_EQ(kept->sequence(), 8u);
  EXPECT_EQ(Encoded(*kept), Encoded(*original->WithSequence(8)));
  EXPECT_EQ(kept->event_type(), "workflowExecution.failed");
  EXPECT_EQ(kept->project_id(), "project-1");
  EXPECT_EQ(kept->workflow_id(), "workflow-1");
  EXPECT_EQ(kept->workflow_execution_id(), "execution-1");
  EXPECT_EQ(kept->receive_time(), kReceived);
  EXPECT_EQ(kept->endpoint(), "shop");
  EXPECT_EQ(kept->replay_digest(), original->replay_digest());
  EXPECT_FALSE(kept->derived_from_body());
  // A message on the stream that is no event: kept, with no fields.
  const auto opaque = StoredEvent::FromKeptEncoding(
      9, absl::UnixEpoch(), std::string("\xff\xff\x01", 3));
  EXPECT_EQ(opaque->encoding_without_sequence(),
            std::string("\xff\xff\x01", 3));
  EXPECT_EQ(opaque->event_type(), "");
  EXPECT_FALSE(opaque->has_replay_digest());
}

TEST(ReplayDigest, TellsEndpointAndBodyApart) {
  const ReplayDigest digest = ComputeReplayDigest("shop", "{}");
  EXPECT_EQ(digest, ComputeReplayDigest("shop", "{}"));
  EXPECT_NE(digest, ComputeReplayDigest("shop", "{} "));
  EXPECT_NE(digest, ComputeReplayDigest("default", "{}"));
  // The endpoint's length keeps its bytes from passing for the body's.
  EXPECT_NE(ComputeReplayDigest("ab", "c"), ComputeReplayDigest("a", "bc"));
  // SHA-256 of 00 00 00 01 'a' 'b' 'c': printf '\0\0\0\1abc' | sha256sum
  EXPECT_EQ(
      absl::BytesToHexString(absl::string_view(
          reinterpret_cast<const char*>(ComputeReplayDigest("a", "bc").data()),
          kReplayDigestBytes)),
      "f9c4a2ab4de81ade0bbf55389f4a5002ad85ee56ce51f84f159a1e32a7292411");
}

TEST(ReplayIndex, FindsRetainedEventsAndForgetsDeletedOnes) {
  ReplayIndex index;
  const ReplayDigest a = ComputeReplayDigest("e", "a");
  const ReplayDigest b = ComputeReplayDigest("e", "b");
  EXPECT_EQ(index.Find(a), std::nullopt);
  index.Add(1, a);
  index.Add(2, b);
  index.Add(3, a);  // stored twice: the later copy is retained longer
  EXPECT_EQ(index.Find(a), 3u);
  EXPECT_EQ(index.Find(b), 2u);
  EXPECT_EQ(index.size(), 3u);
  index.ForgetBefore(2);
  EXPECT_EQ(index.Find(a), 3u);
  index.ForgetBefore(3);
  EXPECT_EQ(index.Find(b), std::nullopt);
  EXPECT_EQ(index.Find(a), 3u);
  EXPECT_EQ(index.size(), 1u);
  index.ForgetBefore(4);
  EXPECT_EQ(index.Find(a), std::nullopt);
  EXPECT_EQ(index.size(), 0u);
  index.Add(5, b);
  index.Clear();
  EXPECT_EQ(index.Find(b), std::nullopt);
}

}  // namespace
}  // namespace paradym::webhooks
