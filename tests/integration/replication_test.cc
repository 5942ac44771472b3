// Replicas on a shared JetStream stream (--store=jetstream), as a user runs
// them: real nats-server clusters and paradym-webhooksd processes on
// loopback, webhooks through every replica under load, kill -9 of the
// stream's leader and of a replica, and the whole cluster down for longer
// than the duplicate window.

#include <grpcpp/grpcpp.h>
#include <signal.h>

#include <atomic>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "paradym/webhooks/v1/webhook_service.grpc.pb.h"
#include "server/core/signature_verifier.h"
#include "tests/testing/grpc_status.h"
#include "tests/testing/http_client.h"
#include "tests/testing/list_all_events.h"
#include "tests/testing/nats_cluster.h"
#include "tests/testing/server_process.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_data.h"
#include "tests/testing/wait_for.h"

namespace paradym::webhooks {
namespace {

namespace v1 = ::paradym::webhooks::v1;
using ::paradym::webhooks::testing::ChildProcess;
using ::paradym::webhooks::testing::ErrorReasonOf;
using ::paradym::webhooks::testing::GetRequest;
using ::paradym::webhooks::testing::HttpExchange;
using ::paradym::webhooks::testing::HttpReply;
using ::paradym::webhooks::testing::IsOk;
using ::paradym::webhooks::testing::MakeTempDir;
using ::paradym::webhooks::testing::NatsCluster;
using ::paradym::webhooks::testing::PathFromEnv;
using ::paradym::webhooks::testing::PendingReplication;
using ::paradym::webhooks::testing::PostRequest;
using ::paradym::webhooks::testing::RawHttpConnection;
using ::paradym::webhooks::testing::SequenceOf;
using ::paradym::webhooks::testing::StartServer;
using ::paradym::webhooks::testing::UniqueBody;
using ::paradym::webhooks::testing::WaitFor;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kSecret[] = "replication-secret-7f3a";
constexpr char kStream[] = "PARADYM_WEBHOOKS";
// Paradym's deadline for a 200.
constexpr absl::Duration kParadymDeadline = absl::Seconds(5);
constexpr absl::Duration kTimeout = absl::Seconds(60);

std::string SignedPost(const std::string& body) {
  return PostRequest("/webhook", body, SignBody(kSecret, body));
}

std::chrono::system_clock::time_point Deadline(int seconds = 30) {
  return std::chrono::system_clock::now() + std::chrono::seconds(seconds);
}

// What a sender learned of one webhook.
struct Outcome {
  std::uint64_t sequence = 0;  // 0: pending replication
  absl::Duration took;
};

class ReplicationTest : public ::testing::Test {
 public:
  // The HTTP port of replica `i`, 0 while it is down.
  int HttpPort(int i) {
    absl::MutexLock lock(&mu_);
    return replicas_[i] == nullptr ? 0 : replicas_[i]->http_port();
  }

  // Replicas started so far, running or not.
  std::size_t ReplicaCount() {
    absl::MutexLock lock(&mu_);
    return replicas_.size();
  }

 protected:
  void StartCluster(int nodes) {
    NatsCluster::Options options;
    options.nodes = nodes;
    auto cluster = NatsCluster::Start(options);
    ASSERT_THAT(cluster, IsOk());
    cluster_ = *std::move(cluster);
  }

  // Starts replica `i` on its own data directory (kept across restarts).
  void StartReplica(int i, std::vector<std::string> extra = {}) {
    {
      // Senders may be reading replicas_ meanwhile.
      absl::MutexLock lock(&mu_);
      while (static_cast<int>(replicas_.size()) <= i) {
        replicas_.emplace_back();
        data_dirs_.push_back(MakeTempDir() + "/data");
      }
    }
    std::vector<std::string> args = {
        "--store=jetstream", "--nats_url=" + cluster_->urls(),
        absl::StrCat("--nats_replicas=", cluster_->size() == 1 ? 1 : 3),
        "--data_dir=" + data_dirs_[i]};
    args.insert(args.end(), extra.begin(), extra.end());
    auto server = StartServer(args, {{"PARADYM_WEBHOOK_SECRET", kSecret}});
    ASSERT_THAT(server, IsOk());
    absl::MutexLock lock(&mu_);
    replicas_[i] = *std::move(server);
  }

  void KillReplica(int i) {
    std::unique_ptr<ChildProcess> replica;
    {
      absl::MutexLock lock(&mu_);
      replica = std::move(replicas_[i]);
    }
    ASSERT_NE(replica, nullptr);
    ASSERT_EQ(::kill(replica->pid(), SIGKILL), 0);
    EXPECT_EQ(replica->Wait(kTimeout).value_or(-1), 128 + SIGKILL);
  }

  std::unique_ptr<v1::WebhookService::Stub> Stub(int i) {
    absl::MutexLock lock(&mu_);
    return v1::WebhookService::NewStub(grpc::CreateChannel(
        replicas_[i]->grpc_address(), grpc::InsecureChannelCredentials()));
  }

  HttpReply Post(int replica, const std::string& body) {
    absl::StatusOr<HttpReply> reply =
        HttpExchange(HttpPort(replica), SignedPost(body), kTimeout);
    EXPECT_THAT(reply, IsOk());
    return reply.ok() ? *reply : HttpReply{};
  }

  // Every event replica `i` serves, through ListEvents pages.
  std::vector<v1::Event> ListAll(int i) {
    return testing::ListAllEvents(*Stub(i));
  }

  // The stream's last sequence, from the cluster.
  std::uint64_t StreamLast() {
    auto info = cluster_->StreamInfo(kStream);
    EXPECT_THAT(info, IsOk());
    return info.ok() ? (*info)->State.LastSeq : 0;
  }

  // Waits until no replica has events left in its outbox and every replica
  // serves the whole stream; then checks they serve it identically, gap-free
  // and without a repeated body, and returns it.
  std::vector<v1::Event> Converged() {
    std::uint64_t last = 0;
    EXPECT_TRUE(WaitFor(
        [&] {
          for (std::size_t i = 0; i < ReplicaCount(); ++i) {
            absl::StatusOr<HttpReply> metrics =
                HttpExchange(HttpPort(i), GetRequest("/metrics"));
            if (!metrics.ok() ||
                !absl::StrContains(metrics->body,
                                   "paradym_webhooks_outbox_events 0\n")) {
              return false;
            }
          }
          last = StreamLast();
          for (std::size_t i = 0; i < ReplicaCount(); ++i) {
            grpc::ClientContext context;
            context.set_deadline(Deadline());
            v1::ListEventsRequest request;
            request.set_start_after_sequence(last > 0 ? last - 1 : 0);
            v1::ListEventsResponse response;
            if (!Stub(i)->ListEvents(&context, request, &response).ok() ||
                response.last_sequence() != last) {
              return false;
            }
          }
          return true;
        },
        kTimeout))
        << "the replicas did not converge";
    std::vector<v1::Event> first = ListAll(0);
    EXPECT_EQ(first.size(), last);
    std::map<std::string, std::uint64_t> bodies;
    for (std::size_t s = 0; s < first.size(); ++s) {
      EXPECT_EQ(first[s].sequence(), s + 1) << "a gap";
      auto [it, inserted] = bodies.emplace(first[s].body(), s + 1);
      EXPECT_TRUE(inserted)
          << "stored twice: sequences " << it->second << " and " << s + 1;
    }
    for (std::size_t i = 1; i < ReplicaCount(); ++i) {
      std::vector<v1::Event> other = ListAll(i);
      EXPECT_EQ(other.size(), first.size()) << "replica " << i;
      std::size_t differ = 0;
      for (std::size_t s = 0; s < std::min(first.size(), other.size()); ++s) {
        if (other[s].sequence() != first[s].sequence() ||
            other[s].body() != first[s].body()) {
          ++differ;
        }
      }
      EXPECT_EQ(differ, 0u) << "events replica " << i << " serves otherwise";
    }
    return first;
  }

  void TearDown() override {
    absl::MutexLock lock(&mu_);
    for (const auto& replica : replicas_) {
      if (replica != nullptr) {
        EXPECT_THAT(replica->Stderr(), Not(HasSubstr(kSecret)));
      }
    }
  }

  std::unique_ptr<NatsCluster> cluster_;
  absl::Mutex mu_;
  std::vector<std::unique_ptr<ChildProcess>> replicas_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> data_dirs_;
};

// Load from several senders spread over the replicas, like a load balancer
// in front of them: a sender whose replica is down moves to the next.
class Load {
 public:
  Load(ReplicationTest& test, int replicas, int senders, int max_per_sender)
      : test_(test) {
    for (int s = 0; s < senders; ++s) {
      threads_.emplace_back([this, s, replicas, max_per_sender] {
        Send(s, replicas, max_per_sender);
      });
    }
  }
  ~Load() { Stop(); }

  void Stop() {
    stop_ = true;
    for (auto& thread : threads_) {
      if (thread.joinable()) thread.join();
    }
  }
  int accepted() const { return accepted_.load(); }
  // Waits until `more` further webhooks got a 200.
  bool WaitForMore(int more) {
    const int target = accepted() + more;
    return WaitFor([&] { return accepted() >= target; }, kTimeout);
  }
  std::map<std::string, Outcome> outcomes() {
    absl::MutexLock lock(&mu_);
    return outcomes_;
  }
  int refused() const { return refused_.load(); }

 private:
  void Send(int sender, int replicas, int max_per_sender) {
    int replica = sender % replicas;
    std::unique_ptr<RawHttpConnection> connection;
    int port = 0;
    for (int i = 0; i < max_per_sender && !stop_; ++i) {
      const int current = test_.HttpPort(replica);
      if (current == 0 || connection == nullptr || current != port ||
          !connection->connected()) {
        if (current == 0) {
          replica = (replica + 1) % replicas;
          continue;
        }
        port = current;
        connection = std::make_unique<RawHttpConnection>(port);
      }
      const std::string body = UniqueBody(sender * max_per_sender + i);
      const absl::Time start = absl::Now();
      absl::StatusOr<HttpReply> reply =
          connection->Send(SignedPost(body))
              ? connection->Read(absl::Seconds(30))
              : absl::StatusOr<HttpReply>(absl::UnavailableError("send"));
      const absl::Duration took = absl::Now() - start;
      if (!reply.ok()) {
        // The replica died under the request: its outcome is unknown (it
        // may be in its outbox). Paradym would not retry it either.
        connection.reset();
        replica = (replica + 1) % replicas;
        continue;
      }
      if (reply->status != 200) {
        ++refused_;
        ADD_FAILURE() << "replica " << replica << " refused: " << reply->status
                      << " " << reply->body;
        continue;
      }
      Outcome outcome{SequenceOf(*reply), took};
      EXPECT_TRUE(outcome.sequence > 0 || PendingReplication(*reply))
          << reply->body;
      absl::MutexLock lock(&mu_);
      outcomes_[body] = outcome;
      ++accepted_;
    }
  }

  ReplicationTest& test_;
  std::atomic<bool> stop_{false};
  std::atomic<int> accepted_{0};
  std::atomic<int> refused_{0};
  absl::Mutex mu_;
  std::map<std::string, Outcome> outcomes_ ABSL_GUARDED_BY(mu_);
  std::vector<std::thread> threads_;
};

// Every webhook that got a 200 is in `stream` exactly once (at the sequence
// its 200 named, if it named one), and every 200 came within Paradym's
// deadline.
void ExpectEveryAcceptedOnce(const std::map<std::string, Outcome>& outcomes,
                             const std::vector<v1::Event>& stream) {
  std::map<std::string, std::uint64_t> in_stream;
  for (const v1::Event& event : stream) {
    in_stream[event.body()] = event.sequence();
  }
  int pending = 0;
  absl::Duration slowest;
  for (const auto& [body, outcome] : outcomes) {
    auto it = in_stream.find(body);
    ASSERT_NE(it, in_stream.end()) << "a webhook that got a 200 is lost";
    if (outcome.sequence != 0) {
      EXPECT_EQ(it->second, outcome.sequence);
    } else {
      ++pending;
    }
    slowest = std::max(slowest, outcome.took);
  }
  EXPECT_LT(slowest, kParadymDeadline);
  std::printf(
      "%zu webhooks got a 200 (%d pending replication), slowest %s; "
      "the stream holds %zu\n",
      outcomes.size(), pending, absl::FormatDuration(slowest).c_str(),
      stream.size());
}

TEST_F(ReplicationTest, AnEventAcceptedByOneReplicaReachesSubscribersOfAll) {
  StartCluster(3);
  StartReplica(0);
  StartReplica(1);
  // A live subscriber of replica 1.
  grpc::ClientContext context;
  context.set_deadline(Deadline());
  auto stub = Stub(1);
  auto reader = stub->Subscribe(&context, v1::SubscribeRequest());
  // Subscribe is live once ListEvents can be asked, which the hub
  // registers in order; give the stream a first event to be sure.
  const HttpReply first = Post(0, UniqueBody(1));
  ASSERT_EQ(first.status, 200) << first.body;
  EXPECT_EQ(SequenceOf(first), 1u);
  const HttpReply second = Post(0, UniqueBody(2));
  ASSERT_EQ(second.status, 200) << second.body;
  EXPECT_EQ(SequenceOf(second), 2u);
  v1::SubscribeResponse response;
  std::vector<std::uint64_t> seen;
  while (seen.empty() || seen.back() < 2) {
    ASSERT_TRUE(reader->Read(&response));
    for (const auto& event : response.events()) {
      seen.push_back(event.sequence());
      EXPECT_EQ(event.body(), UniqueBody(static_cast<int>(event.sequence())));
    }
  }
  context.TryCancel();
  EXPECT_EQ(seen.back(), 2u);

  // Through gRPC too, and the other way round.
  v1::IngestRequest ingest;
  ingest.set_body(UniqueBody(3));
  ingest.set_signature(SignBody(kSecret, ingest.body()));
  grpc::ClientContext ingest_context;
  ingest_context.set_deadline(Deadline());
  v1::IngestResponse ingested;
  ASSERT_THAT(stub->Ingest(&ingest_context, ingest, &ingested), IsOk());
  EXPECT_EQ(ingested.event().sequence(), 3u);
  EXPECT_FALSE(ingested.pending_replication());
  const std::vector<v1::Event> stream = Converged();
  ASSERT_EQ(stream.size(), 3u);
  absl::StatusOr<HttpReply> ready =
      HttpExchange(HttpPort(0), GetRequest("/readyz"));
  ASSERT_THAT(ready, IsOk());
  EXPECT_EQ(ready->status, 200) << ready->body;
}

TEST_F(ReplicationTest, AReplayToAnotherReplicaGetsTheOriginalSequence) {
  StartCluster(1);
  StartReplica(0);
  StartReplica(1);
  const std::string body = UniqueBody(1);
  ASSERT_EQ(SequenceOf(Post(0, UniqueBody(2))), 1u);
  const HttpReply original = Post(0, body);
  ASSERT_EQ(original.status, 200) << original.body;
  ASSERT_EQ(SequenceOf(original), 2u);
  // Once replica 1's copy of the stream holds it (see README "Replays" for
  // a replay that arrives sooner), a replay there is answered with it.
  ASSERT_TRUE(WaitFor(
      [&] {
        grpc::ClientContext context;
        context.set_deadline(Deadline());
        v1::ListEventsRequest request;
        request.set_start_after_sequence(1);
        v1::ListEventsResponse response;
        return Stub(1)->ListEvents(&context, request, &response).ok() &&
               response.events_size() == 1;
      },
      kTimeout));
  for (int replica : {1, 0, 1}) {
    SCOPED_TRACE(replica);
    const HttpReply replay = Post(replica, body);
    EXPECT_EQ(replay.status, 200) << replay.body;
    EXPECT_EQ(replay.body, "{\"sequence\":2}\n");
  }
  const std::vector<v1::Event> stream = Converged();
  ASSERT_EQ(stream.size(), 2u);
  EXPECT_EQ(StreamLast(), 2u);
  EXPECT_EQ(stream[1].body(), body);
}

TEST_F(ReplicationTest, NothingIsLostWhenTheLeaderAndAReplicaAreKilled) {
  StartCluster(3);
  for (int i = 0; i < 3; ++i) StartReplica(i);
  std::map<std::string, Outcome> outcomes;
  {
    Load load(*this, /*replicas=*/3, /*senders=*/3, /*max_per_sender=*/4000);
    ASSERT_TRUE(load.WaitForMore(150));

    absl::StatusOr<int> leader = cluster_->StreamLeader(kStream);
    ASSERT_THAT(leader, IsOk());
    ASSERT_THAT(cluster_->Kill(*leader), IsOk());
    ASSERT_TRUE(load.WaitForMore(300));  // through the election
    ASSERT_THAT(cluster_->Restart(*leader), IsOk());
    ASSERT_TRUE(load.WaitForMore(150));

    KillReplica(1);
    ASSERT_TRUE(load.WaitForMore(150));
    StartReplica(1);  // on its data directory, its outbox maybe not empty
    ASSERT_TRUE(load.WaitForMore(150));
    load.Stop();
    EXPECT_EQ(load.refused(), 0);
    outcomes = load.outcomes();
  }
  const std::vector<v1::Event> stream = Converged();
  ExpectEveryAcceptedOnce(outcomes, stream);

  // A subscriber that read up to N on replica 0 resumes on replica 2 after
  // N with no gap and no repeat.
  const std::uint64_t half = stream.size() / 2;
  std::vector<std::uint64_t> seen;
  for (int replica : {0, 2}) {
    grpc::ClientContext context;
    context.set_deadline(Deadline(60));
    v1::SubscribeRequest request;
    request.set_start_after_sequence(seen.empty() ? 0 : seen.back());
    auto reader = Stub(replica)->Subscribe(&context, request);
    const std::uint64_t until = replica == 0 ? half : stream.size();
    v1::SubscribeResponse response;
    while ((seen.empty() || seen.back() < until) && reader->Read(&response)) {
      for (const auto& event : response.events()) {
        if (!seen.empty() && seen.back() >= until) break;
        seen.push_back(event.sequence());
      }
    }
    context.TryCancel();
  }
  ASSERT_EQ(seen.size(), stream.size());
  for (std::size_t i = 0; i < seen.size(); ++i) ASSERT_EQ(seen[i], i + 1);
}

TEST_F(ReplicationTest, TheWholeClusterDownLongerThanTheDuplicateWindow) {
  StartCluster(3);
  // A short wait for the stream keeps the test short: each webhook in the
  // outage waits it out.
  const std::vector<std::string> flags = {"--nats_duplicate_window=1s",
                                          "--outbox_ready_limit=10",
                                          "--replication_wait=200ms"};
  StartReplica(0, flags);
  StartReplica(1, flags);
  std::map<std::string, Outcome> outcomes;
  int n = 0;
  auto post = [&](int replica) {
    const std::string body = UniqueBody(++n);
    const absl::Time start = absl::Now();
    const HttpReply reply = Post(replica, body);
    ASSERT_EQ(reply.status, 200) << reply.body;
    outcomes[body] = {SequenceOf(reply), absl::Now() - start};
  };
  for (int i = 0; i < 10; ++i) post(i % 2);
  for (int node = 0; node < 3; ++node) {
    ASSERT_THAT(cluster_->Kill(node), IsOk());
  }

  // Every webhook is still answered 200 within the deadline, from the
  // outboxes, saying it is pending replication.
  for (int i = 0; i < 30; ++i) {
    post(i % 2);
    EXPECT_EQ(outcomes[UniqueBody(n)].sequence, 0u);
  }
  // The Ingest RPC and the command-line client say so too.
  v1::IngestRequest ingest;
  ingest.set_body(UniqueBody(++n));
  ingest.set_signature(SignBody(kSecret, ingest.body()));
  grpc::ClientContext ingest_context;
  ingest_context.set_deadline(Deadline());
  v1::IngestResponse ingested;
  const absl::Time ingest_start = absl::Now();
  ASSERT_THAT(Stub(0)->Ingest(&ingest_context, ingest, &ingested), IsOk());
  EXPECT_TRUE(ingested.pending_replication());
  EXPECT_EQ(ingested.event().sequence(), 0u);
  EXPECT_EQ(ingested.event().body(), ingest.body());
  outcomes[ingest.body()] = {0, absl::Now() - ingest_start};
  absl::StatusOr<testing::CommandResult> sent = testing::RunCommand(
      PathFromEnv("PARADYM_WEBHOOKS_CLI"),
      {"send", "workflowExecution.completed",
       absl::StrCat("--url=http://127.0.0.1:", HttpPort(0), "/webhook")},
      {{"PARADYM_WEBHOOK_SECRET", kSecret}});
  ASSERT_THAT(sent, IsOk());
  EXPECT_EQ(sent->exit_code, 0) << sent->err;
  EXPECT_EQ(sent->out, "200 pending_replication workflowExecution.completed\n");

  // A replica restarted meanwhile keeps its outbox.
  KillReplica(1);
  StartReplica(1, flags);
  for (int i = 0; i < 6; ++i) post(1);
  // Past the bound, a replica that cannot reach the stream is not ready.
  absl::StatusOr<HttpReply> ready =
      HttpExchange(HttpPort(1), GetRequest("/readyz"));
  ASSERT_THAT(ready, IsOk());
  EXPECT_EQ(ready->status, 503) << ready->body;
  EXPECT_EQ(ErrorReasonOf(*ready), "REPLICATION_STALLED");

  // Longer than the duplicate window.
  absl::SleepFor(absl::Seconds(2));
  for (int node = 0; node < 3; ++node) {
    ASSERT_THAT(
        cluster_->Restart(node, node < 2 ? NatsCluster::Await::kClientPort
                                         : NatsCluster::Await::kJetStream),
        IsOk());
  }
  const std::vector<v1::Event> stream = Converged();
  // ... and the command-line client's sample.
  EXPECT_EQ(stream.size(), outcomes.size() + 1);
  ExpectEveryAcceptedOnce(outcomes, stream);
  ASSERT_TRUE(WaitFor(
      [&] {
        absl::StatusOr<HttpReply> ready =
            HttpExchange(HttpPort(1), GetRequest("/readyz"));
        return ready.ok() && ready->status == 200;
      },
      kTimeout));
}

}  // namespace
}  // namespace paradym::webhooks
