#include "tests/testing/nats_cluster.h"

#include <nats/nats.h>

#include <cstdint>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/wait_for.h"

namespace paradym::webhooks::testing {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kStream[] = "EVENTS";
constexpr char kSubject[] = "events.in";

// Prints how long a step took, for whoever tunes the timeouts.
void ReportDuration(absl::string_view step, absl::Time since) {
  std::cout << "[ timing   ] " << step << ": "
            << absl::FormatDuration(absl::Now() - since) << std::endl;
}

absl::StatusOr<CnatsPtr<jsCtx>> JetStream(natsConnection* connection) {
  jsOptions options;
  jsOptions_Init(&options);
  options.Wait = 5000;  // creating a replicated stream takes a moment
  jsCtx* js = nullptr;
  const natsStatus status = natsConnection_JetStream(&js, connection, &options);
  CnatsPtr<jsCtx> owned(js);
  if (status != NATS_OK) return CnatsStatus(status, "JetStream context");
  return owned;
}

// A client of the cluster: a connection and its JetStream context.
struct Client {
  CnatsPtr<natsConnection> connection;
  CnatsPtr<jsCtx> js;
};

absl::StatusOr<Client> ConnectJetStream(const NatsCluster& nats,
                                        const std::string& urls) {
  absl::StatusOr<CnatsPtr<natsConnection>> connection = nats.Connect(urls);
  if (!connection.ok()) return connection.status();
  absl::StatusOr<CnatsPtr<jsCtx>> js = JetStream(connection->get());
  if (!js.ok()) return js.status();
  return Client{*std::move(connection), *std::move(js)};
}

absl::Status AddStreamOnce(jsCtx* js, int replicas) {
  jsStreamConfig config;
  jsStreamConfig_Init(&config);
  const char* subjects[] = {kSubject};
  config.Name = kStream;
  config.Subjects = subjects;
  config.SubjectsLen = 1;
  config.Storage = js_FileStorage;
  config.Replicas = replicas;
  jsStreamInfo* info = nullptr;
  jsErrCode js_error = static_cast<jsErrCode>(0);
  const natsStatus status =
      js_AddStream(&info, js, &config, nullptr, &js_error);
  CnatsPtr<jsStreamInfo> owned(info);
  return CnatsStatus(status, "add stream", js_error);
}

// Creates the stream, asking again while the cluster does not answer in
// time: a cluster that has just started may still be electing its meta
// leader, which takes seconds on a loaded machine (an identical config is
// accepted again if a timed-out attempt did create it).
absl::Status AddStream(jsCtx* js, int replicas) {
  absl::Status status;
  WaitFor(
      [&] {
        status = AddStreamOnce(js, replicas);
        return status.code() != absl::StatusCode::kDeadlineExceeded;
      },
      absl::Seconds(30), absl::Milliseconds(100));
  return status;
}

// One publish with a Msg-Id, so that a retry is never stored twice (the
// stream answers a duplicate with the first copy's sequence).
absl::StatusOr<uint64_t> Publish(jsCtx* js, const std::string& msg_id) {
  jsPubOptions options;
  jsPubOptions_Init(&options);
  options.MsgId = msg_id.c_str();
  options.MaxWait = 2000;
  jsPubAck* ack = nullptr;
  jsErrCode js_error = static_cast<jsErrCode>(0);
  const natsStatus status =
      js_Publish(&ack, js, kSubject, msg_id.data(),
                 static_cast<int>(msg_id.size()), &options, &js_error);
  CnatsPtr<jsPubAck> owned(ack);
  if (status != NATS_OK) {
    return CnatsStatus(status, absl::StrCat("publish ", msg_id), js_error);
  }
  return ack->Sequence;
}

// Publish, retried until it is acknowledged or `timeout` has passed, as a
// client riding out a failover would.
absl::StatusOr<uint64_t> PublishWithRetries(jsCtx* js,
                                            const std::string& msg_id,
                                            absl::Duration timeout) {
  absl::StatusOr<uint64_t> sequence;
  // The cluster is electing; asking again at once would only spin.
  WaitFor([&] { return (sequence = Publish(js, msg_id)).ok(); }, timeout,
          absl::Milliseconds(100));
  return sequence;
}

std::vector<uint64_t> PublishAll(jsCtx* js, std::vector<std::string> ids) {
  std::vector<uint64_t> sequences;
  for (const std::string& id : ids) {
    absl::StatusOr<uint64_t> sequence = Publish(js, id);
    EXPECT_THAT(sequence, IsOk());
    if (sequence.ok()) sequences.push_back(*sequence);
  }
  return sequences;
}

std::string ReadConfig(const NatsCluster& cluster, int node) {
  std::ifstream in(cluster.config_path(node), std::ios::binary);
  std::ostringstream contents;
  contents << in.rdbuf();
  return contents.str();
}

TEST(NatsCluster, ThreeNodesReplicateAStream) {
  const absl::Time start = absl::Now();
  absl::StatusOr<std::unique_ptr<NatsCluster>> cluster =
      NatsCluster::Start(NatsCluster::Options());
  ASSERT_THAT(cluster, IsOk());
  ReportDuration("3-node cluster start", start);
  NatsCluster& nats = **cluster;
  ASSERT_EQ(nats.size(), 3);
  EXPECT_THAT(absl::StrSplit(nats.urls(), ','),
              ElementsAre(nats.url(0), nats.url(1), nats.url(2)));
  for (int i = 0; i < nats.size(); ++i) {
    SCOPED_TRACE(nats.name(i));
    EXPECT_TRUE(nats.running(i));
    EXPECT_THAT(ReadConfig(nats, i),
                HasSubstr(absl::StrCat("server_name: ", nats.name(i))));
  }

  absl::StatusOr<Client> client = ConnectJetStream(nats, nats.urls());
  ASSERT_THAT(client, IsOk());
  ASSERT_THAT(AddStream(client->js.get(), 3), IsOk());
  EXPECT_THAT(PublishAll(client->js.get(), {"a", "b", "c"}),
              ElementsAre(1, 2, 3));

  absl::StatusOr<CnatsPtr<jsStreamInfo>> info = nats.StreamInfo(kStream);
  ASSERT_THAT(info, IsOk());
  EXPECT_EQ((*info)->Config->Replicas, 3);
  EXPECT_EQ((*info)->State.Msgs, 3u);
  ASSERT_NE((*info)->Cluster, nullptr);
  EXPECT_EQ((*info)->Cluster->ReplicasLen, 2);  // the followers
  absl::StatusOr<int> leader = nats.StreamLeader(kStream);
  ASSERT_THAT(leader, IsOk());
  EXPECT_GE(*leader, 0);
  EXPECT_LT(*leader, 3);
}

TEST(NatsCluster, KilledLeaderIsReplacedAndComesBack) {
  absl::StatusOr<std::unique_ptr<NatsCluster>> cluster =
      NatsCluster::Start(NatsCluster::Options());
  ASSERT_THAT(cluster, IsOk());
  NatsCluster& nats = **cluster;
  absl::StatusOr<Client> client = ConnectJetStream(nats, nats.urls());
  ASSERT_THAT(client, IsOk());
  ASSERT_THAT(AddStream(client->js.get(), 3), IsOk());
  EXPECT_THAT(PublishAll(client->js.get(), {"before"}), ElementsAre(1));
  absl::StatusOr<int> old_leader = nats.StreamLeader(kStream);
  ASSERT_THAT(old_leader, IsOk());

  const absl::Time kill = absl::Now();
  const absl::Status killed = nats.Kill(*old_leader);
  ASSERT_THAT(killed, IsOk());
  EXPECT_FALSE(nats.running(*old_leader));
  absl::StatusOr<uint64_t> after =
      PublishWithRetries(client->js.get(), "after", absl::Seconds(15));
  ASSERT_THAT(after, IsOk()) << nats.LogTail((*old_leader + 1) % 3);
  EXPECT_EQ(*after, 2u);
  ReportDuration(
      "kill -9 of the stream leader to the next acknowledged publish", kill);
  absl::StatusOr<int> new_leader =
      nats.WaitForStreamLeader(kStream, absl::Seconds(15));
  ASSERT_THAT(new_leader, IsOk());
  EXPECT_NE(*new_leader, *old_leader);

  const absl::Time restart = absl::Now();
  const absl::Status restarted = nats.Restart(*old_leader);
  ASSERT_THAT(restarted, IsOk());
  ReportDuration("restart of the killed node until JetStream answers", restart);
  EXPECT_TRUE(nats.running(*old_leader));
  absl::StatusOr<int> leader =
      nats.WaitForStreamLeader(kStream, absl::Seconds(15));
  ASSERT_THAT(leader, IsOk());
  EXPECT_THAT(PublishAll(client->js.get(), {"restarted"}), ElementsAre(3));
}

TEST(NatsCluster, SingleNodeKeepsItsStoreAcrossAStop) {
  NatsCluster::Options options;
  options.nodes = 1;
  const absl::Time start = absl::Now();
  absl::StatusOr<std::unique_ptr<NatsCluster>> cluster =
      NatsCluster::Start(options);
  ASSERT_THAT(cluster, IsOk());
  ReportDuration("1-node start", start);
  NatsCluster& nats = **cluster;
  ASSERT_EQ(nats.size(), 1);
  EXPECT_EQ(nats.urls(), nats.url(0));
  EXPECT_THAT(ReadConfig(nats, 0), Not(HasSubstr("cluster")));
  EXPECT_THAT(nats.StreamLeader(kStream),
              StatusIs(absl::StatusCode::kNotFound));

  {
    absl::StatusOr<Client> client = ConnectJetStream(nats, nats.url(0));
    ASSERT_THAT(client, IsOk());
    ASSERT_THAT(AddStream(client->js.get(), 1), IsOk());
    EXPECT_THAT(PublishAll(client->js.get(), {"a"}), ElementsAre(1));
  }
  absl::StatusOr<int> leader = nats.StreamLeader(kStream);
  ASSERT_THAT(leader, IsOk());
  EXPECT_EQ(*leader, 0);
  EXPECT_THAT(nats.Restart(0), StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(nats.Kill(1), StatusIs(absl::StatusCode::kOutOfRange));

  const absl::Status stopped = nats.Stop(0);
  ASSERT_THAT(stopped, IsOk());
  EXPECT_FALSE(nats.running(0));
  EXPECT_THAT(nats.StreamLeader(kStream),
              StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_THAT(nats.Kill(0), StatusIs(absl::StatusCode::kFailedPrecondition));
  const absl::Status restarted = nats.Restart(0);
  ASSERT_THAT(restarted, IsOk());

  absl::StatusOr<Client> client = ConnectJetStream(nats, nats.url(0));
  ASSERT_THAT(client, IsOk());
  EXPECT_THAT(PublishAll(client->js.get(), {"b"}), ElementsAre(2));
}

TEST(NatsCluster, ExtraConfigReachesEveryNode) {
  NatsCluster::Options options;
  options.extra_config = "authorization { user: app, password: s3cret }";
  options.configure_client = [](natsOptions* client) {
    return natsOptions_SetUserInfo(client, "app", "s3cret");
  };
  absl::StatusOr<std::unique_ptr<NatsCluster>> cluster =
      NatsCluster::Start(options);
  ASSERT_THAT(cluster, IsOk());
  NatsCluster& nats = **cluster;
  for (int i = 0; i < nats.size(); ++i) {
    SCOPED_TRACE(nats.name(i));
    EXPECT_THAT(ReadConfig(nats, i), HasSubstr(options.extra_config));
    natsConnection* anonymous = nullptr;
    const natsStatus status =
        natsConnection_ConnectTo(&anonymous, nats.url(i).c_str());
    CnatsPtr<natsConnection> owned(anonymous);
    EXPECT_THAT(CnatsStatus(status, "connect"),
                StatusIs(absl::StatusCode::kPermissionDenied));
  }
}

TEST(NatsCluster, RejectsAnEmptyCluster) {
  NatsCluster::Options options;
  options.nodes = 0;
  EXPECT_THAT(NatsCluster::Start(options),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace paradym::webhooks::testing
