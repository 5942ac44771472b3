#include "server/core/webhook_ingestor.h"

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/core/errors.h"
#include "server/core/memory_event_log.h"
#include "tests/testing/fake_clock.h"
#include "tests/testing/test_data.h"

namespace paradym::webhooks {
namespace {

namespace v1 = ::paradym::webhooks::v1;
using ::paradym::webhooks::testing::FakeClock;
using ::paradym::webhooks::testing::ReadTestData;

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
  ASSERT_TRUE(stored.ok()) << stored.status();
  const v1::Event event = Decoded(*stored);
  EXPECT_EQ(event.sequence(), 1u);
  EXPECT_EQ(event.endpoint(), "default");
  EXPECT_EQ(event.type(), v1::EVENT_TYPE_WORKFLOW_EXECUTION_FAILED);
  EXPECT_EQ(event.receive_time().seconds(), 1718184600);
  EXPECT_EQ(event.receive_time().nanos(), 250000000);
  EXPECT_EQ(event.body(), body);
  EXPECT_EQ(log_.Range().last, 1u);

  clock_.Advance(absl::Seconds(1));
  stored = Ingest(body, SignBody(kDefaultSecret, body));
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ((*stored)->sequence(), 2u);
  EXPECT_EQ(Decoded(*stored).receive_time().seconds(), 1718184601);
}

TEST_F(WebhookIngestorTest, VerifyAndParseStoresNothing) {
  const std::string body =
      ReadTestData("events/workflowExecution.started.json");
  absl::StatusOr<v1::Event> event =
      ingestor_.VerifyAndParse({body, SignBody(kDefaultSecret, body), ""});
  ASSERT_TRUE(event.ok()) << event.status();
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
    ASSERT_TRUE(stored.ok()) << stored.status();
    EXPECT_EQ(Decoded(*stored).endpoint(), "shop");
    stored = Ingest(body, SignBody(secret, body), "shop");
    ASSERT_TRUE(stored.ok()) << stored.status();
  }
  // The shop's secret does not verify for the default endpoint.
  absl::StatusOr<EventPtr> refused =
      Ingest(body, SignBody(kShopSecret, body), "default");
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(ErrorReason(refused.status()), kSignatureMismatch);
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
    EXPECT_EQ(ingested.status().code(), c.code);
    EXPECT_EQ(ErrorReason(ingested.status()), c.reason);
    absl::StatusOr<v1::Event> parsed =
        ingestor_.VerifyAndParse({c.body, c.signature, c.endpoint});
    EXPECT_EQ(parsed.status().code(), c.code);
    EXPECT_EQ(ErrorReason(parsed.status()), c.reason);
    EXPECT_THAT(std::string(ingested.status().message()),
                ::testing::Not(::testing::HasSubstr(kDefaultSecret)));
  }
  // Refused webhooks take no sequence: the next accepted one is 1.
  absl::StatusOr<EventPtr> stored =
      Ingest(good, SignBody(kDefaultSecret, good));
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ((*stored)->sequence(), 1u);
}

TEST_F(WebhookIngestorTest, HugeStringWithinTheLimitIsAccepted) {
  const std::string body =
      absl::StrCat(R"({"eventType":"custom.big","payload":{"blob":")",
                   std::string(4000, 'x'), R"("}})");
  absl::StatusOr<EventPtr> stored =
      Ingest(body, SignBody(kDefaultSecret, body));
  ASSERT_TRUE(stored.ok()) << stored.status();
  EXPECT_EQ(
      Decoded(*stored).payload().fields().at("blob").string_value().size(),
      4000u);
}

TEST_F(WebhookIngestorTest, IngestPublishesToSubscribers) {
  auto subscription = hub_.Subscribe({}, std::nullopt, [] {});
  ASSERT_TRUE(subscription.ok());
  const std::string body =
      ReadTestData("events/openid4vc.issuance.offered.json");
  ASSERT_TRUE(Ingest(body, SignBody(kDefaultSecret, body)).ok());
  std::vector<EventPtr> batch;
  ASSERT_TRUE((*subscription)->Next(10, 1 << 20, batch).ok());
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
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(ErrorReason(refused.status()), kShuttingDown);
  EXPECT_EQ(log_.Range().last, 0u);
}

// A log that holds appends until the test commits or fails them, as a
// durable log does while its group commit runs.
class HeldLog final : public EventLog {
 public:
  void Append(std::shared_ptr<StoredEvent> event,
              AppendCallback done) override {
    held_.push_back({std::move(event), std::move(done)});
  }
  absl::Status ReadAfter(std::uint64_t, std::uint64_t, std::size_t,
                         std::vector<EventPtr>&) const override {
    return absl::OkStatus();
  }
  SequenceRange Range() const override { return {1, last_}; }

  std::size_t held() const { return held_.size(); }
  void CommitAll() {
    for (auto& [event, done] : held_) {
      event->set_sequence(++last_);
      EventPtr stored = std::move(event);
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
  std::uint64_t last_ = 0;
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
  ASSERT_TRUE(subscription.ok());
  absl::StatusOr<EventPtr> result;
  bool answered = false;
  Ingest(result, answered);
  EXPECT_FALSE(answered);
  EXPECT_EQ(log_.held(), 1u);
  std::vector<EventPtr> batch;
  ASSERT_TRUE((*subscription)->Next(10, 1 << 20, batch).ok());
  EXPECT_TRUE(batch.empty()) << "published before the commit";

  log_.CommitAll();
  ASSERT_TRUE(answered);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ((*result)->sequence(), 1u);
  ASSERT_TRUE((*subscription)->Next(10, 1 << 20, batch).ok());
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
  EXPECT_EQ(result.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(ErrorReason(result.status()), kStoreFull);
  EXPECT_EQ(ingestor_.refused_by_reason().Value({kStoreFull}), 1u);
  EXPECT_EQ(ingestor_.ingest_latency().Read().count, 0u);
}

}  // namespace
}  // namespace paradym::webhooks
