#include "server/store/nats_client.h"

#include <fstream>
#include <iterator>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "server/core/errors.h"
#include "server/core/private_file.h"
#include "server/core/status_macros.h"
#include "server/core/structured_log.h"

namespace paradym::webhooks {
namespace {

// How often the client pings an idle server, and how many unanswered pings
// mean it is gone: a dead server (or a cut network) is noticed within ~3 s.
constexpr std::int64_t kPingIntervalMillis = 1000;
constexpr int kMaxPingsOut = 3;
constexpr std::int64_t kReconnectWaitMillis = 250;

// cnats calls these on its own threads.
void OnDisconnected(natsConnection* /*nc*/, void* /*closure*/) {
  Log(LogLevel::kWarning, "disconnected from NATS; reconnecting");
}

void OnReconnected(natsConnection* nc, void* /*closure*/) {
  char url[256] = "";
  natsConnection_GetConnectedUrl(nc, url, sizeof(url));
  Log(LogLevel::kInfo, "reconnected to NATS", {{"url", url}});
}

void OnConnected(natsConnection* nc, void* /*closure*/) {
  char url[256] = "";
  natsConnection_GetConnectedUrl(nc, url, sizeof(url));
  Log(LogLevel::kInfo, "connected to NATS", {{"url", url}});
}

void OnAsyncError(natsConnection* /*nc*/, natsSubscription* /*sub*/,
                  natsStatus error, void* /*closure*/) {
  // An ordered consumer reports every missed heartbeat and failed reset
  // while its server is gone, once a second: the disconnect is logged
  // already.
  const bool expected_while_down =
      error == NATS_MISSED_HEARTBEAT || error == NATS_TIMEOUT;
  Log(expected_while_down ? LogLevel::kDebug : LogLevel::kWarning,
      "NATS reported an error", {{"error", natsStatus_GetText(error)}});
}

absl::StatusOr<std::string> ReadPasswordFile(const std::string& path) {
  absl::StatusOr<std::string> contents = ReadPrivateFile(path);
  if (!contents.ok()) {
    return MakeError(
        absl::StatusCode::kFailedPrecondition, kInvalidConfig,
        absl::StrCat("the NATS password file: ", contents.status().message()));
  }
  std::string password = *std::move(contents);
  // One line; a trailing newline from an editor or `echo` is not part of it.
  while (!password.empty() &&
         (password.back() == '\n' || password.back() == '\r')) {
    password.pop_back();
  }
  if (password.empty()) {
    return MakeError(
        absl::StatusCode::kFailedPrecondition, kInvalidConfig,
        absl::StrCat("the NATS password file ", path, " is empty"));
  }
  return password;
}

// Applies `options` to `opts`; the first error, if any.
absl::Status Configure(const NatsClient::Options& options, natsOptions* opts) {
  std::vector<const char*> servers;
  for (const std::string& server : options.servers) {
    servers.push_back(server.c_str());
  }
  natsStatus s = natsOptions_SetServers(opts, servers.data(),
                                        static_cast<int>(servers.size()));
  if (s != NATS_OK) return NatsError(s, "set the NATS servers (--nats_url)");
  s = natsOptions_SetName(opts, options.name.c_str());
  if (s == NATS_OK) {
    s = natsOptions_SetTimeout(
        opts, absl::ToInt64Milliseconds(options.connect_timeout));
  }
  // Reconnect forever, quickly, and notice a dead server fast; requests
  // fail at once on a disconnect instead of waiting out their timeout.
  if (s == NATS_OK) s = natsOptions_SetMaxReconnect(opts, -1);
  if (s == NATS_OK) {
    s = natsOptions_SetReconnectWait(opts, kReconnectWaitMillis);
  }
  if (s == NATS_OK) s = natsOptions_SetPingInterval(opts, kPingIntervalMillis);
  if (s == NATS_OK) s = natsOptions_SetMaxPingsOut(opts, kMaxPingsOut);
  if (s == NATS_OK) s = natsOptions_SetFailRequestsOnDisconnect(opts, true);
  if (s == NATS_OK) {
    s = natsOptions_SetDisconnectedCB(opts, OnDisconnected, nullptr);
  }
  if (s == NATS_OK) {
    s = natsOptions_SetReconnectedCB(opts, OnReconnected, nullptr);
  }
  if (s == NATS_OK)
    s = natsOptions_SetErrorHandler(opts, OnAsyncError, nullptr);
  if (s != NATS_OK) return NatsError(s, "configure the NATS connection");

  const bool tls = !options.tls_ca_file.empty() ||
                   !options.tls_cert_file.empty() ||
                   !options.tls_key_file.empty();
  if (tls && (s = natsOptions_SetSecure(opts, true)) != NATS_OK) {
    return NatsError(s, "turn on TLS for NATS");
  }
  if (!options.tls_ca_file.empty() &&
      (s = natsOptions_LoadCATrustedCertificates(
           opts, options.tls_ca_file.c_str())) != NATS_OK) {
    return NatsError(s, absl::StrCat("load the NATS CA file (--nats_tls_ca) ",
                                     options.tls_ca_file));
  }
  if (options.tls_cert_file.empty() != options.tls_key_file.empty()) {
    return MakeError(absl::StatusCode::kInvalidArgument, kInvalidConfig,
                     "--nats_tls_cert and --nats_tls_key go together");
  }
  // Files with secrets that others may read are refused, as the server's
  // own are (the check reads them; cnats reads them again).
  for (const std::string* secret_file :
       {&options.tls_key_file, &options.creds_file}) {
    if (secret_file->empty()) continue;
    RETURN_IF_ERROR(ReadPrivateFile(*secret_file).status());
  }
  if (!options.tls_cert_file.empty() &&
      (s = natsOptions_LoadCertificatesChain(
           opts, options.tls_cert_file.c_str(),
           options.tls_key_file.c_str())) != NATS_OK) {
    return NatsError(s, absl::StrCat("load the NATS client certificate ",
                                     options.tls_cert_file, " and key ",
                                     options.tls_key_file));
  }
  if (!options.creds_file.empty() &&
      (s = natsOptions_SetUserCredentialsFromFiles(
           opts, options.creds_file.c_str(), nullptr)) != NATS_OK) {
    return NatsError(
        s, absl::StrCat("use the NATS credentials file ", options.creds_file));
  }
  if (options.user.empty() != options.password_file.empty()) {
    return MakeError(absl::StatusCode::kInvalidArgument, kInvalidConfig,
                     "--nats_user and --nats_password_file go together");
  }
  if (!options.user.empty()) {
    ASSIGN_OR_RETURN(const std::string password,
                     ReadPasswordFile(options.password_file));
    if ((s = natsOptions_SetUserInfo(opts, options.user.c_str(),
                                     password.c_str())) != NATS_OK) {
      return NatsError(s, "set the NATS user");
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status NatsError(natsStatus status, absl::string_view doing) {
  natsStatus last = NATS_OK;
  const char* detail = nats_GetLastError(&last);
  std::string message =
      absl::StrCat("cannot ", doing, ": ", natsStatus_GetText(status));
  if (last == status && detail != nullptr && *detail != '\0') {
    absl::StrAppend(&message, " (", detail, ")");
  }
  absl::StatusCode code = absl::StatusCode::kFailedPrecondition;
  switch (status) {
    case NATS_TIMEOUT:
    case NATS_NO_RESPONDERS:
    case NATS_CONNECTION_CLOSED:
    case NATS_CONNECTION_DISCONNECTED:
    case NATS_NOT_YET_CONNECTED:
    case NATS_NO_SERVER:
    case NATS_IO_ERROR:
    case NATS_STALE_CONNECTION:
    case NATS_SLOW_CONSUMER:
    case NATS_DRAINING:
      code = absl::StatusCode::kUnavailable;
      break;
    case NATS_NOT_FOUND:
      code = absl::StatusCode::kNotFound;
      break;
    case NATS_INVALID_ARG:
    case NATS_INVALID_SUBJECT:
    case NATS_INVALID_SUBSCRIPTION:
      code = absl::StatusCode::kInvalidArgument;
      break;
    default:
      break;
  }
  return MakeError(code, kStreamError, message);
}

absl::StatusOr<std::unique_ptr<NatsClient>> NatsClient::Connect(
    const Options& options) {
  if (options.servers.empty()) {
    return MakeError(absl::StatusCode::kInvalidArgument, kInvalidConfig,
                     "--nats_url names no server (nats://host:port,...)");
  }
  natsOptions* opts = nullptr;
  natsStatus s = natsOptions_Create(&opts);
  if (s != NATS_OK) return NatsError(s, "create NATS options");
  std::unique_ptr<natsOptions, void (*)(natsOptions*)> owned(
      opts, natsOptions_Destroy);
  RETURN_IF_ERROR(Configure(options, opts));
  std::unique_ptr<NatsClient> client(new NatsClient());
  s = natsConnection_Connect(&client->connection_, opts);
  if (s == NATS_NO_SERVER) {
    // No server reachable now: keep trying in the background. Any other
    // failure (credentials, TLS) is the configuration's, and said now.
    s = natsOptions_SetRetryOnFailedConnect(opts, true, OnConnected, nullptr);
    if (s == NATS_OK) s = natsConnection_Connect(&client->connection_, opts);
    if (s == NATS_NOT_YET_CONNECTED) {
      s = NATS_OK;
      Log(LogLevel::kWarning,
          "no NATS server reachable yet; webhooks are kept in the outbox "
          "until one is");
    }
  }
  if (s != NATS_OK) return NatsError(s, "connect to NATS (--nats_url)");
  s = natsConnection_JetStream(&client->jetstream_, client->connection_,
                               nullptr);
  if (s != NATS_OK) return NatsError(s, "open a JetStream context");
  return client;
}

NatsClient::~NatsClient() {
  if (connection_ != nullptr) natsConnection_Close(connection_);
  jsCtx_Destroy(jetstream_);
  natsConnection_Destroy(connection_);
}

bool NatsClient::connected() const {
  return natsConnection_Status(connection_) == NATS_CONN_STATUS_CONNECTED;
}

std::int64_t NatsClient::max_payload() const {
  return natsConnection_GetMaxPayload(connection_);
}

absl::StatusOr<std::string> NatsClient::Request(const std::string& subject,
                                                absl::string_view payload,
                                                absl::Duration timeout) const {
  natsMsg* reply = nullptr;
  const natsStatus s = natsConnection_Request(
      &reply, connection_, subject.c_str(), payload.data(),
      static_cast<int>(payload.size()),
      std::max<std::int64_t>(1, absl::ToInt64Milliseconds(timeout)));
  NatsMsgPtr owned(reply);
  if (s != NATS_OK) return NatsError(s, absl::StrCat("ask ", subject));
  return std::string(natsMsg_GetData(reply), natsMsg_GetDataLength(reply));
}

}  // namespace paradym::webhooks
