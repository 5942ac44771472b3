#include "server/store/jetstream_event_log.h"

#include <filesystem>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "server/core/endpoint_secrets.h"
#include "server/core/errors.h"
#include "server/core/status_macros.h"
#include "server/core/structured_log.h"

namespace paradym::webhooks {
namespace {

// Room for the message's subject and headers beside the event, within the
// servers' max_payload.
constexpr std::int64_t kMessageOverhead = 512;
// max_payload before the first connection tells: the servers' default.
constexpr std::int64_t kDefaultMaxPayload = 1 << 20;

bool IsReplicaId(absl::string_view id) {
  if (id.empty() || id.size() > 32) return false;
  for (char c : id) {
    if (!absl::ascii_isdigit(c) && !(c >= 'a' && c <= 'f')) return false;
  }
  return true;
}

// The replica's id: made once, with its outbox, and kept in `replica-id`.
// Message ids are `<replica>:<outbox sequence>`, so an id must never name
// two outboxes: a missing id file beside an existing outbox is refused
// rather than made again.
absl::StatusOr<std::string> LoadOrCreateReplicaId(const std::string& dir) {
  const std::string path = absl::StrCat(dir, "/replica-id");
  if (!std::filesystem::exists(path) &&
      std::filesystem::exists(absl::StrCat(dir, "/outbox/events.db"))) {
    return MakeError(absl::StatusCode::kFailedPrecondition, kStoreFailed,
                     absl::StrCat(path,
                                  " is missing beside an existing outbox; "
                                  "restore it, or start with an empty data "
                                  "directory"));
  }
  absl::StatusOr<std::string> id = LoadOrCreateRandomFile(path, 8);
  if (id.ok() && !IsReplicaId(*id)) {
    return MakeError(absl::StatusCode::kFailedPrecondition, kStoreFailed,
                     absl::StrCat(path, " does not hold a replica id"));
  }
  return id;
}

// Opens the read copy in `dir`; a corrupt one is removed and made anew (the
// stream has everything it held).
absl::StatusOr<std::unique_ptr<SqliteEventLog>> OpenReadCopy(
    const std::string& dir, const Clock& clock) {
  SqliteEventLog::Options options;
  options.directory = dir;
  options.sync = SqliteEventLog::Sync::kNormal;
  options.assign_sequences = false;
  options.retention = absl::InfiniteDuration();
  absl::StatusOr<std::unique_ptr<SqliteEventLog>> copy =
      SqliteEventLog::Open(options, clock);
  if (copy.status().code() != absl::StatusCode::kDataLoss) return copy;
  Log(LogLevel::kWarning, "rebuilding this replica's copy of the stream",
      {{"error", copy.status().message()}});
  std::error_code error;
  std::filesystem::remove_all(dir, error);
  return SqliteEventLog::Open(options, clock);
}

}  // namespace

JetStreamEventLog::JetStreamEventLog(Options options, std::string replica)
    : options_(std::move(options)), replica_(std::move(replica)) {}

absl::StatusOr<std::unique_ptr<JetStreamEventLog>> JetStreamEventLog::Open(
    Options options, const Clock& clock) {
  std::error_code error;
  if (std::filesystem::create_directories(options.directory, error)) {
    // Events carry personal data (credential claims): owner only.
    std::filesystem::permissions(options.directory,
                                 std::filesystem::perms::owner_all, error);
  }
  if (error) {
    return MakeError(absl::StatusCode::kFailedPrecondition, kStoreFailed,
                     absl::StrCat("cannot create the data directory ",
                                  options.directory, ": ", error.message()));
  }
  ASSIGN_OR_RETURN(std::string replica,
                   LoadOrCreateReplicaId(options.directory));
  std::unique_ptr<JetStreamEventLog> log(
      new JetStreamEventLog(std::move(options), std::move(replica)));
  RETURN_IF_ERROR(log->OpenStores(clock));
  RETURN_IF_ERROR(log->Start());
  return log;
}

absl::Status JetStreamEventLog::OpenStores(const Clock& clock) {
  SqliteEventLog::Options outbox;
  outbox.directory = absl::StrCat(options_.directory, "/outbox");
  outbox.sync = options_.sync;
  outbox.retention = absl::InfiniteDuration();
  ASSIGN_OR_RETURN(outbox_, SqliteEventLog::Open(outbox, clock));

  NatsClient::Options nats = options_.nats;
  nats.name = absl::StrCat("paradym-webhooksd ", replica_);
  ASSIGN_OR_RETURN(client_, NatsClient::Connect(nats));

  RETURN_IF_ERROR(OpenCopy(clock));
  if (!client_->connected()) return absl::OkStatus();
  // A stream that cannot hold our events is a configuration error: refuse
  // to start. An unreachable one is not (webhooks wait).
  absl::Status status = EnsureStream(*client_, options_.stream);
  if (!status.ok()) {
    return status.code() == absl::StatusCode::kUnavailable ? absl::OkStatus()
                                                           : status;
  }
  const absl::Status copy = follower_->CheckCopy();
  if (copy.code() != absl::StatusCode::kFailedPrecondition) {
    return absl::OkStatus();
  }
  Log(LogLevel::kWarning,
      "this replica's copy does not match the stream; rebuilding it",
      {{"error", copy.message()}});
  follower_.reset();
  copy_.reset();
  std::error_code error;
  std::filesystem::remove_all(CopyDirectory(), error);
  return OpenCopy(clock);
}

std::string JetStreamEventLog::CopyDirectory() const {
  return absl::StrCat(options_.directory, "/stream-copy");
}

absl::Status JetStreamEventLog::OpenCopy(const Clock& clock) {
  ASSIGN_OR_RETURN(copy_, OpenReadCopy(CopyDirectory(), clock));
  follower_ = std::make_unique<StreamFollower>(
      StreamFollower::Options{options_.stream}, *client_, *copy_);
  return absl::OkStatus();
}

absl::Status JetStreamEventLog::Start() {
  copy_->SetListener([this](EventPtr event) { Announce(event); });
  OutboxForwarder::Options forwarding;
  forwarding.stream = options_.stream;
  forwarding.replica = replica_;
  forwarding.replication_wait = options_.replication_wait;
  forwarding.ready_outbox_limit = options_.ready_outbox_limit;
  forwarder_ = std::make_unique<OutboxForwarder>(std::move(forwarding),
                                                 *client_, *outbox_);
  RETURN_IF_ERROR(forwarder_->Start());
  follower_->Start();
  return absl::OkStatus();
}

JetStreamEventLog::~JetStreamEventLog() { Close(); }

void JetStreamEventLog::Append(std::shared_ptr<StoredEvent> event,
                               AppendCallback done) {
  const std::int64_t max_payload =
      client_->max_payload() > 0 ? client_->max_payload() : kDefaultMaxPayload;
  const std::size_t size = event->encoding_without_sequence().size();
  if (static_cast<std::int64_t>(size) + kMessageOverhead > max_payload) {
    std::move(done)(MakeError(
        absl::StatusCode::kInvalidArgument, kBodyTooLarge,
        absl::StrCat("the event takes ", size,
                     " bytes encoded, more than the NATS servers take in one "
                     "message (max_payload ",
                     max_payload,
                     "); raise max_payload or lower "
                     "--max_body_bytes")));
    return;
  }
  bool closing = false;
  {
    absl::MutexLock lock(&mu_);
    closing = closing_;
    if (!closing) ++appending_;
  }
  if (closing) {
    std::move(done)(MakeError(absl::StatusCode::kUnavailable, kShuttingDown,
                              "the event store is closed; the event was not "
                              "stored"));
    return;
  }
  outbox_->Append(std::move(event),
                  [this, done = std::move(done)](
                      absl::StatusOr<EventPtr> outboxed) mutable {
                    // The outbox answers in its order: the forwarder tracks in
                    // that order.
                    if (outboxed.ok()) {
                      forwarder_->Track(*std::move(outboxed), std::move(done));
                    } else {
                      std::move(done)(outboxed.status());
                    }
                    absl::MutexLock lock(&mu_);
                    --appending_;
                  });
}

absl::Status JetStreamEventLog::ReadAfter(std::uint64_t after,
                                          std::uint64_t up_to,
                                          std::size_t max_events,
                                          std::vector<EventPtr>& out) const {
  return copy_->ReadAfter(after, up_to, max_events, out);
}

SequenceRange JetStreamEventLog::Range() const { return copy_->Range(); }

std::uint64_t JetStreamEventLog::Horizon() const {
  return std::max(
      {copy_->Range().last, follower_->horizon(), forwarder_->horizon()});
}

std::optional<std::uint64_t> JetStreamEventLog::FindReplay(
    const ReplayDigest& digest) const {
  if (std::optional<std::uint64_t> sequence = copy_->FindReplay(digest)) {
    return sequence;
  }
  // Outbox sequences are this replica's own, not the stream's.
  if (outbox_->FindReplay(digest).has_value()) return 0;
  return std::nullopt;
}

absl::Status JetStreamEventLog::CheckReady() const {
  RETURN_IF_ERROR(forwarder_->CheckReady());
  return follower_->CheckReady();
}

void JetStreamEventLog::AddMetrics(PrometheusText& text) const {
  forwarder_->AddMetrics(text);
  const std::uint64_t held = copy_->Range().last;
  text.AddGauge("paradym_webhooks_replication_lag_events",
                "Stream events this replica's copy does not hold yet.",
                static_cast<double>(Horizon() - held));
  text.AddGauge(
      "paradym_webhooks_replay_digests",
      "Retained events whose replay digest is held in memory (this "
      "replica's copy of the stream and its outbox).",
      static_cast<double>(copy_->replay_digests() + outbox_->replay_digests()));
  text.AddGauge("paradym_webhooks_nats_connected",
                "1 while connected to a NATS server.",
                client_->connected() ? 1 : 0);
}

void JetStreamEventLog::Close() {
  absl::MutexLock close_lock(&close_mu_);
  if (closed_) return;
  closed_ = true;
  {
    absl::MutexLock lock(&mu_);
    closing_ = true;
    // Every accepted append reaches the forwarder before it stops.
    mu_.Await(absl::Condition(
        +[](JetStreamEventLog* log)
             ABSL_NO_THREAD_SAFETY_ANALYSIS { return log->appending_ == 0; },
        this));
  }
  // Open may have failed part of the way.
  if (forwarder_ != nullptr) forwarder_->Stop(options_.close_grace);
  // Writes the forwarder's last release.
  if (outbox_ != nullptr) outbox_->Close();
  if (follower_ != nullptr) follower_->Stop();
  if (copy_ != nullptr) copy_->Close();
}

}  // namespace paradym::webhooks
