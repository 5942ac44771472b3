// A JetStream cluster of real nats-server processes on 127.0.0.1, for
// integration tests that need to kill, stop and restart servers.
//
// Every node gets its own directory with its config file, its file store and
// its log, and free client and cluster ports that it keeps across restarts:
//
//   absl::StatusOr<std::unique_ptr<NatsCluster>> cluster =
//       NatsCluster::Start(NatsCluster::Options());  // 3 nodes
//   ASSERT_THAT(cluster, IsOk());
//   // ... create stream "EVENTS" with 3 replicas through (*cluster)->urls()
//   absl::StatusOr<int> leader = (*cluster)->StreamLeader("EVENTS");
//   ASSERT_THAT((*cluster)->Kill(*leader), IsOk());  // kill -9
//   ASSERT_THAT((*cluster)->WaitForStreamLeader("EVENTS", absl::Seconds(15)),
//               IsOk());
//   ASSERT_THAT((*cluster)->Restart(*leader), IsOk());
//
// Nodes are numbered 0 .. size() - 1; node i has the server_name "n<i+1>".
// The binary is $NATS_SERVER when set, else /usr/sbin/nats-server (Debian's).
//
// The cluster talks to its nodes with cnats (never calling nats_Close(), so
// other cnats users in the process are unaffected). Not thread-safe: one
// thread drives a cluster.

#ifndef PARADYM_WEBHOOKS_TESTS_TESTING_NATS_CLUSTER_H_
#define PARADYM_WEBHOOKS_TESTS_TESTING_NATS_CLUSTER_H_

#include <nats/nats.h>

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "tests/testing/server_process.h"

namespace paradym::webhooks::testing {

// Destroys cnats objects, for CnatsPtr.
struct CnatsDeleter {
  void operator()(natsOptions* options) const { natsOptions_Destroy(options); }
  void operator()(natsConnection* connection) const {
    natsConnection_Destroy(connection);
  }
  void operator()(jsCtx* js) const { jsCtx_Destroy(js); }
  void operator()(jsStreamInfo* info) const { jsStreamInfo_Destroy(info); }
  void operator()(jsAccountInfo* info) const { jsAccountInfo_Destroy(info); }
  void operator()(jsPubAck* ack) const { jsPubAck_Destroy(ack); }
};
template <typename T>
using CnatsPtr = std::unique_ptr<T, CnatsDeleter>;

// OK for NATS_OK; otherwise `what` with cnats' text of the error (which names
// the server's reason, e.g. "stream not found"). NOT_FOUND for a missing
// stream, DEADLINE_EXCEEDED for a timeout, UNAVAILABLE when no server could be
// reached or none answered, PERMISSION_DENIED when the server refused us.
absl::Status CnatsStatus(natsStatus status, absl::string_view what,
                         jsErrCode js_error = static_cast<jsErrCode>(0));

class NatsCluster {
 public:
  struct Options {
    // 1: a single JetStream server without a cluster block.
    int nodes = 3;
    // Appended to every node's config file, e.g. an authorization block.
    std::string extra_config;
    // Applied to every connection the cluster and Connect() make, e.g.
    // natsOptions_SetUserInfo for an authorization block in extra_config.
    std::function<natsStatus(natsOptions*)> configure_client;
    // How long Start waits for JetStream to answer through every node.
    absl::Duration start_timeout = absl::Seconds(30);
  };

  // What Restart waits for.
  enum class Await {
    kClientPort,  // the node accepts client connections
    kJetStream,   // JetStream answers through the node (needs a quorum)
  };

  // Starts the nodes and waits until a connection to each of them can get the
  // JetStream account info (so the meta leader is elected). UNAVAILABLE,
  // naming the node and the tail of its log, when that takes longer than
  // options.start_timeout or a node exits.
  static absl::StatusOr<std::unique_ptr<NatsCluster>> Start(Options options);

  NatsCluster(const NatsCluster&) = delete;
  NatsCluster& operator=(const NatsCluster&) = delete;
  // Kills (SIGKILL) every node still running; leaves the directories.
  ~NatsCluster();

  int size() const { return static_cast<int>(nodes_.size()); }

  // "nats://127.0.0.1:P1,nats://127.0.0.1:P2,..." for all nodes.
  std::string urls() const;
  // "nats://127.0.0.1:P" for one node.
  std::string url(int node) const;
  // "n<node + 1>", the node's server_name.
  std::string name(int node) const;
  std::string config_path(int node) const;
  // The config's jetstream store_dir (the server keeps its data in a
  // "jetstream" directory below it).
  std::string store_dir(int node) const;
  std::string log_path(int node) const;
  // The last `lines` lines of the node's log and anything its latest process
  // wrote to stderr.
  std::string LogTail(int node, int lines = 30) const;

  // Whether the node's process is alive.
  bool running(int node) const;

  // SIGKILL, waiting for the exit. The node keeps its ports and store.
  absl::Status Kill(int node);
  // SIGTERM (graceful shutdown), waiting at most `timeout` for the exit.
  absl::Status Stop(int node, absl::Duration timeout = absl::Seconds(20));
  // Starts a killed, stopped or crashed node again with the same config,
  // ports and store, and waits at most `timeout` for `await`.
  absl::Status Restart(int node, Await await = Await::kJetStream,
                       absl::Duration timeout = absl::Seconds(30));

  // A connection to `urls` (e.g. urls() or url(i)) with configure_client
  // applied, which reconnects to the other servers it knows when its server
  // goes away.
  absl::StatusOr<CnatsPtr<natsConnection>> Connect(
      const std::string& urls) const;

  // $JS.API.STREAM.INFO.<stream> through the first running node that
  // answers. NOT_FOUND when the stream does not exist or has no leader;
  // UNAVAILABLE when no node could be reached.
  absl::StatusOr<CnatsPtr<jsStreamInfo>> StreamInfo(const std::string& stream);

  // The node that leads `stream` now (from StreamInfo). NOT_FOUND when there
  // is no such stream or no leader yet.
  absl::StatusOr<int> StreamLeader(const std::string& stream);

  // Waits at most `timeout` until `stream` has a leader and StreamLeader
  // answers; returns that leader. DEADLINE_EXCEEDED with the last error
  // otherwise.
  absl::StatusOr<int> WaitForStreamLeader(const std::string& stream,
                                          absl::Duration timeout);

 private:
  struct Node {
    std::string dir;
    int client_port = 0;
    int cluster_port = 0;
    std::unique_ptr<ChildProcess> process;  // null when not started
    std::string last_stderr;                // of the reaped process
  };

  explicit NatsCluster(Options options) : options_(std::move(options)) {}

  absl::Status CheckIndex(int node) const;
  absl::Status WriteConfig(int node) const;
  absl::Status Launch(int node);
  // Sends `signal`, waits for the exit and forgets the process.
  absl::StatusOr<int> Reap(int node, int signal, absl::Duration timeout);
  // A connection without reconnects, for one question to one node.
  absl::StatusOr<CnatsPtr<natsConnection>> ConnectOnce(int node) const;
  // A connection to `urls` that reconnects up to `max_reconnects` times
  // (0: never), with configure_client applied.
  absl::StatusOr<CnatsPtr<natsConnection>> ConnectTo(const std::string& urls,
                                                     int max_reconnects) const;
  absl::Status JetStreamAnswers(int node) const;
  // UNAVAILABLE with the node's log when it exits or the deadline passes.
  absl::Status WaitUntil(int node, Await await, absl::Time deadline);

  Options options_;
  std::string binary_;
  std::vector<Node> nodes_;
};

}  // namespace paradym::webhooks::testing

#endif  // PARADYM_WEBHOOKS_TESTS_TESTING_NATS_CLUSTER_H_
