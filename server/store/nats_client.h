// A connection to a NATS cluster with JetStream, as the JetStream event log
// uses it: one cnats connection that reconnects on its own, forever, to any
// of the configured servers, with TLS and credentials as configured.
//
//   absl::StatusOr<std::unique_ptr<NatsClient>> client = NatsClient::Connect(
//       {.servers = {"nats://10.0.0.1:4222", "nats://10.0.0.2:4222"}});
//   absl::StatusOr<std::string> reply = (*client)->Request(
//       "$JS.API.STREAM.INFO.PARADYM_WEBHOOKS", "", absl::Seconds(2));
//
// Connect succeeds while no server is reachable (the connection keeps
// trying in the background), so that a replica can take webhooks into its
// outbox while the cluster is down; it fails on options that cannot work (a
// missing CA file, a malformed URL) and on a server that refuses them (a
// wrong password, a certificate it does not trust).
//
// Safe for concurrent use by multiple threads (cnats connections are).

#ifndef PARADYM_WEBHOOKS_SERVER_STORE_NATS_CLIENT_H_
#define PARADYM_WEBHOOKS_SERVER_STORE_NATS_CLIENT_H_

#include <nats/nats.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace paradym::webhooks {

// Destroys cnats objects held in std::unique_ptr.
struct NatsDeleter {
  void operator()(natsMsg* msg) const { natsMsg_Destroy(msg); }
  void operator()(jsMsgMetaData* meta) const { jsMsgMetaData_Destroy(meta); }
  void operator()(jsStreamInfo* info) const { jsStreamInfo_Destroy(info); }
};
using NatsMsgPtr = std::unique_ptr<natsMsg, NatsDeleter>;

// The status for a failed cnats call: UNAVAILABLE when the cluster cannot
// be reached or did not answer in time, NOT_FOUND, INVALID_ARGUMENT or
// FAILED_PRECONDITION for what a retry does not mend. The message says what
// was being done and cnats's own text (which never holds a secret). The
// reason is STREAM_ERROR.
absl::Status NatsError(natsStatus status, absl::string_view doing);

class NatsClient {
 public:
  struct Options {
    // nats://host:port or tls://host:port, any number.
    std::vector<std::string> servers;
    // The connection name the servers show (monitoring, logs).
    std::string name = "paradym-webhooksd";
    // A NATS credentials file (user JWT and NKey seed), for servers in
    // operator mode.
    std::string creds_file;
    // User and password, the password read from a file.
    std::string user;
    std::string password_file;
    // TLS: the CA that signed the servers' certificates; a client
    // certificate and key for servers that verify clients. Any of them
    // turns TLS on.
    std::string tls_ca_file;
    std::string tls_cert_file;
    std::string tls_key_file;
    // How long one connection attempt may take.
    absl::Duration connect_timeout = absl::Seconds(2);
  };

  static absl::StatusOr<std::unique_ptr<NatsClient>> Connect(
      const Options& options);

  ~NatsClient();  // closes the connection
  NatsClient(const NatsClient&) = delete;
  NatsClient& operator=(const NatsClient&) = delete;

  natsConnection* connection() const { return connection_; }
  jsCtx* jetstream() const { return jetstream_; }

  // Whether the connection is up now.
  bool connected() const;

  // The largest message the servers take (their max_payload), or 0 before
  // the first connection.
  std::int64_t max_payload() const;

  // Sends `payload` to `subject` and returns the reply's data. UNAVAILABLE
  // when nobody answers within `timeout` or the connection is down.
  absl::StatusOr<std::string> Request(const std::string& subject,
                                      absl::string_view payload,
                                      absl::Duration timeout) const;

 private:
  NatsClient() = default;

  natsConnection* connection_ = nullptr;
  jsCtx* jetstream_ = nullptr;
};

}  // namespace paradym::webhooks

#endif  // PARADYM_WEBHOOKS_SERVER_STORE_NATS_CLIENT_H_
