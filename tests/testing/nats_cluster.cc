#include "tests/testing/nats_cluster.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/substitute.h"
#include "absl/time/clock.h"
#include "tests/testing/wait_for.h"

namespace paradym::webhooks::testing {
namespace {

constexpr char kDefaultBinary[] = "/usr/sbin/nats-server";  // Debian's
// Short, so that a dead node costs little while polling.
constexpr int64_t kConnectTimeoutMillis = 500;
// While a node starts, its JetStream requests go unanswered until the meta
// leader is elected (about 200 ms for three nodes): ask again soon.
constexpr int64_t kReadyWaitMillis = 250;
// Longer, so that one StreamLeader on a busy machine does not mistake a slow
// answer for a missing leader.
constexpr int64_t kStreamInfoWaitMillis = 1000;
constexpr absl::Duration kPollInterval = absl::Milliseconds(100);
constexpr absl::Duration kKillTimeout = absl::Seconds(10);

absl::Status Errno(absl::string_view what) {
  return absl::InternalError(absl::StrCat(what, ": ", std::strerror(errno)));
}

// Free TCP ports on 127.0.0.1, all different: each is bound (port 0) until
// all are picked, then released for the servers. Another process may take
// one in between; that race is accepted.
absl::StatusOr<std::vector<int>> PickFreePorts(int count) {
  std::vector<int> fds;
  std::vector<int> ports;
  absl::Status status;
  while (status.ok() && static_cast<int>(ports.size()) < count) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      status = Errno("socket");
      break;
    }
    fds.push_back(fd);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&address), length) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) !=
            0) {
      status = Errno("bind 127.0.0.1:0");
      break;
    }
    ports.push_back(ntohs(address.sin_port));
  }
  for (int fd : fds) ::close(fd);
  if (!status.ok()) return status;
  return ports;
}

// Whether the child `pid` has exited, without reaping it (ChildProcess does).
bool Exited(pid_t pid) {
  siginfo_t info{};
  if (::waitid(P_PID, pid, &info, WEXITED | WNOHANG | WNOWAIT) != 0) {
    return true;  // reaped already
  }
  return info.si_pid == pid;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream contents;
  contents << in.rdbuf();
  return contents.str();
}

std::string LastLines(const std::string& text, int lines) {
  std::size_t start = text.size();
  if (start > 0 && text[start - 1] == '\n') --start;
  for (int i = 0; i < lines && start > 0; ++i) {
    start = text.rfind('\n', start - 1);
    if (start == std::string::npos) return text;
  }
  return text.substr(start == text.size() ? start : start + 1);
}

absl::StatusOr<CnatsPtr<jsCtx>> JetStreamOf(natsConnection* connection,
                                            int64_t wait_millis) {
  jsOptions options;
  jsOptions_Init(&options);
  options.Wait = wait_millis;
  jsCtx* js = nullptr;
  const natsStatus status = natsConnection_JetStream(&js, connection, &options);
  CnatsPtr<jsCtx> owned(js);
  if (status != NATS_OK) return CnatsStatus(status, "JetStream context");
  return owned;
}

}  // namespace

absl::Status CnatsStatus(natsStatus status, absl::string_view what,
                         jsErrCode js_error) {
  if (status == NATS_OK) return absl::OkStatus();
  std::string message = absl::StrCat(what, ": ", natsStatus_GetText(status));
  const char* detail = nats_GetLastError(nullptr);
  if (detail != nullptr && *detail != '\0') {
    absl::StrAppend(&message, " (", detail, ")");
  }
  if (js_error != 0) {
    absl::StrAppend(&message, " [JetStream error ", js_error, "]");
  }
  if (status == NATS_NOT_FOUND || js_error == JSStreamNotFoundErr) {
    return absl::NotFoundError(message);
  }
  if (js_error == JSClusterNotAvailErr) return absl::UnavailableError(message);
  switch (status) {
    case NATS_TIMEOUT:
      return absl::DeadlineExceededError(message);
    case NATS_NO_SERVER:
    case NATS_NO_RESPONDERS:
    case NATS_CONNECTION_CLOSED:
    case NATS_CONNECTION_DISCONNECTED:
    case NATS_IO_ERROR:
    case NATS_STALE_CONNECTION:
      return absl::UnavailableError(message);
    case NATS_CONNECTION_AUTH_FAILED:
    case NATS_NOT_PERMITTED:
      return absl::PermissionDeniedError(message);
    default:
      return absl::UnknownError(message);
  }
}

absl::StatusOr<std::unique_ptr<NatsCluster>> NatsCluster::Start(
    Options options) {
  if (options.nodes < 1) {
    return absl::InvalidArgumentError("a cluster needs at least one node");
  }
  std::unique_ptr<NatsCluster> cluster(new NatsCluster(std::move(options)));
  const char* binary = std::getenv("NATS_SERVER");
  cluster->binary_ = binary != nullptr && *binary ? binary : kDefaultBinary;
  const int size = cluster->options_.nodes;
  absl::StatusOr<std::vector<int>> ports = PickFreePorts(2 * size);
  if (!ports.ok()) return ports.status();
  const std::string root = MakeTempDir();
  cluster->nodes_.resize(size);
  for (int i = 0; i < size; ++i) {
    Node& node = cluster->nodes_[i];
    node.dir = absl::StrCat(root, "/", cluster->name(i));
    node.client_port = (*ports)[2 * i];
    node.cluster_port = (*ports)[2 * i + 1];
    if (::mkdir(node.dir.c_str(), 0700) != 0) return Errno(node.dir);
  }
  for (int i = 0; i < size; ++i) {
    if (absl::Status written = cluster->WriteConfig(i); !written.ok()) {
      return written;
    }
  }
  // All processes first, so that they find each other while we wait.
  for (int i = 0; i < size; ++i) {
    if (absl::Status launched = cluster->Launch(i); !launched.ok()) {
      return launched;
    }
  }
  const absl::Time deadline = absl::Now() + cluster->options_.start_timeout;
  for (int i = 0; i < size; ++i) {
    absl::Status ready = cluster->WaitUntil(i, Await::kJetStream, deadline);
    if (!ready.ok()) return ready;
  }
  return cluster;
}

NatsCluster::~NatsCluster() {
  // Signal all first: the survivors would otherwise spend the shutdown
  // electing leaders among themselves.
  for (Node& node : nodes_) {
    if (node.process != nullptr) ::kill(node.process->pid(), SIGKILL);
  }
  for (Node& node : nodes_) node.process.reset();  // reaps
}

std::string NatsCluster::urls() const {
  std::vector<std::string> all;
  for (int i = 0; i < size(); ++i) all.push_back(url(i));
  return absl::StrJoin(all, ",");
}

std::string NatsCluster::url(int node) const {
  return absl::StrCat("nats://127.0.0.1:", nodes_.at(node).client_port);
}

std::string NatsCluster::name(int node) const {
  return absl::StrCat("n", node + 1);
}

std::string NatsCluster::config_path(int node) const {
  return nodes_.at(node).dir + "/nats.conf";
}

std::string NatsCluster::store_dir(int node) const {
  return nodes_.at(node).dir + "/store";
}

std::string NatsCluster::log_path(int node) const {
  return nodes_.at(node).dir + "/nats.log";
}

std::string NatsCluster::LogTail(int node, int lines) const {
  const Node& n = nodes_.at(node);
  std::string tail =
      absl::StrCat("--- ", log_path(node), " (last ", lines, " lines)\n",
                   LastLines(ReadFile(log_path(node)), lines));
  const std::string stderr_text =
      n.process != nullptr ? n.process->Stderr() : n.last_stderr;
  if (!stderr_text.empty()) {
    absl::StrAppend(&tail, "\n--- stderr\n", LastLines(stderr_text, lines));
  }
  return tail;
}

bool NatsCluster::running(int node) const {
  const Node& n = nodes_.at(node);
  return n.process != nullptr && !Exited(n.process->pid());
}

absl::Status NatsCluster::Kill(int node) {
  if (absl::Status valid = CheckIndex(node); !valid.ok()) return valid;
  if (nodes_[node].process == nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat(name(node), " is not running"));
  }
  const absl::StatusOr<int> exit_code = Reap(node, SIGKILL, kKillTimeout);
  if (!exit_code.ok()) return exit_code.status();
  if (*exit_code != 128 + SIGKILL) {
    return absl::FailedPreconditionError(
        absl::StrCat(name(node), " had already exited with code ", *exit_code,
                     "\n", LogTail(node)));
  }
  return absl::OkStatus();
}

absl::Status NatsCluster::Stop(int node, absl::Duration timeout) {
  if (absl::Status valid = CheckIndex(node); !valid.ok()) return valid;
  if (nodes_[node].process == nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat(name(node), " is not running"));
  }
  const absl::StatusOr<int> exit_code = Reap(node, SIGTERM, timeout);
  if (!exit_code.ok()) {
    return absl::DeadlineExceededError(absl::StrCat(
        name(node), " did not shut down: ", exit_code.status().message(), "\n",
        LogTail(node)));
  }
  // nats-server 2.9 exits with 1 after a complete shutdown on SIGTERM.
  if (*exit_code != 0 && *exit_code != 1) {
    return absl::InternalError(absl::StrCat(name(node), " exited with code ",
                                            *exit_code, "\n", LogTail(node)));
  }
  return absl::OkStatus();
}

absl::Status NatsCluster::Restart(int node, Await await,
                                  absl::Duration timeout) {
  if (absl::Status valid = CheckIndex(node); !valid.ok()) return valid;
  if (running(node)) {
    return absl::FailedPreconditionError(
        absl::StrCat(name(node), " is running"));
  }
  if (nodes_[node].process != nullptr) {
    // It exited by itself (its log says why).
    (void)Reap(node, SIGKILL, kKillTimeout);
  }
  if (absl::Status launched = Launch(node); !launched.ok()) return launched;
  return WaitUntil(node, await, absl::Now() + timeout);
}

absl::StatusOr<CnatsPtr<natsConnection>> NatsCluster::Connect(
    const std::string& urls) const {
  // About a minute of reconnecting, fast enough to follow a failover.
  return ConnectTo(urls, /*max_reconnects=*/600);
}

absl::StatusOr<CnatsPtr<natsConnection>> NatsCluster::ConnectTo(
    const std::string& urls, int max_reconnects) const {
  natsOptions* raw = nullptr;
  natsStatus status = natsOptions_Create(&raw);
  CnatsPtr<natsOptions> options(raw);
  // Not natsOptions_SetURL: cnats 3.4.1 takes a list there for one URL.
  const std::vector<std::string> list = absl::StrSplit(urls, ',');
  std::vector<const char*> servers;
  for (const std::string& server : list) servers.push_back(server.c_str());
  if (status == NATS_OK) {
    status = natsOptions_SetServers(raw, servers.data(),
                                    static_cast<int>(servers.size()));
  }
  if (status == NATS_OK) {
    status = natsOptions_SetTimeout(raw, kConnectTimeoutMillis);
  }
  if (status == NATS_OK && max_reconnects > 0) {
    status = natsOptions_SetReconnectWait(raw, 100);
  }
  if (status == NATS_OK) {
    status = max_reconnects > 0
                 ? natsOptions_SetMaxReconnect(raw, max_reconnects)
                 : natsOptions_SetAllowReconnect(raw, false);
  }
  if (status == NATS_OK && options_.configure_client) {
    status = options_.configure_client(raw);
  }
  if (status != NATS_OK) return CnatsStatus(status, "client options");
  natsConnection* connection = nullptr;
  status = natsConnection_Connect(&connection, raw);
  CnatsPtr<natsConnection> owned(connection);
  if (status != NATS_OK) {
    return CnatsStatus(status, absl::StrCat("connect to ", urls));
  }
  return owned;
}

absl::StatusOr<CnatsPtr<jsStreamInfo>> NatsCluster::StreamInfo(
    const std::string& stream) {
  absl::Status last = absl::UnavailableError("no node is running");
  bool asked = false;
  for (int i = 0; i < size(); ++i) {
    if (!running(i)) continue;
    absl::StatusOr<CnatsPtr<natsConnection>> connection = ConnectOnce(i);
    if (!connection.ok()) {
      last = connection.status();
      continue;
    }
    absl::StatusOr<CnatsPtr<jsCtx>> js =
        JetStreamOf(connection->get(), kStreamInfoWaitMillis);
    if (!js.ok()) return js.status();
    jsStreamInfo* info = nullptr;
    jsErrCode js_error = static_cast<jsErrCode>(0);
    const natsStatus status =
        js_GetStreamInfo(&info, js->get(), stream.c_str(), nullptr, &js_error);
    CnatsPtr<jsStreamInfo> owned(info);
    if (status == NATS_OK) return owned;
    asked = true;
    last = CnatsStatus(
        status, absl::StrCat("stream info of ", stream, " through ", name(i)),
        js_error);
    if (absl::IsNotFound(last)) return last;
    // A timeout means no leader, whichever node we ask; anything else may be
    // this node's trouble (not in the cluster yet, say): ask another.
    if (absl::IsDeadlineExceeded(last)) break;
  }
  if (!asked) return last;
  return absl::NotFoundError(
      absl::StrCat("stream ", stream, " has no leader: ", last.message()));
}

absl::StatusOr<int> NatsCluster::StreamLeader(const std::string& stream) {
  absl::StatusOr<CnatsPtr<jsStreamInfo>> info = StreamInfo(stream);
  if (!info.ok()) return info.status();
  if (size() == 1) return 0;  // it has no cluster to name a leader
  const jsClusterInfo* cluster = (*info)->Cluster;
  if (cluster == nullptr || cluster->Leader == nullptr ||
      *cluster->Leader == '\0') {
    return absl::NotFoundError(
        absl::StrCat("stream ", stream, " has no leader"));
  }
  for (int i = 0; i < size(); ++i) {
    if (name(i) == cluster->Leader) return i;
  }
  return absl::InternalError(absl::StrCat(
      "stream ", stream, " is led by unknown server ", cluster->Leader));
}

absl::StatusOr<int> NatsCluster::WaitForStreamLeader(const std::string& stream,
                                                     absl::Duration timeout) {
  absl::StatusOr<int> leader;
  if (WaitFor([&] { return (leader = StreamLeader(stream)).ok(); }, timeout,
              kPollInterval)) {
    return leader;
  }
  return absl::DeadlineExceededError(absl::StrCat(
      "no leader for stream ", stream, " within ",
      absl::FormatDuration(timeout), ": ", leader.status().message()));
}

absl::Status NatsCluster::CheckIndex(int node) const {
  if (node < 0 || node >= size()) {
    return absl::OutOfRangeError(
        absl::StrCat("node ", node, " is not in 0..", size() - 1));
  }
  return absl::OkStatus();
}

absl::Status NatsCluster::WriteConfig(int node) const {
  const Node& n = nodes_[node];
  std::string config = absl::Substitute(R"(# Written by NatsCluster.
server_name: $0
listen: 127.0.0.1:$1
log_file: "$2"
logtime: true
debug: false
trace: false
jetstream {
  store_dir: "$3"
  max_memory_store: 64MB
  max_file_store: 1GB
}
)",
                                        name(node), n.client_port,
                                        log_path(node), store_dir(node));
  if (size() > 1) {
    std::vector<std::string> routes;
    for (int i = 0; i < size(); ++i) {
      if (i == node) continue;
      routes.push_back(
          absl::StrCat("nats-route://127.0.0.1:", nodes_[i].cluster_port));
    }
    absl::SubstituteAndAppend(&config, R"(cluster {
  name: paradym
  listen: 127.0.0.1:$0
  routes: [$1]
}
)",
                              n.cluster_port, absl::StrJoin(routes, ", "));
  }
  absl::StrAppend(&config, options_.extra_config, "\n");
  std::ofstream out(config_path(node), std::ios::binary | std::ios::trunc);
  out << config;
  out.close();
  if (!out) {
    return absl::InternalError(
        absl::StrCat("cannot write ", config_path(node)));
  }
  return absl::OkStatus();
}

absl::Status NatsCluster::Launch(int node) {
  ChildProcess::Options options;
  options.binary = binary_;
  options.args = {"-c", config_path(node)};
  absl::StatusOr<std::unique_ptr<ChildProcess>> process =
      ChildProcess::Start(std::move(options));
  if (!process.ok()) return process.status();
  nodes_[node].process = std::move(process).value();
  nodes_[node].last_stderr.clear();
  return absl::OkStatus();
}

absl::StatusOr<int> NatsCluster::Reap(int node, int signal,
                                      absl::Duration timeout) {
  Node& n = nodes_[node];
  absl::StatusOr<int> exit_code = n.process->Stop(signal, timeout);
  n.last_stderr = n.process->Stderr();
  n.process.reset();
  return exit_code;
}

absl::StatusOr<CnatsPtr<natsConnection>> NatsCluster::ConnectOnce(
    int node) const {
  absl::StatusOr<CnatsPtr<natsConnection>> connection =
      ConnectTo(url(node), /*max_reconnects=*/0);
  if (!connection.ok()) {
    return absl::Status(
        connection.status().code(),
        absl::StrCat(name(node), ": ", connection.status().message()));
  }
  return connection;
}

absl::Status NatsCluster::JetStreamAnswers(int node) const {
  absl::StatusOr<CnatsPtr<natsConnection>> connection = ConnectOnce(node);
  if (!connection.ok()) return connection.status();
  absl::StatusOr<CnatsPtr<jsCtx>> js =
      JetStreamOf(connection->get(), kReadyWaitMillis);
  if (!js.ok()) return js.status();
  jsAccountInfo* info = nullptr;
  jsErrCode js_error = static_cast<jsErrCode>(0);
  const natsStatus status =
      js_GetAccountInfo(&info, js->get(), nullptr, &js_error);
  CnatsPtr<jsAccountInfo> owned(info);
  return CnatsStatus(
      status, absl::StrCat("JetStream account info through ", name(node)),
      js_error);
}

absl::Status NatsCluster::WaitUntil(int node, Await await,
                                    absl::Time deadline) {
  bool exited = false;
  absl::Status ready;
  const auto ready_or_exited = [&] {
    exited = !running(node);
    if (exited) return true;
    ready = await == Await::kJetStream ? JetStreamAnswers(node)
                                       : ConnectOnce(node).status();
    return ready.ok();
  };
  WaitFor(ready_or_exited, deadline - absl::Now(), kPollInterval);
  if (exited) {
    const absl::StatusOr<int> exit_code = Reap(node, SIGKILL, kKillTimeout);
    return absl::UnavailableError(absl::StrCat(
        name(node), " exited while starting (",
        exit_code.ok() ? absl::StrCat("code ", *exit_code)
                       : exit_code.status().ToString(),
        exit_code.ok() && *exit_code == 127 ? ", could not run " : "",
        exit_code.ok() && *exit_code == 127 ? binary_ : "", ")\n",
        LogTail(node)));
  }
  if (ready.ok()) return ready;
  return absl::UnavailableError(absl::StrCat(name(node), " at ", url(node),
                                             " is not ready: ", ready.message(),
                                             "\n", LogTail(node)));
}

}  // namespace paradym::webhooks::testing
