// JetStreamEventLog against a real nats-server: replicas in one process,
// each with its own data directory, sharing one stream.

#include "server/store/jetstream_event_log.h"

#include <sys/stat.h>

#include <atomic>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
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
#include "tests/testing/test_certificates.h"
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
using ::testing::Not;

constexpr absl::Duration kTimeout = absl::Seconds(20);
constexpr char kStream[] = "LOG_TEST";

std::shared_ptr<StoredEvent> MakeEvent(const std::string& body) {
  v1::Event event;
  event.set_event_type("openid4vc.issuance.offered");
  event.set_project_id("p1");
  event.set_body(body);
  event.mutable_receive_time()->set_seconds(1718184600);
  return StoredEvent::Create(event);
}

std::vector<std::string> Bodies(const EventLog& log) {
  std::vector<EventPtr> events;
  EXPECT_THAT(log.ReadAfter(0, ~0ull, 1000, events), IsOk());
  std::vector<std::string> bodies;
  for (const EventPtr& event : events) {
    v1::Event decoded;
    EXPECT_TRUE(event->Decode(decoded));
    EXPECT_EQ(decoded.sequence(), bodies.size() + 1);
    bodies.push_back(decoded.body());
  }
  return bodies;
}

// Every sequence a log announced, in order.
struct Heard {
  absl::Mutex mu;
  std::vector<std::uint64_t> sequences;
  EventLog::Listener Listener() {
    return [this](EventPtr event) {
      absl::MutexLock lock(&mu);
      sequences.push_back(event->sequence());
    };
  }
  std::vector<std::uint64_t> Get() {
    absl::MutexLock lock(&mu);
    return sequences;
  }
};

class JetStreamEventLogTest : public ::testing::Test {
 protected:
  void StartCluster(std::string extra_config = "") {
    NatsCluster::Options options;
    options.nodes = 1;
    options.extra_config = std::move(extra_config);
    auto cluster = NatsCluster::Start(options);
    ASSERT_THAT(cluster, IsOk());
    cluster_ = *std::move(cluster);
  }
  void SetUp() override { StartCluster(); }

  JetStreamEventLog::Options Options(const std::string& dir) {
    JetStreamEventLog::Options options;
    options.directory = dir;
    options.sync = SqliteEventLog::Sync::kNormal;
    options.nats.servers = {cluster_->url(0)};
    options.stream.name = kStream;
    options.stream.replicas = 1;
    return options;
  }

  std::unique_ptr<JetStreamEventLog> Open(const std::string& dir) {
    auto log = JetStreamEventLog::Open(Options(dir), clock_);
    EXPECT_THAT(log, IsOk());
    return log.ok() ? *std::move(log) : nullptr;
  }

  static std::uint64_t Append(EventLog& log, const std::string& body) {
    absl::StatusOr<EventPtr> stored = AppendAndWait(log, MakeEvent(body));
    EXPECT_THAT(stored, IsOk());
    return stored.ok() ? (*stored)->sequence() : 0;
  }

  FakeClock clock_{absl::FromUnixSeconds(1718184600)};
  std::unique_ptr<NatsCluster> cluster_;
  const std::string dir_a_ = MakeTempDir() + "/a";
  const std::string dir_b_ = MakeTempDir() + "/b";
};

TEST_F(JetStreamEventLogTest, TwoReplicasServeOneStreamInOneOrder) {
  auto a = Open(dir_a_);
  auto b = Open(dir_b_);
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  EXPECT_NE(a->replica(), b->replica());
  Heard heard_a, heard_b;
  a->SetListener(heard_a.Listener());
  b->SetListener(heard_b.Listener());

  EXPECT_EQ(Append(*a, "a1"), 1u);
  EXPECT_EQ(Append(*b, "b1"), 2u);
  EXPECT_EQ(Append(*a, "a2"), 3u);
  EXPECT_EQ(Append(*b, "b2"), 4u);
  ASSERT_TRUE(WaitFor(
      [&] { return a->Range().last == 4 && b->Range().last == 4; }, kTimeout));
  EXPECT_THAT(Bodies(*a), ElementsAre("a1", "b1", "a2", "b2"));
  EXPECT_THAT(Bodies(*b), ElementsAre("a1", "b1", "a2", "b2"));
  // Each replica announced every replica's events, in the stream's order.
  ASSERT_TRUE(WaitFor([&] { return heard_b.Get().size() == 4; }, kTimeout));
  EXPECT_THAT(heard_a.Get(), ElementsAre(1, 2, 3, 4));
  EXPECT_THAT(heard_b.Get(), ElementsAre(1, 2, 3, 4));
  EXPECT_EQ(a->Horizon(), 4u);
  EXPECT_THAT(a->CheckReady(), IsOk());
  PrometheusText text;
  a->AddMetrics(text);
  EXPECT_THAT(text.str(), HasSubstr("paradym_webhooks_outbox_events 0\n"));
  EXPECT_THAT(text.str(),
              HasSubstr("paradym_webhooks_replication_lag_events 0\n"));
  EXPECT_THAT(text.str(), HasSubstr("paradym_webhooks_nats_connected 1\n"));
  a->SetListener(nullptr);
  b->SetListener(nullptr);
}

TEST_F(JetStreamEventLogTest, ALostCopyIsRebuiltFromTheStream) {
  auto a = Open(dir_a_);
  ASSERT_NE(a, nullptr);
  for (const char* body : {"x1", "x2", "x3"}) Append(*a, body);
  const std::string replica = a->replica();
  a.reset();
  std::filesystem::remove_all(dir_a_ + "/stream-copy");

  a = Open(dir_a_);
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->replica(), replica);  // kept in replica-id
  ASSERT_TRUE(WaitFor([&] { return a->Range().last == 3; }, kTimeout));
  EXPECT_THAT(Bodies(*a), ElementsAre("x1", "x2", "x3"));
  EXPECT_EQ(Append(*a, "x4"), 4u);
}

// Message ids name the replica: an outbox must never be forwarded under a
// new id, which could collide with another replica's.
TEST_F(JetStreamEventLogTest, AnOutboxWithoutItsReplicaIdIsRefused) {
  auto a = Open(dir_a_);
  ASSERT_NE(a, nullptr);
  a.reset();
  std::filesystem::remove(dir_a_ + "/replica-id");
  auto reopened = JetStreamEventLog::Open(Options(dir_a_), clock_);
  EXPECT_THAT(reopened, StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(reopened.status().message(),
              HasSubstr("is missing beside an existing outbox"));
}

TEST_F(JetStreamEventLogTest, ACopyOfARecreatedStreamIsRebuilt) {
  auto a = Open(dir_a_);
  ASSERT_NE(a, nullptr);
  for (const char* body : {"old1", "old2", "old3"}) Append(*a, body);
  a.reset();
  {
    auto connection = cluster_->Connect(cluster_->url(0));
    ASSERT_THAT(connection, IsOk());
    jsCtx* js = nullptr;
    ASSERT_EQ(natsConnection_JetStream(&js, connection->get(), nullptr),
              NATS_OK);
    EXPECT_EQ(js_DeleteStream(js, kStream, nullptr, nullptr), NATS_OK);
    jsCtx_Destroy(js);
  }
  auto b = Open(dir_b_);
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(Append(*b, "new1"), 1u);

  a = Open(dir_a_);
  ASSERT_NE(a, nullptr);
  ASSERT_TRUE(WaitFor([&] { return a->Range().last == 1; }, kTimeout));
  EXPECT_THAT(Bodies(*a), ElementsAre("new1"));
}

// cnats 3.4 could crash when a subscription is destroyed while messages
// arrive on it: replica B's ordered consumer is torn down again and again
// while A floods the stream, and A's own acknowledgement subscription while
// its publishes are answered.
TEST_F(JetStreamEventLogTest, ClosingWhileEventsArriveIsSafe) {
  auto a = Open(dir_a_);
  ASSERT_NE(a, nullptr);
  std::atomic<bool> stop{false};
  std::atomic<int> appended{0};
  std::thread flood([&] {
    for (int i = 0; i < 20000 && !stop; ++i) {
      a->Append(MakeEvent(absl::StrCat("f", i)),
                [&](absl::StatusOr<EventPtr> stored) {
                  if (stored.ok()) ++appended;
                });
      if (i % 64 == 63) absl::SleepFor(absl::Milliseconds(1));
    }
  });
  for (int round = 0; round < 5; ++round) {
    auto b = Open(dir_b_);
    ASSERT_NE(b, nullptr);
    ASSERT_TRUE(WaitFor([&] { return b->Range().last > 0; }, kTimeout));
    b.reset();  // closes while the stream keeps delivering
  }
  stop = true;
  flood.join();
  a.reset();  // closes while acknowledgements may still arrive
  EXPECT_GT(appended.load(), 0);

  a = Open(dir_a_);
  auto b = Open(dir_b_);
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  absl::StatusOr<StreamState> state = [&] {
    NatsClient::Options client_options;
    client_options.servers = {cluster_->url(0)};
    auto client = NatsClient::Connect(client_options);
    EXPECT_THAT(client, IsOk());
    return ReadStreamState(**client, kStream);
  }();
  ASSERT_THAT(state, IsOk());
  ASSERT_TRUE(WaitFor(
      [&] {
        return a->Range().last == state->last_sequence &&
               b->Range().last == state->last_sequence;
      },
      kTimeout));
  std::vector<EventPtr> events;
  ASSERT_THAT(b->ReadAfter(0, ~0ull, 1 << 20, events), IsOk());
  ASSERT_EQ(events.size(), state->last_sequence);
  for (std::size_t i = 0; i < events.size(); ++i) {
    ASSERT_EQ(events[i]->sequence(), i + 1);
  }
}

TEST_F(JetStreamEventLogTest, AnEventLargerThanTheServersTakeIsRefused) {
  cluster_.reset();
  StartCluster("max_payload: 4096\n");
  auto a = Open(dir_a_);
  ASSERT_NE(a, nullptr);
  ASSERT_TRUE(WaitFor([&] { return Append(*a, "small") == 1; }, kTimeout));
  absl::StatusOr<EventPtr> large =
      AppendAndWait(*a, MakeEvent(std::string(8000, 'x')));
  EXPECT_THAT(large, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(large, HasReason(kBodyTooLarge));
  EXPECT_THAT(large.status().message(), HasSubstr("max_payload 4096"));
  EXPECT_EQ(Append(*a, "small again"), 2u);
}

TEST_F(JetStreamEventLogTest, AClosedLogRefusesAppends) {
  auto a = Open(dir_a_);
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(Append(*a, "before"), 1u);
  a->Close();
  absl::StatusOr<EventPtr> refused = AppendAndWait(*a, MakeEvent("after"));
  EXPECT_THAT(refused, StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_THAT(refused, HasReason(kShuttingDown));
}

// Three replicas asked of one server: the stream cannot be placed until
// servers join, which is no reason to refuse webhooks; they wait in the
// outbox, and the replica says it is not ready.
TEST_F(JetStreamEventLogTest, MoreReplicasThanServersWaitsInTheOutbox) {
  JetStreamEventLog::Options options = Options(dir_a_);
  options.stream.replicas = 3;
  options.replication_wait = absl::Milliseconds(100);
  options.ready_outbox_limit = 0;
  auto log = JetStreamEventLog::Open(options, clock_);
  ASSERT_THAT(log, IsOk());
  absl::StatusOr<EventPtr> pending = AppendAndWait(**log, MakeEvent("kept"));
  ASSERT_THAT(pending, IsOk());
  EXPECT_EQ((*pending)->sequence(), 0u);
  const absl::Status ready = (*log)->CheckReady();
  EXPECT_THAT(ready, StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_THAT(ready, HasReason(kReplicationStalled));
}

TEST_F(JetStreamEventLogTest, AStreamThatCouldLoseEventsIsRefusedAtStart) {
  {
    auto connection = cluster_->Connect(cluster_->url(0));
    ASSERT_THAT(connection, IsOk());
    jsCtx* js = nullptr;
    ASSERT_EQ(natsConnection_JetStream(&js, connection->get(), nullptr),
              NATS_OK);
    jsStreamConfig config;
    jsStreamConfig_Init(&config);
    config.Name = kStream;
    const std::string subjects = absl::StrCat(kStream, ".events.*");
    const char* subject_list[] = {subjects.c_str()};
    config.Subjects = subject_list;
    config.SubjectsLen = 1;
    config.Storage = js_MemoryStorage;  // lost when the servers restart
    jsStreamInfo* info = nullptr;
    ASSERT_EQ(js_AddStream(&info, js, &config, nullptr, nullptr), NATS_OK);
    jsStreamInfo_Destroy(info);
    jsCtx_Destroy(js);
  }
  auto log = JetStreamEventLog::Open(Options(dir_a_), clock_);
  EXPECT_THAT(log, StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(log.status().message(), HasSubstr("memory storage"));
  EXPECT_THAT(log.status().message(), HasSubstr("deletes allowed"));
}

// A cluster that takes only TLS clients with a certificate of its CA, and a
// user with a password.
class JetStreamEventLogSecureTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // A CA, and a server and a client certificate it signs.
    ASSERT_THAT(testing::MakeTestCertificates(dir_), IsOk());
    testing::WriteFileWithMode(dir_ + "/password", "pw-0f1e2d\n");
    testing::WriteFileWithMode(dir_ + "/wrong-password", "wrong\n");

    NatsCluster::Options options;
    options.nodes = 1;
    options.extra_config = absl::StrCat(
        "tls {\n  cert_file: \"", dir_, "/server.pem\"\n  key_file: \"", dir_,
        "/server.key\"\n  ca_file: \"", dir_,
        "/ca.pem\"\n  verify: true\n}\n"
        "authorization {\n  user: replica\n  password: pw-0f1e2d\n}\n");
    const std::string dir = dir_;
    options.configure_client = [dir](natsOptions* opts) {
      natsStatus s = natsOptions_SetSecure(opts, true);
      if (s == NATS_OK) {
        s = natsOptions_LoadCATrustedCertificates(opts,
                                                  (dir + "/ca.pem").c_str());
      }
      if (s == NATS_OK) {
        s = natsOptions_LoadCertificatesChain(
            opts, (dir + "/client.pem").c_str(), (dir + "/client.key").c_str());
      }
      if (s == NATS_OK)
        s = natsOptions_SetUserInfo(opts, "replica", "pw-0f1e2d");
      return s;
    };
    auto cluster = NatsCluster::Start(options);
    ASSERT_THAT(cluster, IsOk());
    cluster_ = *std::move(cluster);
  }

  JetStreamEventLog::Options Options() {
    JetStreamEventLog::Options options;
    options.directory = dir_ + "/data";
    options.nats.servers = {cluster_->url(0)};
    options.nats.tls_ca_file = dir_ + "/ca.pem";
    options.nats.tls_cert_file = dir_ + "/client.pem";
    options.nats.tls_key_file = dir_ + "/client.key";
    options.nats.user = "replica";
    options.nats.password_file = dir_ + "/password";
    options.stream.name = kStream;
    options.stream.replicas = 1;
    return options;
  }

  FakeClock clock_{absl::FromUnixSeconds(1718184600)};
  const std::string dir_ = MakeTempDir();
  std::unique_ptr<NatsCluster> cluster_;
};

TEST_F(JetStreamEventLogSecureTest,
       ConnectsWithTlsAClientCertificateAndAPassword) {
  auto log = JetStreamEventLog::Open(Options(), clock_);
  ASSERT_THAT(log, IsOk());
  absl::StatusOr<EventPtr> stored = AppendAndWait(**log, MakeEvent("secure"));
  ASSERT_THAT(stored, IsOk());
  EXPECT_EQ((*stored)->sequence(), 1u);
  ASSERT_TRUE(WaitFor([&] { return (*log)->Range().last == 1; }, kTimeout));
}

TEST_F(JetStreamEventLogSecureTest, AWrongPasswordIsAClearErrorAtStart) {
  JetStreamEventLog::Options options = Options();
  options.nats.password_file = dir_ + "/wrong-password";
  auto log = JetStreamEventLog::Open(options, clock_);
  EXPECT_THAT(log, StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(log.status().message(), HasSubstr("connect to NATS"));
  EXPECT_THAT(log.status().message(), Not(HasSubstr("wrong")));
}

TEST_F(JetStreamEventLogSecureTest, SecretFilesOthersMayReadAreRefused) {
  for (const char* name : {"password", "client.key"}) {
    SCOPED_TRACE(name);
    const std::string file = absl::StrCat(dir_, "/", name);
    ASSERT_EQ(::chmod(file.c_str(), 0640), 0);
    auto log = JetStreamEventLog::Open(Options(), clock_);
    EXPECT_THAT(log, StatusIs(absl::StatusCode::kFailedPrecondition));
    EXPECT_THAT(log.status().message(), HasSubstr("chmod 600 " + file));
    EXPECT_THAT(log.status().message(), Not(HasSubstr("pw-0f1e2d")));
    ASSERT_EQ(::chmod(file.c_str(), 0600), 0);
  }
}

// Refusals at start carry a reason: INVALID_CONFIG for what the flags got
// wrong, STREAM_ERROR for what NATS refused.
TEST_F(JetStreamEventLogSecureTest, RefusalsAtStartCarryAReason) {
  JetStreamEventLog::Options no_server = Options();
  no_server.nats.servers.clear();
  auto log = JetStreamEventLog::Open(no_server, clock_);
  EXPECT_THAT(log, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(log, HasReason(kInvalidConfig));

  const std::string key = dir_ + "/client.key";
  ASSERT_EQ(::chmod(key.c_str(), 0640), 0);
  log = JetStreamEventLog::Open(Options(), clock_);
  EXPECT_THAT(log, StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(log, HasReason(kInvalidConfig));
  ASSERT_EQ(::chmod(key.c_str(), 0600), 0);

  JetStreamEventLog::Options wrong_password = Options();
  wrong_password.nats.password_file = dir_ + "/wrong-password";
  log = JetStreamEventLog::Open(wrong_password, clock_);
  EXPECT_THAT(log, StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(log, HasReason(kStreamError));
}

TEST_F(JetStreamEventLogSecureTest, AnUntrustedServerIsAClearErrorAtStart) {
  JetStreamEventLog::Options options = Options();
  // The client's own certificate is no CA of the server's.
  options.nats.tls_ca_file = dir_ + "/client.pem";
  auto log = JetStreamEventLog::Open(options, clock_);
  EXPECT_THAT(log, StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(log.status().message(), HasSubstr("connect to NATS"));
}

TEST_F(JetStreamEventLogSecureTest, AMissingCaFileIsAClearErrorAtStart) {
  JetStreamEventLog::Options options = Options();
  options.nats.tls_ca_file = dir_ + "/nowhere.pem";
  auto log = JetStreamEventLog::Open(options, clock_);
  EXPECT_THAT(log, StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(log.status().message(), HasSubstr("--nats_tls_ca"));
}

TEST_F(JetStreamEventLogTest, EveryReplicaFindsEveryReplicasEventByDigest) {
  auto a = Open(dir_a_);
  auto b = Open(dir_b_);
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  const ReplayDigest r1 = ComputeReplayDigest("", "r1");
  EXPECT_EQ(b->FindReplay(r1), std::nullopt);
  ASSERT_EQ(Append(*a, "r1"), 1u);
  ASSERT_EQ(Append(*b, "r2"), 2u);
  // Found with its stream sequence once each replica's copy has it.
  ASSERT_TRUE(WaitFor(
      [&] { return a->FindReplay(r1) == 1u && b->FindReplay(r1) == 1u; },
      kTimeout));
  ASSERT_TRUE(WaitFor(
      [&] { return a->FindReplay(ComputeReplayDigest("", "r2")) == 2u; },
      kTimeout));
  // And after a restart, from the copy on disk.
  b.reset();
  b = Open(dir_b_);
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(b->FindReplay(r1), 1u);
  EXPECT_EQ(b->FindReplay(ComputeReplayDigest("", "r3")), std::nullopt);
}

}  // namespace
}  // namespace paradym::webhooks
