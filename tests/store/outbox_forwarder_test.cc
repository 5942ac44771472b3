// OutboxForwarder against a real nats-server: in order, exactly once, also
// when acknowledgements were lost longer ago than the duplicate window.

#include "server/store/outbox_forwarder.h"

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/core/errors.h"
#include "tests/testing/event_log_testing.h"
#include "tests/testing/fake_clock.h"
#include "tests/testing/nats_cluster.h"
#include "tests/testing/server_process.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/wait_for.h"

namespace paradym::webhooks {
namespace {

namespace v1 = ::paradym::webhooks::v1;
using ::paradym::webhooks::testing::AppendAndWait;
using ::paradym::webhooks::testing::FakeClock;
using ::paradym::webhooks::testing::HasReason;
using ::paradym::webhooks::testing::IsOk;
using ::paradym::webhooks::testing::MakeTempDir;
using ::paradym::webhooks::testing::NatsCluster;
using ::paradym::webhooks::testing::StatusIs;
using ::paradym::webhooks::testing::WaitFor;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr char kReplica[] = "aaaa0001";
constexpr absl::Duration kTimeout = absl::Seconds(20);

std::shared_ptr<StoredEvent> MakeEvent(int n) {
  v1::Event event;
  event.set_event_type("workflowExecution.completed");
  event.set_project_id("p1");
  event.set_body(absl::StrCat("{\"n\":", n, "}"));
  return StoredEvent::Create(event);
}

// What the forwarder answered one event with.
struct Answers {
  absl::Mutex mu;
  std::map<std::uint64_t, absl::StatusOr<EventPtr>> by_outbox_sequence;

  EventLog::AppendCallback For(std::uint64_t outbox_sequence) {
    return [this, outbox_sequence](absl::StatusOr<EventPtr> answer) {
      absl::MutexLock lock(&mu);
      by_outbox_sequence.emplace(outbox_sequence, std::move(answer));
    };
  }
  std::size_t size() {
    absl::MutexLock lock(&mu);
    return by_outbox_sequence.size();
  }
  std::uint64_t SequenceOf(std::uint64_t outbox_sequence) {
    absl::MutexLock lock(&mu);
    auto it = by_outbox_sequence.find(outbox_sequence);
    if (it == by_outbox_sequence.end() || !it->second.ok()) return ~0ull;
    return (*it->second)->sequence();
  }
};

class OutboxForwarderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    NatsCluster::Options options;
    options.nodes = 1;
    auto cluster = NatsCluster::Start(options);
    ASSERT_THAT(cluster, IsOk());
    cluster_ = *std::move(cluster);
    NatsClient::Options client_options;
    client_options.servers = {cluster_->url(0)};
    auto client = NatsClient::Connect(client_options);
    ASSERT_THAT(client, IsOk());
    client_ = *std::move(client);
    spec_.name = "FORWARDER_TEST";
    spec_.replicas = 1;
    // Short, so that a test can outlast it.
    spec_.duplicate_window = absl::Milliseconds(300);
    ASSERT_THAT(EnsureStream(*client_, spec_), IsOk());
    SqliteEventLog::Options outbox;
    outbox.directory = MakeTempDir() + "/outbox";
    outbox.retention = absl::InfiniteDuration();
    auto opened = SqliteEventLog::Open(outbox, clock_);
    ASSERT_THAT(opened, IsOk());
    outbox_ = *std::move(opened);
  }

  OutboxForwarder::Options ForwarderOptions() {
    OutboxForwarder::Options options;
    options.stream = spec_;
    options.replica = kReplica;
    return options;
  }

  // Commits `count` events to the outbox and returns them.
  std::vector<EventPtr> Outbox(int count) {
    std::vector<EventPtr> events;
    for (int i = 0; i < count; ++i) {
      absl::StatusOr<EventPtr> stored = AppendAndWait(*outbox_, MakeEvent(i));
      EXPECT_THAT(stored, IsOk());
      if (stored.ok()) events.push_back(*stored);
    }
    return events;
  }

  // Publishes `event` as an earlier run of the forwarder did (its ack lost).
  void PublishAsEarlierRun(const std::string& replica, const StoredEvent& event,
                           std::uint64_t expected_sequence) {
    jsPubOptions options;
    jsPubOptions_Init(&options);
    const std::string id = absl::StrCat(replica, ":", event.sequence());
    options.MsgId = id.c_str();
    jsPubAck* ack = nullptr;
    const absl::string_view data = event.encoding_without_sequence();
    ASSERT_EQ(js_Publish(&ack, client_->jetstream(),
                         ReplicaSubject(spec_, replica).c_str(), data.data(),
                         static_cast<int>(data.size()), &options, nullptr),
              NATS_OK);
    EXPECT_EQ(ack->Sequence, expected_sequence);
    jsPubAck_Destroy(ack);
  }

  // The outbox sequences in the message ids on `replica`'s subject, in
  // stream order.
  std::vector<std::string> IdsInStream(const std::string& replica) {
    std::vector<std::string> ids;
    for (std::uint64_t at = 1;;) {
      absl::StatusOr<StreamMessage> message = ReadStreamMessage(
          *client_, spec_.name, at, ReplicaSubject(spec_, replica), kTimeout);
      if (!message.ok()) {
        EXPECT_TRUE(absl::IsNotFound(message.status())) << message.status();
        return ids;
      }
      ids.push_back(message->message_id);
      at = message->sequence + 1;
    }
  }

  FakeClock clock_{absl::FromUnixSeconds(1718184600)};
  std::unique_ptr<NatsCluster> cluster_;
  std::unique_ptr<NatsClient> client_;
  StreamSpec spec_;
  std::unique_ptr<SqliteEventLog> outbox_;
};

TEST_F(OutboxForwarderTest, AnswersEachEventWithItsStreamSequenceInOrder) {
  OutboxForwarder forwarder(ForwarderOptions(), *client_, *outbox_);
  ASSERT_THAT(forwarder.Start(), IsOk());
  Answers answers;
  for (const EventPtr& event : Outbox(5)) {
    forwarder.Track(event, answers.For(event->sequence()));
  }
  ASSERT_TRUE(WaitFor([&] { return answers.size() == 5; }, kTimeout));
  for (std::uint64_t i = 1; i <= 5; ++i) {
    EXPECT_EQ(answers.SequenceOf(i), i);
  }
  EXPECT_EQ(forwarder.depth(), 0u);
  EXPECT_EQ(forwarder.horizon(), 5u);
  EXPECT_THAT(IdsInStream(kReplica),
              ElementsAre("aaaa0001:1", "aaaa0001:2", "aaaa0001:3",
                          "aaaa0001:4", "aaaa0001:5"));
  // The stream holds exactly the outbox's bytes.
  absl::StatusOr<StreamMessage> third =
      ReadStreamMessage(*client_, spec_.name, 3, "", kTimeout);
  ASSERT_THAT(third, IsOk());
  std::vector<EventPtr> held;
  ASSERT_THAT(outbox_->ReadAfter(2, 3, 1, held), IsOk());
  ASSERT_EQ(held.size(), 1u);
  EXPECT_EQ(third->data, held[0]->encoding_without_sequence());

  forwarder.Stop(absl::Seconds(1));
  outbox_->Close();
  EXPECT_EQ(outbox_->released().through, 5u);
}

// A restart with a non-empty outbox, the acknowledgements of some events
// lost, longer ago than the duplicate window: only what the stream lacks is
// sent.
TEST_F(OutboxForwarderTest, AfterLostAcksItSendsOnlyWhatTheStreamLacks) {
  std::vector<EventPtr> events = Outbox(5);
  ASSERT_EQ(events.size(), 5u);
  PublishAsEarlierRun(kReplica, *events[0], 1);
  PublishAsEarlierRun("bbbb0002", *events[4], 2);  // another replica's
  PublishAsEarlierRun(kReplica, *events[1], 3);
  PublishAsEarlierRun(kReplica, *events[2], 4);
  // The duplicate window must pass: the stream alone would then store the
  // three again.
  absl::SleepFor(spec_.duplicate_window + absl::Milliseconds(200));

  OutboxForwarder forwarder(ForwarderOptions(), *client_, *outbox_);
  ASSERT_THAT(forwarder.Start(), IsOk());
  ASSERT_TRUE(WaitFor([&] { return forwarder.depth() == 0; }, kTimeout));
  EXPECT_THAT(IdsInStream(kReplica),
              ElementsAre("aaaa0001:1", "aaaa0001:2", "aaaa0001:3",
                          "aaaa0001:4", "aaaa0001:5"));
  absl::StatusOr<StreamState> state = ReadStreamState(*client_, spec_.name);
  ASSERT_THAT(state, IsOk());
  EXPECT_EQ(state->last_sequence, 6u);
  EXPECT_THAT(forwarder.CheckReady(), IsOk());
  PrometheusText text;
  forwarder.AddMetrics(text);
  EXPECT_THAT(text.str(),
              HasSubstr("paradym_webhooks_replication_reconciles_total 1\n"));
}

TEST_F(OutboxForwarderTest, RefusesToForwardAnOutboxBehindTheStream) {
  std::vector<EventPtr> events = Outbox(2);
  ASSERT_EQ(events.size(), 2u);
  // The stream has event 9 of this replica: its outbox was restored from an
  // old backup, and its ids would collide.
  auto ahead = events[0]->WithSequence(9);
  PublishAsEarlierRun(kReplica, *ahead, 1);

  OutboxForwarder forwarder(ForwarderOptions(), *client_, *outbox_);
  ASSERT_THAT(forwarder.Start(), IsOk());
  ASSERT_TRUE(WaitFor([&] { return !forwarder.CheckReady().ok(); }, kTimeout));
  const absl::Status ready = forwarder.CheckReady();
  EXPECT_THAT(ready, StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_THAT(ready, HasReason(kReplicationStalled));
  EXPECT_THAT(ready.message(), HasSubstr("restored from a backup or copied"));
  EXPECT_THAT(IdsInStream(kReplica), ElementsAre("aaaa0001:9"));
  EXPECT_EQ(forwarder.depth(), 2u);
}

TEST_F(OutboxForwarderTest, AnswersPendingWhileTheStreamIsDownThenForwards) {
  OutboxForwarder::Options options = ForwarderOptions();
  options.replication_wait = absl::Milliseconds(200);
  options.ready_outbox_limit = 2;
  OutboxForwarder forwarder(options, *client_, *outbox_);
  ASSERT_THAT(forwarder.Start(), IsOk());
  ASSERT_THAT(cluster_->Stop(0), IsOk());

  Answers answers;
  for (const EventPtr& event : Outbox(3)) {
    forwarder.Track(event, answers.For(event->sequence()));
  }
  // Each is answered "in the stream later" (sequence 0) after the wait,
  // while the forwarder keeps failing to reach the stream.
  ASSERT_TRUE(WaitFor([&] { return answers.size() == 3; }, absl::Seconds(2)));
  for (std::uint64_t i = 1; i <= 3; ++i) EXPECT_EQ(answers.SequenceOf(i), 0u);
  EXPECT_EQ(forwarder.depth(), 3u);
  const absl::Status ready = forwarder.CheckReady();
  EXPECT_THAT(ready, StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_THAT(ready, HasReason(kReplicationStalled));

  ASSERT_THAT(cluster_->Restart(0), IsOk());
  ASSERT_TRUE(WaitFor([&] { return forwarder.depth() == 0; }, kTimeout));
  EXPECT_THAT(forwarder.CheckReady(), IsOk());
  EXPECT_THAT(IdsInStream(kReplica),
              ElementsAre("aaaa0001:1", "aaaa0001:2", "aaaa0001:3"));
}

}  // namespace
}  // namespace paradym::webhooks
