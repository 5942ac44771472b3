#include "server/core/webhook_ingestor.h"

#include <algorithm>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/core/errors.h"
#include "server/core/memory_event_log.h"
#include "server/core/replay_index.h"
#include "tests/testing/fake_clock.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_data.h"

namespace paradym::webhooks {
namespace {

namespace v1 = ::paradym::webhooks::v1;
using ::paradym::webhooks::testing::FakeClock;
using ::paradym::webhooks::testing::HasReason;
using ::paradym::webhooks::testing::IsOk;
using ::paradym::webhooks::testing::ReadTestData;
using ::paradym::webhooks::testing::StatusIs;
using ::paradym::webhooks::testing::UniqueBody;

constexpr char kDefaultSecret[] = "default-secret";
constexpr char kShopSecret[] = "shop-secret-new";
constexpr char kShopOldSecret[] = "shop-secret-old";

// The stored event as a consumer receives it.
v1::Event Decoded(const EventPtr& stored) {
  v1::Event event;
  EXPECT_TRUE(stored->Decode(event));
  return event;
}

class WebhookIngestorTest : public ::testing::Test {
 protected:
  WebhookIngestorTest()
      : clock_(absl::FromUnixSeconds(1718184600) + absl::Milliseconds(250)),
        log_({100, std::size_t{1} << 30}),
        hub_(log_, {100}),
        ingestor_(Options(), Verifier(), log_, hub_, clock_) {}

  static WebhookIngestor::Options Options() {
    WebhookIngestor::Options options;
    options.max_body_bytes = 4096;
    return options;
  }
  static SignatureVerifier Verifier() {
    return SignatureVerifier({{"default", {kDefaultSecret}},
                              {"shop", {kShopOldSecret, kShopSecret}}});
  }

  absl::StatusOr<EventPtr> Ingest(const std::string& body,
                                  const std::string& signature,
                                  const std::string& endpoint = "") {
    absl::StatusOr<EventPtr> result = absl::InternalError("no callback");
    ingestor_.Ingest(
        {body, signature, endpoint},
        [&](absl::StatusOr<EventPtr> stored) { result = std::move(stored); });
    return result;
  }

  FakeClock clock_;
  MemoryEventLog log_;
  SubscriptionHub hub_;
  WebhookIngestor ingestor_;
};

TEST_F(WebhookIngestorTest, IngestStoresTheTypedEventWithItsSequence) {
  const std::string body = ReadTestData("events/workflowExecution.failed.json");
  absl::StatusOr<EventPtr> stored =
      Ingest(body, SignBody(kDefaultSecret, body));
  ASSERT_THAT(stored, IsOk());
  const v1::Event event = Decoded(*stored);
  EXPECT_EQ(event.sequence(), 1u);
  EXPECT_EQ(event.endpoint(), "default");
  EXPECT_EQ(event.type(), v1::EVENT_TYPE_WORKFLOW_EXECUTION_FAILED);
  EXPECT_EQ(event.receive_time().seconds(), 1718184600);
  EXPECT_EQ(event.receive_time().nanos(), 250000000);
  EXPECT_EQ(event.body(), body);
  EXPECT_EQ(log_.Range().last, 1u);

  clock_.Advance(absl::Seconds(1));
  const std::string next = UniqueBody(1);
  stored = Ingest(next, SignBody(kDefaultSecret, next));
  ASSERT_THAT(stored, IsOk());
  EXPECT_EQ((*stored)->sequence(), 2u);
  EXPECT_EQ(Decoded(*stored).receive_time().seconds(), 1718184601);
}

TEST_F(WebhookIngestorTest, VerifyAndParseStoresNothing) {
  const std::string body =
      ReadTestData("events/workflowExecution.started.json");
  absl::StatusOr<v1::Event> event =
      ingestor_.VerifyAndParse({body, SignBody(kDefaultSecret, body), ""});
  ASSERT_THAT(event, IsOk());
  EXPECT_EQ(event->sequence(), 0u);
  EXPECT_EQ(event->endpoint(), "default");
  EXPECT_EQ(event->receive_time().seconds(), 1718184600);
  EXPECT_EQ(log_.Range().last, 0u);
}

TEST_F(WebhookIngestorTest, EndpointIsTheOneWhoseSecretMatched) {
  const std::string body =
      ReadTestData("events/workflowExecution.started.json");
  for (const char* secret : {kShopSecret, kShopOldSecret}) {
    SCOPED_TRACE(secret);
    absl::StatusOr<EventPtr> stored = Ingest(body, SignBody(secret, body));
    ASSERT_THAT(stored, IsOk());
    EXPECT_EQ(Decoded(*stored).endpoint(), "shop");
    stored = Ingest(body, SignBody(secret, body), "shop");
    ASSERT_THAT(stored, IsOk());
  }
  // The shop's secret does not verify for the default endpoint.
  absl::StatusOr<EventPtr> refused =
      Ingest(body, SignBody(kShopSecret, body), "default");
  EXPECT_THAT(refused, StatusIs(absl::StatusCode::kUnauthenticated));
  EXPECT_THAT(refused, HasReason(kSignatureMismatch));
}

TEST_F(WebhookIngestorTest, RefusalsCarryTheSpecificCodeAndReason) {
  const std::string good =
      ReadTestData("events/workflowExecution.started.json");
  const std::string oversized(4097, ' ');
  const std::string bad_json = R"({"eventType": )";
  struct Case {
    std::string name;
    std::string body;
    std::string signature;
    std::string endpoint;
    absl::StatusCode code;
    absl::string_view reason;
  } cases[] = {
      {"missing signature", good, "", "", absl::StatusCode::kUnauthenticated,
       kSignatureMissing},
      {"short signature", good, "abc123", "",
       absl::StatusCode::kUnauthenticated, kSignatureMalformed},
      {"tampered body", good + " ", SignBody(kDefaultSecret, good), "",
       absl::StatusCode::kUnauthenticated, kSignatureMismatch},
      {"unknown endpoint", good, SignBody(kDefaultSecret, good), "nope",
       absl::StatusCode::kNotFound, kUnknownEndpoint},
      // The size check comes before hashing, so a bad signature does not
      // matter.
      {"body too large", oversized, "", "", absl::StatusCode::kInvalidArgument,
       kBodyTooLarge},
      // The signature is checked before the JSON is parsed.
      {"bad JSON, bad signature", bad_json, SignBody("wrong", bad_json), "",
       absl::StatusCode::kUnauthenticated, kSignatureMismatch},
      {"bad JSON, good signature", bad_json, SignBody(kDefaultSecret, bad_json),
       "", absl::StatusCode::kInvalidArgument, kMalformedJson},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    absl::StatusOr<EventPtr> ingested = Ingest(c.body, c.signature, c.endpoint);
    EXPECT_THAT(ingested, StatusIs(c.code));
    EXPECT_THAT(ingested, HasReason(c.reason));
    absl::StatusOr<v1::Event> parsed =
        ingestor_.VerifyAndParse({c.body, c.signature, c.endpoint});
    EXPECT_THAT(parsed, StatusIs(c.code));
    EXPECT_THAT(parsed, HasReason(c.reason));
    EXPECT_THAT(std::string(ingested.status().message()),
                ::testing::Not(::testing::HasSubstr(kDefaultSecret)));
  }
  // Refused webhooks take no sequence: the next accepted one is 1.
  absl::StatusOr<EventPtr> stored =
      Ingest(good, SignBody(kDefaultSecret, good));
  ASSERT_THAT(stored, IsOk());
  EXPECT_EQ((*stored)->sequence(), 1u);
}

TEST_F(WebhookIngestorTest, HugeStringWithinTheLimitIsAccepted) {
  const std::string body =
      absl::StrCat(R"({"eventType":"custom.big","payload":{"blob":")",
                   std::string(4000, 'x'), R"("}})");
  absl::StatusOr<EventPtr> stored =
      Ingest(body, SignBody(kDefaultSecret, body));
  ASSERT_THAT(stored, IsOk());
  EXPECT_EQ(
      Decoded(*stored).payload().fields().at("blob").string_value().size(),
      4000u);
}

TEST_F(WebhookIngestorTest, IngestPublishesToSubscribers) {
  auto subscription = hub_.Subscribe({}, std::nullopt, [] {});
  ASSERT_THAT(subscription, IsOk());
  const std::string body =
      ReadTestData("events/openid4vc.issuance.offered.json");
  ASSERT_THAT(Ingest(body, SignBody(kDefaultSecret, body)), IsOk());
  std::vector<EventPtr> batch;
  ASSERT_THAT((*subscription)->Next(10, 1 << 20, batch), IsOk());
  ASSERT_EQ(batch.size(), 1u);
  EXPECT_EQ(batch[0]->event_type(), "openid4vc.issuance.offered");
  EXPECT_EQ(Decoded(batch[0]).type(),
            v1::EVENT_TYPE_OPENID4VC_ISSUANCE_OFFERED);
  hub_.Unsubscribe(**subscription);
}

TEST_F(WebhookIngestorTest, AfterShutdownIngestIsUnavailable) {
  ingestor_.Shutdown();
  const std::string body =
      ReadTestData("events/workflowExecution.started.json");
  absl::StatusOr<EventPtr> refused =
      Ingest(body, SignBody(kDefaultSecret, body));
  EXPECT_THAT(refused, StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_THAT(refused, HasReason(kShuttingDown));
  EXPECT_EQ(log_.Range().last, 0u);
}

// A log that holds appends until the test commits or fails them, as a
// durable log does while its group commit runs. It finds stored events by
// replay digest, as every real log does; a replica's log finds them only
// once its copy of the stream has them (IndexLater).
class HeldLog final : public EventLog {
 public:
  void Append(std::shared_ptr<StoredEvent> event,
              AppendCallback done) override {
    held_.push_back({std::move(event), std::move(done)});
  }
  absl::Status ReadAfter(std::uint64_t after, std::uint64_t up_to,
                         std::size_t max_events,
                         std::vector<EventPtr>& out) const override {
    for (std::uint64_t seq = after + 1;
         seq <= std::min<std::uint64_t>(up_to, stored_.size()) &&
         max_events > 0;
         ++seq, --max_events) {
      out.push_back(stored_[seq - 1]);
    }
    return absl::OkStatus();
  }
  SequenceRange Range() const override { return {1, stored_.size()}; }
  std::optional<std::uint64_t> FindReplay(
      const ReplayDigest& digest) const override {
    return index_.Find(digest);
  }

  std::size_t held() const { return held_.size(); }
  std::size_t stored() const { return stored_.size(); }
  // Whether CommitAll makes events findable by digest at once.
  void IndexLater() { index_at_commit_ = false; }
  // Makes the committed events findable by digest.
  void IndexNow() {
    for (; indexed_ < stored_.size(); ++indexed_) {
      index_.Add(stored_[indexed_]->sequence(),
                 stored_[indexed_]->replay_digest());
    }
  }
  void CommitAll() {
    for (auto& [event, done] : held_) {
      event->set_sequence(stored_.size() + 1);
      EventPtr stored = std::move(event);
      stored_.push_back(stored);
      if (index_at_commit_) IndexNow();
      Announce(stored);
      std::move(done)(std::move(stored));
    }
    held_.clear();
  }
  void FailAll(const absl::Status& status) {
    for (auto& [event, done] : held_) std::move(done)(status);
    held_.clear();
  }

 private:
  std::vector<std::pair<std::shared_ptr<StoredEvent>, AppendCallback>> held_;
  std::vector<EventPtr> stored_;
  ReplayIndex index_;
  bool index_at_commit_ = true;
  std::size_t indexed_ = 0;
};

class IngestorWithHeldLogTest : public ::testing::Test {
 protected:
  IngestorWithHeldLogTest()
      : clock_(absl::FromUnixSeconds(1718184600)),
        hub_(log_, {100}),
        ingestor_({},
                  SignatureVerifier(std::vector<EndpointSecrets>{
                      {"default", {kDefaultSecret}}}),
                  log_, hub_, clock_) {}

  void Ingest(absl::StatusOr<EventPtr>& result, bool& answered) {
    const std::string body =
        ReadTestData("events/workflowExecution.started.json");
    ingestor_.Ingest({body, SignBody(kDefaultSecret, body), ""},
                     [&](absl::StatusOr<EventPtr> stored) {
                       result = std::move(stored);
                       answered = true;
                     });
  }

  FakeClock clock_;
  HeldLog log_;
  SubscriptionHub hub_;
  WebhookIngestor ingestor_;
};

TEST_F(IngestorWithHeldLogTest, AnswersAndPublishesOnlyAfterTheCommit) {
  auto subscription = hub_.Subscribe({}, std::nullopt, [] {});
  ASSERT_THAT(subscription, IsOk());
  absl::StatusOr<EventPtr> result;
  bool answered = false;
  Ingest(result, answered);
  EXPECT_FALSE(answered);
  EXPECT_EQ(log_.held(), 1u);
  std::vector<EventPtr> batch;
  ASSERT_THAT((*subscription)->Next(10, 1 << 20, batch), IsOk());
  EXPECT_TRUE(batch.empty()) << "published before the commit";

  log_.CommitAll();
  ASSERT_TRUE(answered);
  ASSERT_THAT(result, IsOk());
  EXPECT_EQ((*result)->sequence(), 1u);
  ASSERT_THAT((*subscription)->Next(10, 1 << 20, batch), IsOk());
  ASSERT_EQ(batch.size(), 1u);
  EXPECT_EQ(batch[0]->sequence(), 1u);
  hub_.Unsubscribe(**subscription);
}

TEST_F(IngestorWithHeldLogTest, AStoreFailureRefusesWithItsReason) {
  absl::StatusOr<EventPtr> result;
  bool answered = false;
  Ingest(result, answered);
  log_.FailAll(MakeError(absl::StatusCode::kUnavailable, kStoreFull,
                         "the disk is full"));
  ASSERT_TRUE(answered);
  EXPECT_THAT(result, StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_THAT(result, HasReason(kStoreFull));
  EXPECT_EQ(ingestor_.refused_by_reason().Value({kStoreFull}), 1u);
  EXPECT_EQ(ingestor_.ingest_latency().Read().count, 0u);
}

TEST_F(IngestorWithHeldLogTest, AReplayInFlightWaitsAndGetsTheSameSequence) {
  absl::StatusOr<EventPtr> first, second;
  bool first_answered = false, second_answered = false;
  Ingest(first, first_answered);
  Ingest(second, second_answered);
  // Only the first is being stored; the second waits for its outcome.
  EXPECT_EQ(log_.held(), 1u);
  EXPECT_FALSE(second_answered);

  log_.CommitAll();
  ASSERT_TRUE(first_answered && second_answered);
  ASSERT_THAT(first, IsOk());
  ASSERT_THAT(second, IsOk());
  EXPECT_EQ((*first)->sequence(), 1u);
  EXPECT_EQ(*second, *first);
  EXPECT_EQ(log_.stored(), 1u);
  EXPECT_EQ(ingestor_.duplicates().value(), 1u);
  EXPECT_EQ(ingestor_.accepted_by_type().Value({"workflowExecution.started"}),
            1u);
}

TEST_F(IngestorWithHeldLogTest, AReplayOfAFailedWebhookGetsTheErrorNotA200) {
  absl::StatusOr<EventPtr> first, second;
  bool first_answered = false, second_answered = false;
  Ingest(first, first_answered);
  Ingest(second, second_answered);
  EXPECT_EQ(log_.held(), 1u);
  log_.FailAll(MakeError(absl::StatusCode::kUnavailable, kStoreFull,
                         "the disk is full"));
  ASSERT_TRUE(first_answered && second_answered);
  for (const auto* result : {&first, &second}) {
    EXPECT_THAT(*result, StatusIs(absl::StatusCode::kUnavailable));
    EXPECT_THAT(*result, HasReason(kStoreFull));
  }
  EXPECT_EQ(ingestor_.refused_by_reason().Value({kStoreFull}), 2u);
  EXPECT_EQ(ingestor_.duplicates().value(), 0u);

  // Nothing was stored, so the next attempt stores it.
  absl::StatusOr<EventPtr> third;
  bool third_answered = false;
  Ingest(third, third_answered);
  EXPECT_EQ(log_.held(), 1u);
  log_.CommitAll();
  ASSERT_TRUE(third_answered);
  ASSERT_THAT(third, IsOk());
  EXPECT_EQ((*third)->sequence(), 1u);
}

TEST_F(IngestorWithHeldLogTest, AReplayBeforeTheLogFindsTheEventGetsTheAnswer) {
  // A replica answers once the stream has the event; its copy of the stream
  // (and so FindReplay) may have it only later.
  log_.IndexLater();
  absl::StatusOr<EventPtr> first, second, third;
  bool answered = false;
  Ingest(first, answered);
  log_.CommitAll();
  ASSERT_THAT(first, IsOk());
  answered = false;
  Ingest(second, answered);
  ASSERT_TRUE(answered);
  ASSERT_THAT(second, IsOk());
  EXPECT_EQ((*second)->sequence(), (*first)->sequence());
  EXPECT_EQ(log_.held(), 0u);

  // Once the log finds it, the log answers.
  log_.IndexNow();
  answered = false;
  Ingest(third, answered);
  ASSERT_TRUE(answered);
  ASSERT_THAT(third, IsOk());
  EXPECT_EQ((*third)->sequence(), (*first)->sequence());
  EXPECT_EQ(log_.held(), 0u);
  EXPECT_EQ(log_.stored(), 1u);
  EXPECT_EQ(ingestor_.duplicates().value(), 2u);
}

TEST_F(WebhookIngestorTest, AReplayIsAnsweredWithTheOriginalAndNotStored) {
  auto subscription = hub_.Subscribe({}, std::nullopt, [] {});
  ASSERT_THAT(subscription, IsOk());
  const std::string body = ReadTestData("events/workflowExecution.failed.json");
  const std::string signature = SignBody(kDefaultSecret, body);
  absl::StatusOr<EventPtr> original = Ingest(body, signature);
  ASSERT_THAT(original, IsOk());
  clock_.Advance(absl::Minutes(1));
  // The same body again, through POST /webhook and /webhooks/default.
  for (const char* endpoint : {"", "default"}) {
    SCOPED_TRACE(endpoint);
    absl::StatusOr<EventPtr> replay = Ingest(body, signature, endpoint);
    ASSERT_THAT(replay, IsOk());
    EXPECT_EQ((*replay)->sequence(), 1u);
    // The original, received a minute earlier.
    EXPECT_EQ(Decoded(*replay).receive_time().seconds(), 1718184600);
  }
  EXPECT_EQ(log_.Range().last, 1u);
  EXPECT_EQ(ingestor_.duplicates().value(), 2u);
  EXPECT_EQ(ingestor_.accepted_by_type().Value({"workflowExecution.failed"}),
            1u);
  std::vector<EventPtr> batch;
  ASSERT_THAT((*subscription)->Next(10, 1 << 20, batch), IsOk());
  EXPECT_EQ(batch.size(), 1u) << "a replay was announced";
  hub_.Unsubscribe(**subscription);
}

TEST_F(WebhookIngestorTest, TheSameBodyForAnotherEndpointIsNoReplay) {
  const std::string body =
      ReadTestData("events/workflowExecution.started.json");
  absl::StatusOr<EventPtr> first = Ingest(body, SignBody(kDefaultSecret, body));
  absl::StatusOr<EventPtr> second = Ingest(body, SignBody(kShopSecret, body));
  ASSERT_THAT(first, IsOk());
  ASSERT_THAT(second, IsOk());
  EXPECT_EQ((*first)->sequence(), 1u);
  EXPECT_EQ((*second)->sequence(), 2u);
  EXPECT_EQ(Decoded(*second).endpoint(), "shop");
  // The shop's old secret verifies for the same endpoint: a replay.
  absl::StatusOr<EventPtr> third =
      Ingest(body, SignBody(kShopOldSecret, body), "shop");
  ASSERT_THAT(third, IsOk());
  EXPECT_EQ((*third)->sequence(), 2u);
  EXPECT_EQ(ingestor_.duplicates().value(), 1u);
}

TEST_F(WebhookIngestorTest, AReplayAfterTheLogDroppedTheOriginalIsStored) {
  // The memory log holds 100 events: the first is dropped by the 101st.
  const std::string body = UniqueBody(0);
  const std::string signature = SignBody(kDefaultSecret, body);
  ASSERT_THAT(Ingest(body, signature), IsOk());
  for (int i = 1; i <= 100; ++i) {
    const std::string other = UniqueBody(i);
    ASSERT_THAT(Ingest(other, SignBody(kDefaultSecret, other)), IsOk());
  }
  ASSERT_EQ(log_.Range().oldest, 2u);
  EXPECT_EQ(log_.FindReplay(ComputeReplayDigest("default", body)),
            std::nullopt);
  absl::StatusOr<EventPtr> again = Ingest(body, signature);
  ASSERT_THAT(again, IsOk());
  EXPECT_EQ((*again)->sequence(), 102u);
  EXPECT_EQ(ingestor_.duplicates().value(), 0u);
}

// Paradym's format for webhookPublishedAt.
std::string BodyPublishedAt(absl::Time published, int n) {
  return absl::StrCat(
      R"({"webhookId":"w-)", n, R"(","webhookPublishedAt":")",
      absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", published, absl::UTCTimeZone()),
      R"(","projectId":"p-1","eventType":"workflowExecution.started",)",
      R"("payload":{"workflowId":"wf-1","workflowExecutionId":"ex-1"}})");
}

class MaxEventAgeTest : public WebhookIngestorTest {
 protected:
  MaxEventAgeTest() : aged_(AgedOptions(), Verifier(), log_, hub_, clock_) {}

  static WebhookIngestor::Options AgedOptions() {
    WebhookIngestor::Options options = Options();
    options.max_event_age = absl::Hours(168);
    return options;
  }

  absl::StatusOr<EventPtr> IngestAged(const std::string& body) {
    absl::StatusOr<EventPtr> result = absl::InternalError("no callback");
    aged_.Ingest(
        {body, SignBody(kDefaultSecret, body), ""},
        [&](absl::StatusOr<EventPtr> stored) { result = std::move(stored); });
    return result;
  }

  WebhookIngestor aged_;
};

TEST_F(MaxEventAgeTest, EventsOutsideTheWindowAreRefusedAsStale) {
  const absl::Time now = clock_.Now();
  struct Case {
    std::string name;
    std::string body;
    bool accepted;
  } cases[] = {
      {"just published", BodyPublishedAt(now - absl::Seconds(1), 1), true},
      {"exactly the age", BodyPublishedAt(now - absl::Hours(168), 2), true},
      {"a millisecond older",
       BodyPublishedAt(now - absl::Hours(168) - absl::Milliseconds(1), 3),
       false},
      {"a year old", BodyPublishedAt(now - absl::Hours(24 * 365), 4), false},
      {"exactly 5m ahead", BodyPublishedAt(now + absl::Minutes(5), 5), true},
      {"5m1s ahead",
       BodyPublishedAt(now + absl::Minutes(5) + absl::Seconds(1), 6), false},
      {"no webhookPublishedAt",
       R"({"webhookId":"w-7","eventType":"workflowExecution.started",)"
       R"("payload":{"workflowExecutionId":"ex-1"}})",
       false},
  };
  std::uint64_t stored = 0, stale = 0;
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    absl::StatusOr<EventPtr> result = IngestAged(c.body);
    if (c.accepted) {
      ASSERT_THAT(result, IsOk());
      EXPECT_EQ((*result)->sequence(), ++stored);
    } else {
      ++stale;
      EXPECT_THAT(result, StatusIs(absl::StatusCode::kUnauthenticated));
      EXPECT_THAT(result, HasReason(kStaleEvent));
      EXPECT_EQ(ErrorMetadata(result.status(), "max_event_age"), "168h");
      EXPECT_THAT(std::string(result.status().message()),
                  ::testing::Not(::testing::HasSubstr(kDefaultSecret)));
    }
  }
  EXPECT_EQ(log_.Range().last, stored);
  EXPECT_EQ(aged_.refused_by_reason().Value({kStaleEvent}), stale);
}

TEST_F(MaxEventAgeTest, TheMessageSaysHowOldAndTheLimit) {
  absl::StatusOr<EventPtr> result =
      IngestAged(BodyPublishedAt(clock_.Now() - absl::Hours(200), 1));
  EXPECT_THAT(result, HasReason(kStaleEvent));
  EXPECT_THAT(std::string(result.status().message()),
              ::testing::AllOf(::testing::HasSubstr("200h"),
                               ::testing::HasSubstr("168h")));
  result = IngestAged(BodyPublishedAt(clock_.Now() + absl::Hours(1), 2));
  EXPECT_THAT(result, HasReason(kStaleEvent));
  EXPECT_THAT(std::string(result.status().message()),
              ::testing::AllOf(::testing::HasSubstr("1h ahead"),
                               ::testing::HasSubstr("5m")));
}

TEST_F(WebhookIngestorTest, WithoutAMaxAgeOldEventsAreAccepted) {
  const std::string body =
      BodyPublishedAt(clock_.Now() - absl::Hours(24 * 3650), 1);
  absl::StatusOr<EventPtr> stored =
      Ingest(body, SignBody(kDefaultSecret, body));
  ASSERT_THAT(stored, IsOk());
}

}  // namespace
}  // namespace paradym::webhooks
