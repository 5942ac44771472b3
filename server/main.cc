// paradym-webhooksd: flags and wiring only. The logic lives in server/core,
// the event stores in server/store, the gRPC face in server/grpc and the
// HTTP front in server/http.

#include <grpc/support/log.h>
#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/debugging/failure_signal_handler.h"
#include "absl/debugging/symbolize.h"
#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "grpc/health/v1/health.pb.h"
#include "server/core/access_control.h"
#include "server/core/clock.h"
#include "server/core/endpoint_secrets.h"
#include "server/core/errors.h"
#include "server/core/memory_event_log.h"
#include "server/core/status_macros.h"
#include "server/core/structured_log.h"
#include "server/core/subscription_hub.h"
#include "server/core/tls_files.h"
#include "server/core/webhook_ingestor.h"
#include "server/grpc/reflection_v1_service.h"
#include "server/grpc/server_credentials.h"
#include "server/grpc/webhook_service_adapter.h"
#include "server/http/http_server.h"
#include "server/http/webhook_http_adapter.h"
#include "server/store/jetstream_event_log.h"
#include "server/store/jetstream_stream.h"
#include "server/store/nats_client.h"
#include "server/store/sqlite_event_log.h"

ABSL_FLAG(
    std::string, grpc_address, "0.0.0.0:50051",
    "Where the gRPC service listens, HOST:PORT (port 0 picks a free one).");
ABSL_FLAG(std::string, http_address, "0.0.0.0:8080",
          "Where the HTTP front for Paradym listens, HOST:PORT (port 0 picks "
          "a free one).");
ABSL_FLAG(int, http_threads, 0,
          "Threads serving HTTP (each also verifies and normalizes the "
          "webhooks it reads); 0 means one per core. Measured on 2 cores with "
          "the durable store, one per core took 1.2 to 1.3 times the "
          "requests/s of 1 thread; 1 thread spent up to 10% less CPU per "
          "request. Set 1 on a small machine whose load is far below what "
          "one core serves.");
ABSL_FLAG(absl::Duration, http_read_timeout, absl::Seconds(10),
          "A whole HTTP request must arrive within this time of its first "
          "byte; slower clients are cut off (408).");
ABSL_FLAG(absl::Duration, http_idle_timeout, absl::Seconds(60),
          "Idle keep-alive HTTP connections are closed after this time.");
ABSL_FLAG(std::size_t, http_max_connections, 10000,
          "HTTP connections beyond this many are closed at once.");
ABSL_FLAG(std::string, grpc_tokens_file, "",
          "A file of `NAME SCOPES TOKEN` lines (scopes: read, ingest, verify, "
          "comma-separated, or *; mode 0600). gRPC callers then send "
          "`authorization: Bearer TOKEN`. With neither this nor "
          "--grpc_client_ca, only callers on loopback are served. Reread on "
          "SIGHUP.");
ABSL_FLAG(std::string, grpc_tls_cert, "",
          "The gRPC server's certificate chain (PEM); with --grpc_tls_key "
          "turns TLS on. Reread when it changes.");
ABSL_FLAG(std::string, grpc_tls_key, "",
          "The private key (PEM, mode 0600) of --grpc_tls_cert.");
ABSL_FLAG(std::string, grpc_client_ca, "",
          "CA certificates (PEM): gRPC clients must present a certificate one "
          "of them signed (mutual TLS). Needs --grpc_tls_cert.");
ABSL_FLAG(bool, reflection, true,
          "Serve gRPC server reflection (grpcurl, buf curl list and describe "
          "the service without its .proto files).");
ABSL_FLAG(std::string, http_tls_cert, "",
          "The HTTP front's certificate chain (PEM); with --http_tls_key the "
          "front speaks HTTPS only. Reread on SIGHUP.");
ABSL_FLAG(std::string, http_tls_key, "",
          "The private key (PEM, mode 0600) of --http_tls_cert.");
ABSL_FLAG(std::string, metrics_address, "",
          "Serve /metrics on this HOST:PORT (plain HTTP) instead of on the "
          "HTTP front, where it is served to callers on loopback only.");
ABSL_FLAG(std::string, secrets_file, "",
          "A file of `name=secret` lines, one per webhook endpoint (a name may "
          "appear twice during a secret rotation). Env PARADYM_WEBHOOK_SECRET "
          "configures the endpoint `default`. With neither, a secret is "
          "generated once into <data_dir>/webhook-secret.");
ABSL_FLAG(std::string, data_dir, "./data",
          "Where the service keeps its state: the event store (events.db) and "
          "the generated secret. Created if missing.");
ABSL_FLAG(std::string, store, "sqlite",
          "sqlite: every accepted event is committed to <data_dir>/events.db "
          "before the 200 (durable; the default). jetstream: replicas share "
          "one NATS JetStream stream (--nats_*); each commits to its outbox "
          "in <data_dir> first. memory: a bounded window of recent events in "
          "memory, lost on exit (tests, throwaway runs).");
ABSL_FLAG(std::string, sync, "full",
          "What a 200 waits for with --store=sqlite (and the outbox of "
          "--store=jetstream). full: the commit is fsynced (survives power "
          "loss). normal: the commit is written but not fsynced (survives a "
          "crash of the process, not of the machine).");
ABSL_FLAG(std::string, nats_url, "nats://127.0.0.1:4222",
          "With --store=jetstream: the NATS servers, comma-separated "
          "(nats://h1:4222,nats://h2:4222; tls:// for TLS).");
ABSL_FLAG(std::string, nats_stream, "PARADYM_WEBHOOKS",
          "With --store=jetstream: the stream the replicas share (created "
          "if missing, checked if it exists).");
ABSL_FLAG(int, nats_replicas, 3,
          "With --store=jetstream: how many NATS servers keep each event "
          "(1 for a single server; 3 or 5 in a cluster).");
ABSL_FLAG(absl::Duration, nats_duplicate_window, absl::Minutes(2),
          "With --store=jetstream: how long the stream drops a repeated "
          "publish of the same event.");
ABSL_FLAG(absl::Duration, replication_wait, absl::Seconds(1),
          "With --store=jetstream: how long a webhook waits for the stream; "
          "after it, the 200 says the event is pending replication (durable "
          "in this replica's outbox, forwarded later).");
ABSL_FLAG(std::uint64_t, outbox_ready_limit, 1000,
          "With --store=jetstream: /readyz turns 503 when the stream cannot "
          "be reached and more events than this wait in the outbox.");
ABSL_FLAG(std::string, nats_creds, "",
          "With --store=jetstream: a NATS credentials file (user JWT and "
          "NKey seed).");
ABSL_FLAG(std::string, nats_user, "",
          "With --store=jetstream: the NATS user; its password is read from "
          "--nats_password_file.");
ABSL_FLAG(std::string, nats_password_file, "",
          "With --store=jetstream: a file holding the NATS user's password.");
ABSL_FLAG(std::string, nats_tls_ca, "",
          "With --store=jetstream: the CA certificates (PEM) that signed the "
          "NATS servers' certificates; turns TLS on.");
ABSL_FLAG(std::string, nats_tls_cert, "",
          "With --store=jetstream: a client certificate (PEM) for NATS "
          "servers that verify clients; with --nats_tls_key.");
ABSL_FLAG(std::string, nats_tls_key, "",
          "With --store=jetstream: the client certificate's private key.");
ABSL_FLAG(absl::Duration, retention, absl::Hours(7 * 24),
          "Events received longer ago than this are deleted in the background "
          "(--store=sqlite); inf keeps them.");
ABSL_FLAG(std::optional<absl::Duration>, max_event_age, std::nullopt,
          "Webhooks whose webhookPublishedAt is older than this (or missing, "
          "or more than 5m ahead of this clock) are refused with 401 "
          "STALE_EVENT, so that a replay is either stale or a duplicate; inf "
          "turns the check off. Default: --retention (168h).");
ABSL_FLAG(std::uint64_t, max_events, 0,
          "With --store=sqlite, the oldest events beyond this many are "
          "deleted in the background; 0 keeps any number.");
ABSL_FLAG(std::size_t, max_body_bytes, 256 * 1024,
          "Webhook bodies larger than this are refused before hashing.");
ABSL_FLAG(std::size_t, memory_events, 100000,
          "With --store=memory, how many recent events are kept for resuming.");
ABSL_FLAG(std::size_t, memory_bytes, std::size_t{512} << 20,
          "With --store=memory, how many bytes of encoded events are kept at "
          "most.");
ABSL_FLAG(std::size_t, max_subscribers, 1000,
          "Subscribe streams open at once, at most; more get "
          "RESOURCE_EXHAUSTED (TOO_MANY_SUBSCRIBERS). Each may pin about "
          "half a MiB of buffers while its client does not read.");
ABSL_FLAG(std::size_t, subscriber_queue, 8192,
          "Live events a subscriber may lag behind before its stream ends with "
          "RESOURCE_EXHAUSTED (it then resumes after its last sequence).");
ABSL_FLAG(int, shutdown_grace_seconds, 5,
          "On SIGTERM/SIGINT, how long requests in flight may take to finish.");
ABSL_FLAG(int, ready_fd, -1,
          "When listening, write one JSON line with the bound ports to this "
          "file descriptor and close it (for supervisors and tests).");
ABSL_FLAG(std::string, log_level, "info", "debug, info, warning or error.");

namespace paradym::webhooks {
namespace {

constexpr char kSecretEnv[] = "PARADYM_WEBHOOK_SECRET";
constexpr char kServiceName[] = "paradym.webhooks.v1.WebhookService";

void LogFromGrpc(gpr_log_func_args* args) {
  const LogLevel level =
      args->severity == GPR_LOG_SEVERITY_ERROR  ? LogLevel::kError
      : args->severity == GPR_LOG_SEVERITY_INFO ? LogLevel::kInfo
                                                : LogLevel::kDebug;
  Log(level, args->message,
      {{"component", "grpc"}, {"file", args->file}, {"line", args->line}});
}

std::optional<LogLevel> ParseLogLevel(const std::string& name) {
  if (name == "debug") return LogLevel::kDebug;
  if (name == "info") return LogLevel::kInfo;
  if (name == "warning") return LogLevel::kWarning;
  if (name == "error") return LogLevel::kError;
  return std::nullopt;
}

// The secret in the environment, if any, taken out of it: child processes
// have no business with it.
absl::StatusOr<std::optional<std::string>> TakeEnvSecret() {
  std::optional<std::string> secret;
  if (const char* env = std::getenv(kSecretEnv); env != nullptr && *env) {
    secret = env;
  }
  ::unsetenv(kSecretEnv);
  if (secret && secret->size() > kMaxSecretBytes) {
    return MakeError(absl::StatusCode::kInvalidArgument, kInvalidConfig,
                     absl::StrCat(kSecretEnv, " is longer than ",
                                  kMaxSecretBytes, " bytes"));
  }
  return secret;
}

// Secrets from the environment and the secrets file; a generated one when
// neither configures any.
absl::StatusOr<std::vector<EndpointSecrets>> LoadSecrets(
    const std::optional<std::string>& env_secret) {
  std::vector<EndpointSecrets> endpoints;
  if (env_secret) AddSecret(endpoints, kDefaultEndpoint, *env_secret);
  if (const std::string path = absl::GetFlag(FLAGS_secrets_file);
      !path.empty()) {
    ASSIGN_OR_RETURN(std::vector<EndpointSecrets> from_file,
                     ReadSecretsFile(path));
    for (EndpointSecrets& endpoint : from_file) {
      for (std::string& secret : endpoint.secrets) {
        AddSecret(endpoints, endpoint.name, std::move(secret));
      }
    }
  }
  if (!endpoints.empty()) return endpoints;
  const std::string path =
      absl::StrCat(absl::GetFlag(FLAGS_data_dir), "/webhook-secret");
  ASSIGN_OR_RETURN(std::string generated, LoadOrCreateSecretFile(path));
  Log(LogLevel::kWarning,
      "no secret configured; using the generated secret in secret_file for "
      "endpoint `default` (set PARADYM_WEBHOOK_SECRET or --secrets_file to "
      "use your Paradym endpoint's secret)",
      {{"secret_file", path}});
  AddSecret(endpoints, kDefaultEndpoint, std::move(generated));
  return endpoints;
}

// The event log --store asks for, and how to close it after the last
// request.
struct OpenedLog {
  std::unique_ptr<EventLog> log;
  std::function<void()> close = [] {};
  std::string path;
};

absl::StatusOr<SqliteEventLog::Sync> SyncFlag() {
  const std::string sync = absl::GetFlag(FLAGS_sync);
  if (sync == "full") return SqliteEventLog::Sync::kFull;
  if (sync == "normal") return SqliteEventLog::Sync::kNormal;
  return MakeError(absl::StatusCode::kInvalidArgument, kInvalidConfig,
                   "--sync must be full or normal");
}

absl::StatusOr<absl::Duration> RetentionFlag() {
  const absl::Duration retention = absl::GetFlag(FLAGS_retention);
  if (retention <= absl::ZeroDuration()) {
    return MakeError(absl::StatusCode::kInvalidArgument, kInvalidConfig,

                     "--retention must be positive (inf keeps events)");
  }
  return retention;
}

// --max_event_age, or --retention when it is not given: a replay older than
// the retention would find its digest forgotten, so a longer age is refused.
absl::StatusOr<absl::Duration> MaxEventAgeFlag() {
  ASSIGN_OR_RETURN(const absl::Duration retention, RetentionFlag());
  const std::optional<absl::Duration> flag = absl::GetFlag(FLAGS_max_event_age);
  if (!flag.has_value()) return retention;
  const absl::Duration age = *flag;
  if (age <= absl::ZeroDuration()) {
    return MakeError(
        absl::StatusCode::kInvalidArgument, kInvalidConfig,

        "--max_event_age must be positive (inf turns the check off)");
  }
  if (age != absl::InfiniteDuration() && age > retention) {
    return MakeError(
        absl::StatusCode::kInvalidArgument, kInvalidConfig,
        absl::StrCat(
            "--max_event_age (", absl::FormatDuration(age),
            ") must not exceed --retention (", absl::FormatDuration(retention),
            "): a replay older than the retention would be stored again"));
  }
  return age;
}

// Sets what the SQLite store and a replica's outbox both take, `directory`
// and `sync`, from --data_dir and --sync; returns --retention.
template <typename StoreOptions>
absl::StatusOr<absl::Duration> SetDurableStoreFlags(StoreOptions& options) {
  options.directory = absl::GetFlag(FLAGS_data_dir);
  ASSIGN_OR_RETURN(options.sync, SyncFlag());
  return RetentionFlag();
}

absl::StatusOr<OpenedLog> OpenSqlite(const Clock& clock) {
  SqliteEventLog::Options options;
  ASSIGN_OR_RETURN(options.retention, SetDurableStoreFlags(options));
  options.max_events = absl::GetFlag(FLAGS_max_events);
  ASSIGN_OR_RETURN(std::unique_ptr<SqliteEventLog> log,
                   SqliteEventLog::Open(std::move(options), clock));
  SqliteEventLog* raw = log.get();
  return OpenedLog{std::move(log), [raw] { raw->Close(); }, raw->path()};
}

// The stream the replicas share: --nats_stream, --nats_replicas and
// --nats_duplicate_window, limited like the SQLite store by `retention` and
// --max_events.
absl::StatusOr<StreamSpec> StreamFlags(absl::Duration retention) {
  StreamSpec stream;
  stream.max_age = retention;
  stream.max_msgs = absl::GetFlag(FLAGS_max_events);
  stream.name = absl::GetFlag(FLAGS_nats_stream);
  stream.replicas = absl::GetFlag(FLAGS_nats_replicas);
  stream.duplicate_window = absl::GetFlag(FLAGS_nats_duplicate_window);
  if (stream.name.empty() ||
      stream.name.find_first_of(". *>\t") != std::string::npos) {
    return MakeError(
        absl::StatusCode::kInvalidArgument, kInvalidConfig,

        "--nats_stream must be a name without '.', '*', '>' or spaces");
  }
  if (stream.replicas < 1 || stream.replicas > 5) {
    return MakeError(absl::StatusCode::kInvalidArgument, kInvalidConfig,
                     "--nats_replicas must be 1 to 5");
  }
  if (stream.duplicate_window <= absl::ZeroDuration()) {
    return MakeError(absl::StatusCode::kInvalidArgument, kInvalidConfig,

                     "--nats_duplicate_window must be positive");
  }
  return stream;
}

// How to reach the NATS servers: --nats_url and the credential flags.
NatsClient::Options NatsFlags() {
  NatsClient::Options nats;
  for (absl::string_view url :
       absl::StrSplit(absl::GetFlag(FLAGS_nats_url), ',', absl::SkipEmpty())) {
    nats.servers.emplace_back(absl::StripAsciiWhitespace(url));
  }
  nats.creds_file = absl::GetFlag(FLAGS_nats_creds);
  nats.user = absl::GetFlag(FLAGS_nats_user);
  nats.password_file = absl::GetFlag(FLAGS_nats_password_file);
  nats.tls_ca_file = absl::GetFlag(FLAGS_nats_tls_ca);
  nats.tls_cert_file = absl::GetFlag(FLAGS_nats_tls_cert);
  nats.tls_key_file = absl::GetFlag(FLAGS_nats_tls_key);
  return nats;
}

absl::StatusOr<OpenedLog> OpenJetStream(const Clock& clock) {
  JetStreamEventLog::Options options;
  ASSIGN_OR_RETURN(const absl::Duration retention,
                   SetDurableStoreFlags(options));
  ASSIGN_OR_RETURN(options.stream, StreamFlags(retention));
  options.replication_wait = absl::GetFlag(FLAGS_replication_wait);
  if (options.replication_wait < absl::ZeroDuration()) {
    return MakeError(absl::StatusCode::kInvalidArgument, kInvalidConfig,

                     "--replication_wait must not be negative");
  }
  options.ready_outbox_limit = absl::GetFlag(FLAGS_outbox_ready_limit);
  options.nats = NatsFlags();
  ASSIGN_OR_RETURN(std::unique_ptr<JetStreamEventLog> log,
                   JetStreamEventLog::Open(std::move(options), clock));
  JetStreamEventLog* raw = log.get();
  return OpenedLog{
      std::move(log), [raw] { raw->Close(); },
      absl::StrCat(absl::GetFlag(FLAGS_data_dir), " replica ", raw->replica())};
}

absl::StatusOr<OpenedLog> OpenEventLog(const Clock& clock) {
  const std::string store = absl::GetFlag(FLAGS_store);
  if (store == "memory") {
    return OpenedLog{std::make_unique<MemoryEventLog>(MemoryEventLog::Options{
                         absl::GetFlag(FLAGS_memory_events),
                         absl::GetFlag(FLAGS_memory_bytes)}),
                     [] {}, ""};
  }
  if (store == "sqlite") return OpenSqlite(clock);
  if (store == "jetstream") return OpenJetStream(clock);
  return MakeError(absl::StatusCode::kInvalidArgument, kInvalidConfig,

                   "--store must be sqlite, jetstream or memory");
}

// Removes gRPC's reflection plugin (v1alpha), which linking its library
// registers for every server, whether wanted or not.
class WithoutReflection final : public grpc::ServerBuilderOption {
 public:
  void UpdateArguments(grpc::ChannelArguments* /*args*/) override {}
  void UpdatePlugins(std::vector<std::unique_ptr<grpc::ServerBuilderPlugin>>*
                         plugins) override {
    plugins->erase(std::remove_if(plugins->begin(), plugins->end(),
                                  [](const auto& plugin) {
                                    return plugin->name() ==
                                           "proto_server_reflection";
                                  }),
                   plugins->end());
  }
};
// --grpc_tokens_file read, when given.
absl::StatusOr<std::optional<TokenTable>> TokensFlag() {
  const std::string path = absl::GetFlag(FLAGS_grpc_tokens_file);
  if (path.empty()) return std::nullopt;
  ASSIGN_OR_RETURN(TokenTable tokens, ReadTokensFile(path));
  return tokens;
}

void ReportReady(int fd, int grpc_port, int http_port, int metrics_port) {
  if (fd < 0) return;
  const std::string line = absl::StrCat(
      "{\"grpc_port\":", grpc_port, ",\"http_port\":", http_port,
      metrics_port > 0 ? absl::StrCat(",\"metrics_port\":", metrics_port) : "",
      "}\n");
  if (::write(fd, line.data(), line.size()) < 0) {
    Log(LogLevel::kWarning, "cannot write to --ready_fd", {{"fd", fd}});
  }
  ::close(fd);
}

// Exit codes of a service that cannot start.
constexpr int kBadFlag = 2;
constexpr int kCannotStart = 1;

// The running service: the core, its gRPC and HTTP fronts, and what signals
// do to them. Run() starts it in steps (the core, gRPC, HTTP), serves until
// SIGTERM or SIGINT (SIGHUP reloads) and drains. Each step logs why it fails
// and returns the exit code; the members are declared in the order the steps
// build them, so that they are destroyed in reverse.
//
// Thread-compatible: Run() on one thread (the one that takes the signals);
// the objects it builds are shared with gRPC's and the HTTP threads.
class Daemon {
 public:
  // `signals` are blocked in every thread; Run() takes them with sigwait.
  explicit Daemon(const sigset_t& signals) : signals_(signals) {}

  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;

  // The process's exit code: 0 after a stop on SIGTERM or SIGINT.
  int Run() {
    if (int code = StartCore(); code != 0) return code;
    if (int code = StartGrpc(); code != 0) return code;
    if (int code = StartHttp(); code != 0) {
      grpc_server_->Shutdown();
      return code;
    }
    ReportServing();
    Drain(WaitForStopSignal());
    return 0;
  }

 private:
  int StartCore();
  // The webhook secrets, after logging why when they do not load; keeps the
  // environment's for reloads.
  std::optional<std::vector<EndpointSecrets>> LoadStartupSecrets();
  int StartGrpc();
  // Builds the gRPC server on --grpc_address and starts it; false when it
  // cannot listen.
  bool ListenGrpc(const std::shared_ptr<grpc::ServerCredentials>& credentials);
  int StartHttp();
  // /metrics on a listener of its own, when --metrics_address asks for one;
  // false when it cannot listen.
  bool StartMetricsListener();
  void ReportServing();
  // Serves until SIGTERM or SIGINT, and returns which; reloads on SIGHUP.
  int WaitForStopSignal();
  void Drain(int signal_number);

  // SIGHUP: rereads the secrets, the tokens and the certificates. What fails
  // to load keeps its previous configuration, and the log says why.
  void Reload() {
    ReloadSecrets();
    ReloadTokens();
    ReloadCertificates();
  }
  void ReloadSecrets();
  void ReloadTokens();
  void ReloadCertificates();

  const sigset_t signals_;
  std::optional<std::string> env_secret_;
  std::vector<std::string> endpoint_names_;
  RealClock clock_;
  OpenedLog log_;
  SequenceRange opened_range_;  // what the log held when opened
  std::optional<SubscriptionHub> hub_;
  std::optional<WebhookIngestor> ingestor_;
  TlsFiles grpc_tls_;
  std::optional<AccessControl> access_;
  std::optional<WebhookServiceAdapter> service_;
  ReflectionV1Service reflection_v1_;
  std::unique_ptr<grpc::Server> grpc_server_;
  int grpc_port_ = 0;
  std::optional<WebhookHttpAdapter> http_adapter_;
  std::optional<HttpServer> http_;
  int http_port_ = 0;
  std::optional<HttpServer> metrics_http_;
  int metrics_port_ = 0;
};

// The secrets, the event log, the subscription hub and the ingestor.
int Daemon::StartCore() {
  std::optional<std::vector<EndpointSecrets>> secrets = LoadStartupSecrets();
  if (!secrets.has_value()) return kCannotStart;
  absl::StatusOr<OpenedLog> opened = OpenEventLog(clock_);
  if (!opened.ok()) {
    Log(LogLevel::kError, "cannot open the event store",
        {{"store", absl::GetFlag(FLAGS_store)},
         {"error", opened.status().message()}});
    return opened.status().code() == absl::StatusCode::kInvalidArgument
               ? kBadFlag
               : kCannotStart;
  }
  log_ = *std::move(opened);
  opened_range_ = log_.log->Range();
  hub_.emplace(*log_.log,
               SubscriptionHub::Options{absl::GetFlag(FLAGS_subscriber_queue),
                                        absl::GetFlag(FLAGS_max_subscribers)});
  WebhookIngestor::Options options;
  options.max_body_bytes = absl::GetFlag(FLAGS_max_body_bytes);
  absl::StatusOr<absl::Duration> max_event_age = MaxEventAgeFlag();
  if (!max_event_age.ok()) {
    Log(LogLevel::kError, "invalid flag",
        {{"error", max_event_age.status().message()}});
    return kBadFlag;
  }
  options.max_event_age = *max_event_age;
  ingestor_.emplace(options, SignatureVerifier(std::move(secrets).value()),
                    *log_.log, *hub_, clock_);
  return 0;
}

std::optional<std::vector<EndpointSecrets>> Daemon::LoadStartupSecrets() {
  absl::StatusOr<std::optional<std::string>> env_secret = TakeEnvSecret();
  absl::StatusOr<std::vector<EndpointSecrets>> secrets =
      env_secret.ok()
          ? LoadSecrets(*env_secret)
          : absl::StatusOr<std::vector<EndpointSecrets>>(env_secret.status());
  if (!secrets.ok()) {
    Log(LogLevel::kError, "cannot load the webhook secrets",
        {{"error", secrets.status().message()}});
    return std::nullopt;
  }
  env_secret_ = *std::move(env_secret);
  for (const auto& endpoint : *secrets) {
    endpoint_names_.push_back(endpoint.name);
  }
  return *std::move(secrets);
}

// Who may call, the service, and the gRPC server that serves it.
int Daemon::StartGrpc() {
  absl::StatusOr<std::optional<TokenTable>> tokens = TokensFlag();
  if (!tokens.ok()) {
    Log(LogLevel::kError, "cannot load the gRPC tokens",
        {{"error", tokens.status().message()}});
    return kCannotStart;
  }
  grpc_tls_ = {absl::GetFlag(FLAGS_grpc_tls_cert),
               absl::GetFlag(FLAGS_grpc_tls_key),
               absl::GetFlag(FLAGS_grpc_client_ca)};
  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> credentials =
      MakeServerCredentials(grpc_tls_);
  if (!credentials.ok()) {
    Log(LogLevel::kError, "cannot set up gRPC TLS",
        {{"error", credentials.status().message()}});
    return credentials.status().code() == absl::StatusCode::kInvalidArgument
               ? kBadFlag
               : kCannotStart;
  }
  access_.emplace(AccessControl::Options{!grpc_tls_.ca_file.empty()},
                  *std::move(tokens));
  if (access_->protected_mode()) {
    Log(LogLevel::kInfo,
        "no gRPC credentials configured: only callers on loopback are served "
        "(see --grpc_tokens_file and --grpc_client_ca)");
  }
  service_.emplace(*ingestor_, *hub_, *log_.log, *access_);
  return ListenGrpc(*credentials) ? 0 : kCannotStart;
}

bool Daemon::ListenGrpc(
    const std::shared_ptr<grpc::ServerCredentials>& credentials) {
  const bool reflection = absl::GetFlag(FLAGS_reflection);
  grpc::EnableDefaultHealthCheckService(true);
  if (reflection) {
    // Reflection describes the health service from these descriptors;
    // naming one keeps the linker from dropping them.
    (void)grpc::health::v1::HealthCheckResponse::descriptor();
    grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  }
  grpc::ServerBuilder builder;
  const std::string address = absl::GetFlag(FLAGS_grpc_address);
  builder.AddListeningPort(address, credentials, &grpc_port_);
  // Let bodies up to the limit arrive, so that larger ones get our own clear
  // BODY_TOO_LARGE rather than gRPC's generic message-size error.
  builder.SetMaxReceiveMessageSize(static_cast<int>(std::max<std::size_t>(
      4 << 20, ingestor_->options().max_body_bytes + 65536)));
  builder.RegisterService(&*service_);
  // gRPC 1.51's plugin above serves reflection v1alpha only; buf curl and
  // grpcurl ask for v1 first.
  if (reflection) {
    reflection_v1_.AddTo(builder);
  } else {
    builder.SetOption(std::make_unique<WithoutReflection>());
  }
  grpc_server_ = builder.BuildAndStart();
  if (grpc_server_ == nullptr || grpc_port_ == 0) {
    Log(LogLevel::kError, "cannot listen for gRPC",
        {{"grpc_address", address}});
    return false;
  }
  grpc_server_->GetHealthCheckService()->SetServingStatus(kServiceName, true);
  return true;
}

// The HTTP front, and /metrics on its own listener when asked for; ready
// once both listen.
int Daemon::StartHttp() {
  HttpServer::Options options;
  options.address = absl::GetFlag(FLAGS_http_address);
  options.threads = absl::GetFlag(FLAGS_http_threads);
  options.read_timeout = absl::GetFlag(FLAGS_http_read_timeout);
  options.idle_timeout = absl::GetFlag(FLAGS_http_idle_timeout);
  options.max_connections = absl::GetFlag(FLAGS_http_max_connections);
  options.tls = {absl::GetFlag(FLAGS_http_tls_cert),
                 absl::GetFlag(FLAGS_http_tls_key), ""};
  if (options.tls.cert_file.empty() != options.tls.key_file.empty()) {
    Log(LogLevel::kError, "--http_tls_cert and --http_tls_key go together");
    return kBadFlag;
  }
  http_adapter_.emplace(*ingestor_, *hub_, *log_.log);
  http_.emplace(options, *http_adapter_);
  if (!StartMetricsListener()) return kCannotStart;
  absl::StatusOr<int> port = http_->Start();
  if (!port.ok()) {
    Log(LogLevel::kError, "cannot listen for HTTP",
        {{"http_address", options.address},
         {"error", port.status().message()}});
    return kCannotStart;
  }
  http_port_ = *port;
  http_adapter_->SetReady(true);
  return 0;
}

bool Daemon::StartMetricsListener() {
  const std::string address = absl::GetFlag(FLAGS_metrics_address);
  if (address.empty()) return true;
  HttpServer::Options options;
  options.address = address;
  options.threads = 1;
  options.max_connections = 64;
  options.metrics_only = true;
  metrics_http_.emplace(options, *http_adapter_);
  absl::StatusOr<int> port = metrics_http_->Start();
  if (!port.ok()) {
    Log(LogLevel::kError, "cannot listen for /metrics",
        {{"metrics_address", address}, {"error", port.status().message()}});
    return false;
  }
  metrics_port_ = *port;
  http_adapter_->ServeMetricsElsewhere();
  return true;
}

void Daemon::ReportServing() {
  Log(LogLevel::kInfo, "serving",
      {{"grpc_address", absl::GetFlag(FLAGS_grpc_address)},
       {"grpc_port", grpc_port_},
       {"http_address", absl::GetFlag(FLAGS_http_address)},
       {"http_port", http_port_},
       {"endpoints", absl::StrJoin(endpoint_names_, ",")},
       {"store", absl::GetFlag(FLAGS_store)},
       {"store_path", log_.path},
       {"oldest_sequence", opened_range_.oldest},
       {"last_sequence", opened_range_.last}});
  ReportReady(absl::GetFlag(FLAGS_ready_fd), grpc_port_, http_port_,
              metrics_port_);
}

int Daemon::WaitForStopSignal() {
  int signal_number = 0;
  while (sigwait(&signals_, &signal_number) == 0 && signal_number == SIGHUP) {
    Reload();
  }
  return signal_number;
}

// Stops taking webhooks, lets the ones in flight finish within
// --shutdown_grace_seconds, then ends the streams, stops and closes the log.
void Daemon::Drain(int signal_number) {
  const absl::Time deadline =
      absl::Now() + absl::Seconds(absl::GetFlag(FLAGS_shutdown_grace_seconds));
  Log(LogLevel::kInfo, "shutting down",
      {{"signal", signal_number == SIGTERM ? "SIGTERM" : "SIGINT"}});
  grpc_server_->GetHealthCheckService()->SetServingStatus(false);
  http_->BeginDrain();
  if (!http_->WaitForIdle(deadline - absl::Now())) {
    Log(LogLevel::kWarning, "HTTP requests still in flight at the deadline");
  }
  ingestor_->Shutdown();
  grpc_server_->Shutdown(absl::ToChronoTime(deadline));
  http_->Stop();
  if (metrics_http_) metrics_http_->Stop();
  // Every request has been answered: commit what is left and stop writing.
  log_.close();
  Log(LogLevel::kInfo, "stopped");
}

void Daemon::ReloadSecrets() {
  absl::StatusOr<std::vector<EndpointSecrets>> secrets =
      LoadSecrets(env_secret_);
  if (!secrets.ok()) {
    Log(LogLevel::kError, "cannot reload the webhook secrets; keeping the old",
        {{"error", secrets.status().message()}});
    return;
  }
  std::vector<std::string> names;
  for (const auto& endpoint : *secrets) names.push_back(endpoint.name);
  ingestor_->SetVerifier(SignatureVerifier(*std::move(secrets)));
  Log(LogLevel::kInfo, "reloaded the webhook secrets",
      {{"endpoints", absl::StrJoin(names, ",")}});
}

void Daemon::ReloadTokens() {
  const std::string path = absl::GetFlag(FLAGS_grpc_tokens_file);
  if (path.empty()) return;
  absl::StatusOr<TokenTable> tokens = ReadTokensFile(path);
  if (!tokens.ok()) {
    Log(LogLevel::kError, "cannot reload the gRPC tokens; keeping the old",
        {{"error", tokens.status().message()}});
    return;
  }
  const std::size_t count = tokens->tokens().size();
  access_->SetTokens(*std::move(tokens));
  Log(LogLevel::kInfo, "reloaded the gRPC tokens", {{"tokens", count}});
}

void Daemon::ReloadCertificates() {
  if (absl::Status status = http_->ReloadTls(); !status.ok()) {
    Log(LogLevel::kError,
        "cannot reload the HTTP certificate files; keeping the old",
        {{"error", status.message()}});
  } else if (!absl::GetFlag(FLAGS_http_tls_cert).empty()) {
    Log(LogLevel::kInfo, "reloaded the HTTP certificate files");
  }
  // gRPC rereads its certificate files by itself; say whether they are good.
  if (!grpc_tls_.cert_file.empty()) {
    if (absl::Status status = LoadTlsMaterial(grpc_tls_).status();
        !status.ok()) {
      Log(LogLevel::kError,
          "the gRPC certificate files do not load; gRPC keeps the old",
          {{"error", status.message()}});
    }
  }
}

// Blocks the signals the daemon takes with sigwait, before any thread starts
// so that no other thread receives them; ignores those that must not end the
// process.
sigset_t TakeOverSignals() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  ::signal(SIGPIPE, SIG_IGN);
  // Under a file size limit, a write past it must fail (the store then
  // refuses the webhook with 503) rather than kill the process.
  ::signal(SIGXFSZ, SIG_IGN);
  return signals;
}

// Applies --log_level, and sends gRPC's log to ours; false when the flag
// names no level.
bool SetUpLogging() {
  std::optional<LogLevel> level = ParseLogLevel(absl::GetFlag(FLAGS_log_level));
  if (!level.has_value()) {
    Log(LogLevel::kError, "--log_level must be debug, info, warning or error");
    return false;
  }
  SetMinLogLevel(*level);
  gpr_set_log_function(LogFromGrpc);
  return true;
}

int Run() {
  // Debian's Abseil checks every Mutex for lock-order cycles, a cost on every
  // request; the tests keep the check.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  const sigset_t signals = TakeOverSignals();
  if (!SetUpLogging()) return kBadFlag;
  Daemon daemon(signals);
  return daemon.Run();
}

}  // namespace
}  // namespace paradym::webhooks

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Receives Paradym webhooks over HTTP, verifies and types them, stores "
      "them and serves them over gRPC (paradym.webhooks.v1.WebhookService).\n\n"
      "  paradym-webhooksd [--http_address=0.0.0.0:8080] "
      "[--grpc_address=0.0.0.0:50051]\n"
      "                    [--store=sqlite --data_dir=./data] "
      "[--secrets_file=PATH]\n\n"
      "Paradym POSTs to /webhook (every endpoint's secret is tried) or "
      "/webhooks/{endpoint}; /healthz, /readyz and /metrics are served on the "
      "same port. Secrets come from env PARADYM_WEBHOOK_SECRET or "
      "--secrets_file, never from a flag value.");
  absl::ParseCommandLine(argc, argv);
  // A crash prints its stack to stderr. SIGTERM and SIGINT never reach the
  // handler: Run blocks them in every thread and takes them with sigwait.
  absl::InitializeSymbolizer(argv[0]);
  absl::InstallFailureSignalHandler(absl::FailureSignalHandlerOptions());
  return paradym::webhooks::Run();
}
