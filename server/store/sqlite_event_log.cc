#include "server/store/sqlite_event_log.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "paradym/webhooks/v1/event.pb.h"
#include "server/core/errors.h"
#include "server/core/proto_time.h"
#include "server/core/status_macros.h"
#include "server/core/structured_log.h"
#include "server/store/sqlite_connection.h"
#include "server/store/sqlite_schema.h"

namespace paradym::webhooks {
namespace {

namespace v1 = ::paradym::webhooks::v1;
using sqlite::BindBlob;
using sqlite::BindText;
using sqlite::ColumnBlob;
using sqlite::ColumnText;
using sqlite::ResetOnExit;

// The tables' layout, and the insert statement for it, are in
// sqlite_schema.cc.
constexpr char kRead[] =
    "SELECT sequence, receive_time_us, receive_time_extra_ns, endpoint, body, "
    "CASE WHEN body IS NULL THEN event END FROM events WHERE sequence > ?1 "
    "AND sequence <= ?2 ORDER BY sequence LIMIT ?3";
// What the replay index needs of every retained event: endpoint and body,
// or the encoding they are in.
constexpr char kReadDigests[] =
    "SELECT sequence, endpoint, body, CASE WHEN body IS NULL THEN event END "
    "FROM events ORDER BY sequence";
constexpr char kRange[] =
    "SELECT (SELECT min(sequence) FROM events), (SELECT max(sequence) FROM "
    "events), (SELECT value FROM meta WHERE key = 'deleted_through')";
constexpr char kFirstYoung[] =
    "SELECT sequence FROM events WHERE sequence >= ?1 AND sequence < ?2 AND "
    "receive_time_us >= ?3 ORDER BY sequence LIMIT 1";
constexpr char kDelete[] = "DELETE FROM events WHERE sequence < ?1";
// The highest sequence ever deleted, so that sequences keep increasing when
// retention has emptied the table.
constexpr char kDeletedThrough[] =
    "INSERT OR REPLACE INTO meta (key, value) VALUES ('deleted_through', ?1)";
// What the owner released (Release), and its bookmark.
constexpr char kReadReleased[] =
    "SELECT (SELECT value FROM meta WHERE key = 'released_through'), "
    "(SELECT value FROM meta WHERE key = 'bookmark')";
constexpr char kWriteReleased[] =
    "INSERT OR REPLACE INTO meta (key, value) VALUES ('released_through', ?1), "
    "('bookmark', ?2)";

// Idle reader connections kept for reuse.
constexpr std::size_t kMaxIdleReaders = 16;

// The checkpointer copies the WAL into the database file in the background
// each time the writer has added this many frames (pages) since it last
// asked: about one checkpoint, and so two fsyncs, per 2 MB of WAL.
constexpr int kCheckpointFrames = 500;
// Under steady load a background checkpoint never quite catches up with the
// writer, and only a complete one lets SQLite start the WAL over; from this
// many frames on the writer completes one itself between groups (the
// background has copied nearly everything by then, so this is short), which
// bounds the WAL file at about 8 MB.
constexpr int kWalLimitFrames = 2000;

std::int64_t ToInt64(std::uint64_t value) {
  return static_cast<std::int64_t>(value);
}

std::uint64_t ColumnSequence(sqlite3_stmt* statement, int column) {
  return static_cast<std::uint64_t>(sqlite3_column_int64(statement, column));
}

// The receive time a row files an event under: microseconds since the
// epoch (what retention compares), and the nanoseconds past them.
struct RowTime {
  std::int64_t micros = 0;
  std::int64_t extra_nanos = 0;
};

RowTime ToRowTime(absl::Time time) {
  RowTime row;
  row.micros = absl::ToUnixMicros(time);
  row.extra_nanos =
      absl::ToInt64Nanoseconds(time - absl::FromUnixMicros(row.micros));
  return row;
}

absl::Time ColumnTime(sqlite3_stmt* statement, int column) {
  return absl::FromUnixMicros(sqlite3_column_int64(statement, column)) +
         absl::Nanoseconds(sqlite3_column_int64(statement, column + 1));
}

// The event a lean row keeps (receive time, endpoint, body): derived again.
// Should the body no longer normalize (a damaged row, or a later normalizer
// stricter than the one that took it), the event is served with what the
// row holds rather than lost.
EventPtr DeriveEvent(std::uint64_t sequence, absl::Time receive_time,
                     absl::string_view endpoint, absl::string_view body) {
  absl::StatusOr<std::shared_ptr<StoredEvent>> derived =
      StoredEvent::FromBody(sequence, receive_time, endpoint, body);
  if (derived.ok()) return *std::move(derived);
  Log(LogLevel::kError,
      "a stored webhook's body no longer gives an event; it is served with "
      "its body, endpoint and receive time only",
      {{"sequence", sequence}, {"error", derived.status().message()}});
  v1::Event event;
  event.set_endpoint(std::string(endpoint));
  event.set_body(std::string(body));
  SetTimestamp(receive_time, *event.mutable_receive_time());
  std::shared_ptr<StoredEvent> kept = StoredEvent::Create(event);
  kept->set_sequence(sequence);
  return kept;
}

// The event in a row of kRead's columns from `first` on: sequence, receive
// time (two columns), endpoint, body, and the encoding of a row that is not
// lean.
EventPtr ColumnEvent(sqlite3_stmt* statement, int first) {
  const std::uint64_t sequence = ColumnSequence(statement, first);
  const absl::Time receive_time = ColumnTime(statement, first + 1);
  if (sqlite3_column_type(statement, first + 4) != SQLITE_NULL) {
    return DeriveEvent(sequence, receive_time, ColumnText(statement, first + 3),
                       ColumnBlob(statement, first + 4));
  }
  return StoredEvent::FromKeptEncoding(sequence, receive_time,
                                       ColumnBlob(statement, first + 5));
}

// Binds one row of the insert statement (see sqlite::OpenSchema) and runs
// it.
absl::Status InsertRow(sqlite::Connection& writer, sqlite3_stmt* insert,
                       const StoredEvent& event, std::uint64_t sequence) {
  ResetOnExit reset(insert);
  const RowTime time = ToRowTime(event.receive_time());
  sqlite3_bind_int64(insert, 1, ToInt64(sequence));
  sqlite3_bind_int64(insert, 2, time.micros);
  sqlite3_bind_int64(insert, 3, time.extra_nanos);
  // The lean row when the body gives the event back; else the encoding.
  if (event.derived_from_body()) {
    BindText(insert, 4, event.endpoint());
    BindBlob(insert, 5, event.body());
  } else {
    BindBlob(insert, 6, event.encoding_without_sequence());
  }
  if (const int rc = sqlite3_step(insert); rc != SQLITE_DONE) {
    return writer.StoreError(rc, "insert");
  }
  return absl::OkStatus();
}

}  // namespace

SqliteEventLog::SqliteEventLog(Options options, const Clock& clock)
    : options_(std::move(options)),
      clock_(clock),
      path_(absl::StrCat(options_.directory, "/events.db")) {}

absl::StatusOr<std::unique_ptr<SqliteEventLog>> SqliteEventLog::Open(
    Options options, const Clock& clock) {
  ASSIGN_OR_RETURN(const int lock_fd,
                   sqlite::LockDataDirectory(options.directory));
  std::unique_ptr<SqliteEventLog> log(
      new SqliteEventLog(std::move(options), clock));
  log->lock_fd_ = lock_fd;
  // Events are sensitive: the database is the owner's alone.
  sqlite::MakePrivate(log->path_);
  RETURN_IF_ERROR(log->OpenWriter());
  RETURN_IF_ERROR(log->ReadState());
  RETURN_IF_ERROR(log->OpenCheckpointer());
  RETURN_IF_ERROR(log->OpenWal());
  SqliteEventLog* raw = log.get();
  log->writer_thread_ = std::thread([raw] { raw->WriterLoop(); });
  log->checkpointer_thread_ = std::thread([raw] { raw->CheckpointerLoop(); });
  return log;
}

absl::Status SqliteEventLog::OpenWriter() {
  int rc = SQLITE_OK;
  writer_ = sqlite::Connection::Open(
      path_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, rc);
  if (rc != SQLITE_OK) return writer_->OpenError(rc, "open");
  RETURN_IF_ERROR(sqlite::ConfigureWriter(*writer_));
  sqlite3_wal_hook(writer_->db(), &SqliteEventLog::OnWalCommit, this);
  ASSIGN_OR_RETURN(insert_, sqlite::OpenSchema(*writer_));
  return absl::OkStatus();
}

absl::Status SqliteEventLog::ReadState() {
  // A failure to read is a startup error here, not a refused webhook.
  absl::StatusOr<SequenceRange> range = ReadRange();
  if (!range.ok()) {
    return WithCode(range.status(), absl::StatusCode::kFailedPrecondition);
  }
  {
    absl::MutexLock lock(&range_mu_);
    range_ = *range;
  }
  last_written_ = range->last;
  if (absl::Status status = ReadReplayIndex(); !status.ok()) {
    return WithCode(status, absl::StatusCode::kFailedPrecondition);
  }
  absl::StatusOr<Released> released = ReadReleased();
  if (!released.ok()) {
    return WithCode(released.status(), absl::StatusCode::kFailedPrecondition);
  }
  absl::MutexLock lock(&mu_);
  released_ = *released;
  return absl::OkStatus();
}

absl::Status SqliteEventLog::OpenCheckpointer() {
  int rc = SQLITE_OK;
  checkpointer_ = sqlite::Connection::Open(path_, SQLITE_OPEN_READWRITE, rc);
  if (rc == SQLITE_OK) rc = checkpointer_->RunOnce("PRAGMA synchronous=NORMAL");
  if (rc != SQLITE_OK) {
    return checkpointer_->OpenError(rc, "open a checkpointer on");
  }
  return absl::OkStatus();
}

absl::Status SqliteEventLog::OpenWal() {
  // The writer fsyncs the WAL through a descriptor of its own: fsync makes
  // the file's data durable whichever descriptor wrote it.
  const std::string wal_path = absl::StrCat(path_, "-wal");
  wal_fd_ = ::open(wal_path.c_str(), O_RDONLY | O_CLOEXEC);
  if (wal_fd_ < 0) {
    return MakeError(absl::StatusCode::kFailedPrecondition, kStoreFailed,
                     absl::StrCat("cannot open the event store's WAL ",
                                  wal_path, ": ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

absl::StatusOr<SequenceRange> SqliteEventLog::ReadRange() {
  int rc = SQLITE_OK;
  sqlite3_stmt* statement = writer_->Prepare(kRange, rc);
  if (statement == nullptr) return writer_->StoreError(rc, "read the range");
  ResetOnExit reset(statement);
  if ((rc = sqlite3_step(statement)) != SQLITE_ROW) {
    return writer_->StoreError(rc, "read the range");
  }
  const bool empty = sqlite3_column_type(statement, 0) == SQLITE_NULL;
  SequenceRange range;
  range.last =
      std::max(ColumnSequence(statement, 1), ColumnSequence(statement, 2));
  range.oldest = empty ? range.last + 1 : ColumnSequence(statement, 0);
  return range;
}

absl::Status SqliteEventLog::ReadReplayIndex() {
  int rc = SQLITE_OK;
  sqlite3_stmt* statement = writer_->Prepare(kReadDigests, rc);
  if (statement == nullptr) {
    return writer_->StoreError(rc, "read the replay digests");
  }
  ResetOnExit reset(statement);
  while ((rc = sqlite3_step(statement)) == SQLITE_ROW) {
    const std::uint64_t sequence = ColumnSequence(statement, 0);
    if (sqlite3_column_type(statement, 2) != SQLITE_NULL) {
      replays_.Add(sequence, ComputeReplayDigest(ColumnText(statement, 1),
                                                 ColumnBlob(statement, 2)));
      continue;
    }
    const std::shared_ptr<StoredEvent> event = StoredEvent::FromKeptEncoding(
        sequence, absl::UnixEpoch(), ColumnBlob(statement, 3));
    if (event->has_replay_digest()) {
      replays_.Add(sequence, event->replay_digest());
    }
  }
  if (rc != SQLITE_DONE) {
    return writer_->StoreError(rc, "read the replay digests");
  }
  return absl::OkStatus();
}

absl::StatusOr<SqliteEventLog::Released> SqliteEventLog::ReadReleased() {
  int rc = SQLITE_OK;
  sqlite3_stmt* statement = writer_->Prepare(kReadReleased, rc);
  if (statement == nullptr) return writer_->StoreError(rc, "read the release");
  ResetOnExit reset(statement);
  if ((rc = sqlite3_step(statement)) != SQLITE_ROW) {
    return writer_->StoreError(rc, "read the release");
  }
  Released released;
  released.through = ColumnSequence(statement, 0);
  released.bookmark = ColumnSequence(statement, 1);
  return released;
}

SqliteEventLog::~SqliteEventLog() {
  Close();
  {
    absl::MutexLock lock(&readers_mu_);
    idle_readers_.clear();
  }
  if (wal_fd_ >= 0) ::close(wal_fd_);
  if (lock_fd_ >= 0) ::close(lock_fd_);
}

void SqliteEventLog::Close() {
  absl::MutexLock close_lock(&close_mu_);
  {
    absl::MutexLock lock(&mu_);
    closing_ = true;
  }
  // The writer commits what is waiting and runs the last callbacks.
  if (writer_thread_.joinable()) writer_thread_.join();
  {
    absl::MutexLock lock(&checkpoint_mu_);
    checkpointer_done_ = true;
  }
  if (checkpointer_thread_.joinable()) checkpointer_thread_.join();
  checkpointer_.reset();
  writer_.reset();
}

void SqliteEventLog::Append(std::shared_ptr<StoredEvent> event,
                            AppendCallback done) {
  {
    absl::MutexLock lock(&mu_);
    if (!closing_) {
      pending_.push_back({std::move(event), std::move(done)});
      return;
    }
  }
  std::move(done)(MakeError(absl::StatusCode::kUnavailable, kShuttingDown,
                            "the event store is closed; the event was not "
                            "stored"));
}

bool SqliteEventLog::WriterHasWork() const {
  return !pending_.empty() || closing_ ||
         retention_requested_ != retention_done_;
}

void SqliteEventLog::WriterLoop() {
  std::vector<Pending> batch;
  // Retention looks once at startup, then every retention_interval.
  RetentionTurns retention{absl::Now()};
  for (;;) {
    std::uint64_t requested = 0;
    switch (AwaitTurn(retention, batch, requested)) {
      case Turn::kCommit:
        Finish(CommitBatch(std::move(batch)));
        batch.clear();
        retention.last_was_retention = false;
        if (wal_frames_ >= kWalLimitFrames) CompleteCheckpoint();
        break;
      case Turn::kRetention:
        RunRetention(retention, requested);
        break;
      case Turn::kWait:
        break;
      case Turn::kStop:
        StopWriter();
        return;
    }
  }
}

SqliteEventLog::Turn SqliteEventLog::AwaitTurn(const RetentionTurns& retention,
                                               std::vector<Pending>& batch,
                                               std::uint64_t& requested) {
  absl::MutexLock lock(&mu_);
  if (!retention.more) {
    mu_.AwaitWithDeadline(absl::Condition(this, &SqliteEventLog::WriterHasWork),
                          retention.next);
  }
  const bool retention_wanted = retention.more ||
                                absl::Now() >= retention.next ||
                                retention_requested_ != retention_done_;
  requested = retention_requested_;
  if (!pending_.empty() &&
      !(retention_wanted && !retention.last_was_retention)) {
    TakeBatchLocked(batch);
    return Turn::kCommit;
  }
  if (pending_.empty() && (closing_ || !retention_wanted)) {
    return closing_ ? Turn::kStop : Turn::kWait;
  }
  // The retention deadline passed, a pass was asked for, or the last step
  // left more to delete.
  return Turn::kRetention;
}

void SqliteEventLog::TakeBatchLocked(std::vector<Pending>& batch) {
  std::size_t bytes = 0;
  while (!pending_.empty() && batch.size() < options_.max_batch_events) {
    const StoredEvent& next = *pending_.front().event;
    const std::size_t size = next.encoding_without_sequence().size();
    if (!batch.empty() && bytes + size > options_.max_batch_bytes) break;
    // A copy's group is consecutive: only its first event may skip ahead
    // (and drop what is before it).
    if (!options_.assign_sequences && !batch.empty() &&
        next.sequence() != batch.back().event->sequence() + 1) {
      break;
    }
    bytes += size;
    batch.push_back(std::move(pending_.front()));
    pending_.pop_front();
  }
}

void SqliteEventLog::RunRetention(RetentionTurns& retention,
                                  std::uint64_t requested) {
  const absl::Status status = RetentionStep(retention.more);
  retention.last_was_retention = true;
  if (!status.ok()) {
    retention.more = false;
    Log(LogLevel::kWarning, "retention could not delete old events",
        {{"error", status.message()}});
  }
  if (retention.more) return;
  retention.next = absl::Now() + options_.retention_interval;
  absl::MutexLock lock(&mu_);
  retention_done_ = requested;
  retention_status_ = status;
}

void SqliteEventLog::StopWriter() {
  // The last release is kept for the next start, even if nothing was deleted.
  if (absl::Status status = WriteRelease(); !status.ok()) {
    Log(LogLevel::kWarning, "the event store could not write the release",
        {{"error", status.message()}});
  }
  absl::MutexLock lock(&mu_);
  retention_done_ = retention_requested_;
  retention_status_ = MakeError(absl::StatusCode::kUnavailable, kShuttingDown,
                                "the event store is closed");
}

SqliteEventLog::Written SqliteEventLog::CommitBatch(
    std::vector<Pending> batch) {
  const absl::Time start = absl::Now();
  Written written{std::move(batch), absl::OkStatus()};
  std::uint64_t first = last_written_ + 1;
  std::uint64_t drop_before = 0;
  if (!options_.assign_sequences) {
    first = written.events.front().event->sequence();
    written.status = CheckCopySequence(first, drop_before);
  }
  if (written.status.ok()) {
    written.status = InsertBatch(written.events, first, drop_before);
  }
  if (!written.status.ok()) {
    RecoverFromFailedCommit(written);
    return written;
  }
  if (drop_before != 0) replays_.ForgetBefore(drop_before);
  stats_.commit_latency.Observe(absl::Now() - start);
  last_written_ = first + written.events.size() - 1;
  std::uint64_t sequence = first;
  for (Pending& pending : written.events) {
    pending.event->set_sequence(sequence++);
  }
  return written;
}

absl::Status SqliteEventLog::CheckCopySequence(std::uint64_t first,
                                               std::uint64_t& drop_before) {
  if (first <= last_written_) {
    return MakeError(
        absl::StatusCode::kFailedPrecondition, kStoreFailed,
        absl::StrCat("sequence ", first, " is not after the last stored, ",
                     last_written_));
  }
  if (first == last_written_ + 1) return absl::OkStatus();
  bool announced = false;
  {
    absl::MutexLock lock(&mu_);
    announced = skip_to_ == first;
  }
  if (!announced) {
    return MakeError(absl::StatusCode::kFailedPrecondition, kStoreFailed,
                     absl::StrCat("sequence ", first, " leaves a gap after ",
                                  last_written_));
  }
  drop_before = first;
  // Readers asking for what is dropped get SEQUENCE_TOO_OLD from now.
  absl::MutexLock lock(&range_mu_);
  range_.oldest = std::max(range_.oldest, drop_before);
  return absl::OkStatus();
}

void SqliteEventLog::RecoverFromFailedCommit(const Written& written) {
  stats_.failed_commits.fetch_add(1, std::memory_order_relaxed);
  Log(LogLevel::kError, "the event store could not commit; webhooks refused",
      {{"events", written.events.size()}, {"error", written.status.message()}});
  // Whatever happened, continue from what the store really holds.
  absl::StatusOr<SequenceRange> range = ReadRange();
  if (range.ok()) {
    last_written_ = range->last;
  } else {
    Log(LogLevel::kError, "cannot read the event store's range",
        {{"error", range.status().message()}});
  }
}

void SqliteEventLog::Finish(Written written) {
  if (!written.status.ok()) {
    for (Pending& pending : written.events) {
      std::move(pending.done)(written.status);
    }
    return;
  }
  const std::size_t events = written.events.size();
  const absl::Status synced = SyncWal(events);
  // Replays are recognized from the moment readers see the events.
  for (const Pending& pending : written.events) {
    if (pending.event->has_replay_digest()) {
      replays_.Add(pending.event->sequence(), pending.event->replay_digest());
    }
  }
  // Readers see events once they are durable (or, if the fsync failed, as
  // SQLite holds them: they are in the file, with their sequences).
  {
    absl::MutexLock lock(&range_mu_);
    range_.last = written.events.back().event->sequence();
  }
  if (synced.ok()) {
    stats_.commits.fetch_add(1, std::memory_order_relaxed);
    stats_.committed_events.fetch_add(events, std::memory_order_relaxed);
  }
  for (Pending& pending : written.events) {
    if (!synced.ok()) {
      std::move(pending.done)(synced);
    } else {
      EventPtr stored = std::move(pending.event);
      Announce(stored);
      std::move(pending.done)(std::move(stored));
    }
  }
}

absl::Status SqliteEventLog::SyncWal(std::size_t events) {
  if (options_.sync != Sync::kFull) return absl::OkStatus();
  const absl::Time start = absl::Now();
  absl::Status synced;
  if (::fdatasync(wal_fd_) != 0) {
    synced = MakeError(
        absl::StatusCode::kUnavailable,
        sqlite::IsNoSpace(errno) ? kStoreFull : kStoreFailed,
        absl::StrCat("the event store could not be synced to disk (",
                     std::strerror(errno), "); the event may be lost"));
    Log(LogLevel::kError, "fsync of the event store failed",
        {{"events", events}, {"error", synced.message()}});
  }
  stats_.sync_latency.Observe(absl::Now() - start);
  return synced;
}

int SqliteEventLog::OnWalCommit(void* self, sqlite3* /*db*/,
                                const char* /*name*/, int frames) {
  auto* log = static_cast<SqliteEventLog*>(self);
  log->wal_frames_ = frames;
  // A smaller WAL than at the last request: SQLite started it over.
  if (frames < log->checkpoint_asked_at_) log->checkpoint_asked_at_ = 0;
  // Past the limit the writer completes the checkpoint itself.
  if (frames >= log->checkpoint_asked_at_ + kCheckpointFrames &&
      frames < kWalLimitFrames) {
    log->checkpoint_asked_at_ = frames;
    absl::MutexLock lock(&log->checkpoint_mu_);
    log->checkpoint_wanted_ = true;
  }
  return SQLITE_OK;
}

void SqliteEventLog::CompleteCheckpoint() {
  // A background checkpoint still running (rare: it started some 500 frames
  // ago) is waited for, so that the WAL's bound does not depend on how long
  // the disk takes; one asked for and not started is done here instead.
  absl::MutexLock lock(&checkpoint_mu_);
  checkpoint_wanted_ = false;
  checkpoint_mu_.Await(absl::Condition(
      +[](bool* running) { return !*running; }, &checkpoint_running_));
  // Complete (every frame copied), the next commit starts the WAL over.
  // BUSY (another process checkpoints): tried again after the next group.
  CountCheckpoint(
      sqlite3_wal_checkpoint_v2(writer_->db(), nullptr,
                                SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr),
      writer_->db());
}

void SqliteEventLog::CheckpointerLoop() {
  for (;;) {
    {
      absl::MutexLock lock(&checkpoint_mu_);
      checkpoint_mu_.Await(absl::Condition(
          +[](SqliteEventLog* log) ABSL_NO_THREAD_SAFETY_ANALYSIS {
            return log->checkpoint_wanted_ || log->checkpointer_done_;
          },
          this));
      if (checkpointer_done_) return;
      checkpoint_wanted_ = false;
      checkpoint_running_ = true;
    }
    const int rc =
        sqlite3_wal_checkpoint_v2(checkpointer_->db(), nullptr,
                                  SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
    {
      absl::MutexLock lock(&checkpoint_mu_);
      checkpoint_running_ = false;
    }
    CountCheckpoint(rc, checkpointer_->db());
  }
}

void SqliteEventLog::CountCheckpoint(int rc, sqlite3* db) {
  if (rc == SQLITE_OK) {
    stats_.checkpoints.fetch_add(1, std::memory_order_relaxed);
  } else if (rc != SQLITE_BUSY) {
    Log(LogLevel::kWarning, "checkpoint of the event store failed",
        {{"error", sqlite3_errmsg(db)}});
  }
}

absl::Status SqliteEventLog::InsertBatch(const std::vector<Pending>& batch,
                                         std::uint64_t first_sequence,
                                         std::uint64_t drop_before) {
  if (const int rc = writer_->Begin(); rc != SQLITE_OK) {
    return writer_->StoreError(rc, "begin");
  }
  absl::Status status = WriteBatch(batch, first_sequence, drop_before);
  if (status.ok()) {
    if (const int rc = writer_->Commit(); rc != SQLITE_OK) {
      status = writer_->StoreError(rc, "commit");
    }
  }
  // SQLite may have rolled back already (a full disk does that).
  if (!status.ok()) writer_->RollbackIfOpen();
  return status;
}

absl::Status SqliteEventLog::WriteBatch(const std::vector<Pending>& batch,
                                        std::uint64_t first_sequence,
                                        std::uint64_t drop_before) {
  int rc = SQLITE_OK;
  if (drop_before != 0 && (rc = DropBefore(drop_before)) != SQLITE_OK) {
    return writer_->StoreError(rc, "drop events the source no longer has");
  }
  sqlite3_stmt* insert = writer_->Prepare(insert_, rc);
  if (insert == nullptr) return writer_->StoreError(rc, "prepare");
  std::uint64_t sequence = first_sequence;
  for (const Pending& pending : batch) {
    RETURN_IF_ERROR(InsertRow(*writer_, insert, *pending.event, sequence++));
  }
  return absl::OkStatus();
}

int SqliteEventLog::DropBefore(std::uint64_t end) {
  int rc = writer_->Run(kDelete, {ToInt64(end)});
  if (rc == SQLITE_OK) rc = writer_->Run(kDeletedThrough, {ToInt64(end - 1)});
  return rc;
}

absl::Status SqliteEventLog::WriteRelease() {
  Released released;
  {
    absl::MutexLock lock(&mu_);
    if (!release_unwritten_) return absl::OkStatus();
    release_unwritten_ = false;
    released = released_;
  }
  const int rc = writer_->Run(
      kWriteReleased, {ToInt64(released.through), ToInt64(released.bookmark)});
  if (rc != SQLITE_OK) {
    absl::MutexLock lock(&mu_);
    release_unwritten_ = true;
    return writer_->StoreError(rc, "write the release");
  }
  return absl::OkStatus();
}

absl::Status SqliteEventLog::RetentionStep(bool& more) {
  more = false;
  RETURN_IF_ERROR(WriteRelease());
  const SequenceRange range = Range();
  if (range.oldest > range.last) return absl::OkStatus();
  const std::uint64_t chunk_end =
      std::min(range.oldest + options_.retention_chunk, range.last + 1);
  ASSIGN_OR_RETURN(const std::uint64_t end, RetentionEnd(range, chunk_end));
  if (end <= range.oldest) return absl::OkStatus();
  // Readers asking for what is being deleted get SEQUENCE_TOO_OLD from now.
  {
    absl::MutexLock lock(&range_mu_);
    range_.oldest = end;
  }
  int rc = writer_->Begin();
  if (rc == SQLITE_OK) rc = DropBefore(end);
  if (rc == SQLITE_OK) rc = writer_->Commit();
  if (rc != SQLITE_OK) {
    absl::Status status = writer_->StoreError(rc, "delete old events");
    writer_->RollbackIfOpen();
    return status;
  }
  replays_.ForgetBefore(end);
  stats_.deleted_events.fetch_add(end - range.oldest,
                                  std::memory_order_relaxed);
  more = end == range.oldest + options_.retention_chunk;
  return absl::OkStatus();
}

absl::StatusOr<std::uint64_t> SqliteEventLog::RetentionEnd(
    const SequenceRange& range, std::uint64_t chunk_end) {
  // Delete the sequences before `due`, at most one chunk of them: those
  // beyond max_events and those released, then those older than retention.
  std::uint64_t due = range.oldest;
  if (options_.max_events > 0 &&
      range.last - range.oldest + 1 > options_.max_events) {
    due = range.last - options_.max_events + 1;
  }
  {
    absl::MutexLock lock(&mu_);
    due = std::max(due, std::min(released_.through, range.last) + 1);
  }
  if (options_.retention == absl::InfiniteDuration() || due >= chunk_end) {
    return std::min(due, chunk_end);
  }
  const std::int64_t cutoff =
      absl::ToUnixMicros(clock_.Now() - options_.retention);
  int rc = SQLITE_OK;
  sqlite3_stmt* first_young = writer_->Prepare(kFirstYoung, rc);
  if (first_young == nullptr) return writer_->StoreError(rc, "prepare");
  ResetOnExit reset(first_young);
  sqlite3_bind_int64(first_young, 1, ToInt64(due));
  sqlite3_bind_int64(first_young, 2, ToInt64(chunk_end));
  sqlite3_bind_int64(first_young, 3, cutoff);
  rc = sqlite3_step(first_young);
  if (rc == SQLITE_ROW) return ColumnSequence(first_young, 0);
  if (rc == SQLITE_DONE) return chunk_end;  // everything in the chunk is old
  return writer_->StoreError(rc, "find old events");
}

absl::Status SqliteEventLog::EnforceRetentionForTest() {
  absl::MutexLock lock(&mu_);
  if (closing_) {
    return MakeError(absl::StatusCode::kUnavailable, kShuttingDown,
                     "the event store is closed");
  }
  const std::uint64_t ticket = ++retention_requested_;
  struct Waiting {
    const SqliteEventLog* log;
    std::uint64_t ticket;
  } waiting{this, ticket};
  mu_.Await(absl::Condition(
      +[](Waiting* w) ABSL_NO_THREAD_SAFETY_ANALYSIS {
        return w->log->retention_done_ >= w->ticket;
      },
      &waiting));
  return retention_status_;
}

void SqliteEventLog::SkipTo(std::uint64_t sequence) {
  absl::MutexLock lock(&mu_);
  skip_to_ = sequence;
}

void SqliteEventLog::Release(std::uint64_t through, std::uint64_t bookmark) {
  absl::MutexLock lock(&mu_);
  released_ = {through, bookmark};
  release_unwritten_ = true;
  // A retention pass writes it and deletes what it allows.
  ++retention_requested_;
}

SqliteEventLog::Released SqliteEventLog::released() const {
  absl::MutexLock lock(&mu_);
  return released_;
}

SequenceRange SqliteEventLog::Range() const {
  absl::MutexLock lock(&range_mu_);
  return range_;
}

std::optional<std::uint64_t> SqliteEventLog::FindReplay(
    const ReplayDigest& digest) const {
  return replays_.Find(digest);
}

void SqliteEventLog::AddMetrics(PrometheusText& text) const {
  text.AddCounter("paradym_webhooks_store_commits_total",
                  "Transactions that committed events (group commits).",
                  stats_.commits.load(std::memory_order_relaxed));
  text.AddCounter("paradym_webhooks_store_committed_events_total",
                  "Events committed to the store.",
                  stats_.committed_events.load(std::memory_order_relaxed));
  text.AddCounter("paradym_webhooks_store_failed_commits_total",
                  "Transactions that failed and were rolled back; their "
                  "webhooks got 503 / UNAVAILABLE.",
                  stats_.failed_commits.load(std::memory_order_relaxed));
  text.AddCounter("paradym_webhooks_store_deleted_events_total",
                  "Events deleted by retention.",
                  stats_.deleted_events.load(std::memory_order_relaxed));
  text.AddHistogram("paradym_webhooks_store_commit_duration_seconds",
                    "Time to write and commit one group of events.",
                    stats_.commit_latency);
  text.AddHistogram(
      "paradym_webhooks_store_sync_duration_seconds",
      "Time to fsync the WAL for the groups written (--sync=full).",
      stats_.sync_latency);
  text.AddCounter("paradym_webhooks_store_checkpoints_total",
                  "Background copies of the WAL into the database file.",
                  stats_.checkpoints.load(std::memory_order_relaxed));
  text.AddGauge("paradym_webhooks_replay_digests",
                "Retained events whose replay digest is held in memory.",
                static_cast<double>(replays_.size()));
}

absl::StatusOr<std::unique_ptr<sqlite::Connection>>
SqliteEventLog::AcquireReader() const {
  {
    absl::MutexLock lock(&readers_mu_);
    if (!idle_readers_.empty()) {
      std::unique_ptr<sqlite::Connection> reader =
          std::move(idle_readers_.back());
      idle_readers_.pop_back();
      return reader;
    }
  }
  int rc = SQLITE_OK;
  std::unique_ptr<sqlite::Connection> reader =
      sqlite::Connection::Open(path_, SQLITE_OPEN_READWRITE, rc);
  if (rc == SQLITE_OK) rc = reader->RunOnce("PRAGMA query_only=1");
  if (rc != SQLITE_OK) return reader->StoreError(rc, "open a reader");
  return reader;
}

void SqliteEventLog::ReleaseReader(
    std::unique_ptr<sqlite::Connection> reader) const {
  absl::MutexLock lock(&readers_mu_);
  if (idle_readers_.size() < kMaxIdleReaders) {
    idle_readers_.push_back(std::move(reader));
  }
}

absl::Status SqliteEventLog::ReadAfter(std::uint64_t after, std::uint64_t up_to,
                                       std::size_t max_events,
                                       std::vector<EventPtr>& out) const {
  const SequenceRange range = Range();
  if (range.TooOld(after)) return SequenceTooOldError(after, range);
  const std::uint64_t last = std::min(up_to, range.last);
  if (after >= last || max_events == 0) return absl::OkStatus();
  ASSIGN_OR_RETURN(std::unique_ptr<sqlite::Connection> reader, AcquireReader());
  const std::size_t old_size = out.size();
  absl::Status status = ReadRows(*reader, after, last, max_events, out);
  if (status.ok() && out.size() == old_size) {
    // The events asked for were deleted meanwhile.
    status = SequenceTooOldError(after, Range());
  }
  if (status.ok()) {
    ReleaseReader(std::move(reader));
  } else {
    out.resize(old_size);
  }
  return status;
}

absl::Status SqliteEventLog::ReadRows(sqlite::Connection& reader,
                                      std::uint64_t after, std::uint64_t last,
                                      std::size_t max_events,
                                      std::vector<EventPtr>& out) const {
  int rc = SQLITE_OK;
  sqlite3_stmt* read = reader.Prepare(kRead, rc);
  if (read == nullptr) return reader.StoreError(rc, "prepare");
  ResetOnExit reset(read);
  sqlite3_bind_int64(read, 1, ToInt64(after));
  sqlite3_bind_int64(read, 2, ToInt64(last));
  sqlite3_bind_int64(read, 3,
                     static_cast<std::int64_t>(
                         std::min<std::uint64_t>(max_events, last - after)));
  std::uint64_t expected = after + 1;
  while ((rc = sqlite3_step(read)) == SQLITE_ROW) {
    if (ColumnSequence(read, 0) != expected++) {
      break;  // retention got there first
    }
    out.push_back(ColumnEvent(read, 0));
  }
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
    return reader.StoreError(rc, "read events");
  }
  return absl::OkStatus();
}

}  // namespace paradym::webhooks
