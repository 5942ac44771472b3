#include "server/store/sqlite_event_log.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "paradym/webhooks/v1/event.pb.h"
#include "server/core/errors.h"
#include "server/core/proto_time.h"
#include "server/core/structured_log.h"

namespace paradym::webhooks {
namespace {

namespace v1 = ::paradym::webhooks::v1;

// Marks the file as ours ("PWH1"), and the layout of its tables.
constexpr int kApplicationId = 0x50574831;
// 3 keeps what an event is derived from (receive time, endpoint, body)
// instead of its encoding, filter fields and replay digest: a third of the
// bytes. 1 and 2 stores are migrated at open by adding the new columns
// (instant, nothing rewritten); their rows keep their encodings, read as
// they were, and the old columns stay, filled with '' in new rows.
constexpr int kSchemaVersion = 3;

// A row is either lean (body is not NULL: the event is
// StoredEvent::FromBody of its receive time, endpoint and body) or kept
// whole (`event`: the encoding without sequence, for an event its body does
// not give back, or a message on a stream that is no event).
// receive_time_us is for retention; receive_time_extra_ns adds the
// nanoseconds past it.
constexpr char kSchema[] = R"sql(
CREATE TABLE events (
  sequence INTEGER PRIMARY KEY,
  receive_time_us INTEGER NOT NULL,
  receive_time_extra_ns INTEGER,
  endpoint TEXT,
  body BLOB,
  event BLOB
);
CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
)sql";

constexpr char kBegin[] = "BEGIN IMMEDIATE";
constexpr char kCommit[] = "COMMIT";
constexpr char kRollback[] = "ROLLBACK";
constexpr char kInsert[] =
    "INSERT INTO events (sequence, receive_time_us, receive_time_extra_ns, "
    "endpoint, body, event) VALUES (?1, ?2, ?3, ?4, ?5, ?6)";
// The same into a table migrated from format 1 or 2, whose old columns
// cannot be NULL.
constexpr char kInsertIntoMigrated[] =
    "INSERT INTO events (sequence, receive_time_us, receive_time_extra_ns, "
    "endpoint, body, event, event_type, project_id, workflow_id, "
    "workflow_execution_id) VALUES (?1, ?2, ?3, ?4, ?5, coalesce(?6, X''), "
    "'', '', '', '')";
constexpr char kRead[] =
    "SELECT sequence, receive_time_us, receive_time_extra_ns, endpoint, body, "
    "CASE WHEN body IS NULL THEN event END FROM events WHERE sequence > ?1 "
    "AND sequence <= ?2 ORDER BY sequence LIMIT ?3";
// What the replay index needs of every retained event: endpoint and body,
// or the encoding they are in.
constexpr char kReadDigests[] =
    "SELECT sequence, endpoint, body, CASE WHEN body IS NULL THEN event END "
    "FROM events ORDER BY sequence";
constexpr char kMigrate[] =
    "BEGIN; ALTER TABLE events ADD COLUMN receive_time_extra_ns INTEGER; "
    "ALTER TABLE events ADD COLUMN endpoint TEXT; ALTER TABLE events ADD "
    "COLUMN body BLOB; PRAGMA user_version=3; COMMIT;";
constexpr char kIsMigrated[] =
    "SELECT count(*) FROM pragma_table_info('events') WHERE name = "
    "'event_type'";
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
constexpr char kOpenedAt[] =
    "INSERT OR REPLACE INTO meta (key, value) VALUES ('last_open_unix', ?1)";

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

// Whether a failed write or fsync ran out of space: a full disk, a quota, or
// (EFBIG) a file size limit.
bool IsNoSpace(int error) {
  return error == ENOSPC || error == EDQUOT || error == EFBIG;
}

// SQLite's message for a failed call: the connection's, else the code's.
std::string SqliteDetail(int rc, sqlite3* db) {
  return db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
}

// The runtime error for a failed SQLite call: UNAVAILABLE, STORE_FULL when
// the disk (or file size limit) is full, STORE_FAILED otherwise.
absl::Status StoreError(int rc, sqlite3* db, absl::string_view doing) {
  // Read first: the failed write was this thread's last system call.
  const int last_errno = errno;
  const int primary = rc & 0xff;
  const std::string detail = SqliteDetail(rc, db);
  // SQLite says SQLITE_FULL only for a short write; a write refused outright
  // (ENOSPC, EDQUOT, or EFBIG under a file size limit) is an I/O error, and
  // the system error tells them apart.
  const int system_errno = db != nullptr && sqlite3_system_errno(db) != 0
                               ? sqlite3_system_errno(db)
                               : last_errno;
  const bool no_space = primary == SQLITE_FULL ||
                        (rc == SQLITE_IOERR_WRITE && IsNoSpace(system_errno));
  if (no_space) {
    return MakeError(
        absl::StatusCode::kUnavailable, kStoreFull,
        absl::StrCat("the disk holding the event store is full (", doing, ": ",
                     detail, "); the event was not stored"));
  }
  return MakeError(absl::StatusCode::kUnavailable, kStoreFailed,
                   absl::StrCat("the event store failed (", doing, ": ", detail,
                                "); the event was not stored"));
}

// The startup error for a failed SQLite call on `path`: DATA_LOSS when the
// file is corrupt, FAILED_PRECONDITION otherwise.
absl::Status OpenError(int rc, sqlite3* db, absl::string_view doing,
                       const std::string& path) {
  const int primary = rc & 0xff;
  const std::string detail = SqliteDetail(rc, db);
  if (primary == SQLITE_CORRUPT || primary == SQLITE_NOTADB) {
    return absl::DataLossError(absl::StrCat(
        "the event store ", path, " is corrupt (", doing, ": ", detail,
        "); move it away and restore a backup, or start with an empty "
        "data directory"));
  }
  return absl::FailedPreconditionError(
      absl::StrCat("cannot ", doing, " the event store ", path, ": ", detail,
                   " (is the data directory writable?)"));
}

std::int64_t ToInt64(std::uint64_t value) {
  return static_cast<std::int64_t>(value);
}

absl::string_view ColumnText(sqlite3_stmt* statement, int column) {
  const auto* text =
      reinterpret_cast<const char*>(sqlite3_column_text(statement, column));
  return absl::string_view(text == nullptr ? "" : text,
                           sqlite3_column_bytes(statement, column));
}

absl::string_view ColumnBlob(sqlite3_stmt* statement, int column) {
  const void* blob = sqlite3_column_blob(statement, column);
  const int size = sqlite3_column_bytes(statement, column);
  if (blob == nullptr) return absl::string_view();
  return absl::string_view(static_cast<const char*>(blob), size);
}

void BindText(sqlite3_stmt* statement, int index, absl::string_view text) {
  // Never a null pointer: SQLite would store NULL.
  sqlite3_bind_text(statement, index, text.empty() ? "" : text.data(),
                    static_cast<int>(text.size()), SQLITE_STATIC);
}

void BindBlob(sqlite3_stmt* statement, int index, absl::string_view blob) {
  if (blob.empty()) {
    sqlite3_bind_zeroblob(statement, index, 0);
  } else {
    sqlite3_bind_blob(statement, index, blob.data(),
                      static_cast<int>(blob.size()), SQLITE_STATIC);
  }
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
  const auto sequence =
      static_cast<std::uint64_t>(sqlite3_column_int64(statement, first));
  const absl::Time receive_time = ColumnTime(statement, first + 1);
  if (sqlite3_column_type(statement, first + 4) != SQLITE_NULL) {
    return DeriveEvent(sequence, receive_time, ColumnText(statement, first + 3),
                       ColumnBlob(statement, first + 4));
  }
  return StoredEvent::FromKeptEncoding(sequence, receive_time,
                                       ColumnBlob(statement, first + 5));
}

// Resets a prepared statement when it goes out of scope.
class ResetOnExit {
 public:
  explicit ResetOnExit(sqlite3_stmt* statement) : statement_(statement) {}
  ~ResetOnExit() {
    sqlite3_reset(statement_);
    sqlite3_clear_bindings(statement_);
  }
  ResetOnExit(const ResetOnExit&) = delete;
  ResetOnExit& operator=(const ResetOnExit&) = delete;

 private:
  sqlite3_stmt* statement_;
};

}  // namespace

// One SQLite connection and its prepared statements, used by one thread at
// a time.
class SqliteEventLog::Connection {
 public:
  // Always returns the connection, even when `rc` says opening failed, so
  // that the caller can read the error message before it is closed.
  static std::unique_ptr<Connection> Open(const std::string& path, int flags,
                                          int& rc) {
    sqlite3* db = nullptr;
    rc = sqlite3_open_v2(path.c_str(), &db, flags | SQLITE_OPEN_NOMUTEX,
                         nullptr);
    std::unique_ptr<Connection> connection(new Connection(db));
    if (rc == SQLITE_OK) {
      sqlite3_extended_result_codes(db, 1);
      sqlite3_busy_timeout(db, 5000);
    }
    return connection;
  }

  ~Connection() {
    for (auto& [sql, statement] : statements_) sqlite3_finalize(statement);
    sqlite3_close_v2(db_);
  }

  sqlite3* db() const { return db_; }

  // The prepared statement for `sql` (a string constant, cached by address),
  // or nullptr with `rc` set.
  sqlite3_stmt* Prepare(const char* sql, int& rc) {
    rc = SQLITE_OK;
    auto it = statements_.find(sql);
    if (it != statements_.end()) return it->second;
    sqlite3_stmt* statement = nullptr;
    rc = sqlite3_prepare_v3(db_, sql, -1, SQLITE_PREPARE_PERSISTENT, &statement,
                            nullptr);
    if (rc != SQLITE_OK) return nullptr;
    statements_.emplace(sql, statement);
    return statement;
  }

  // Runs `sql` (prepared and cached) with 64-bit integer parameters to the
  // end, ignoring any rows; returns SQLite's result code.
  int Run(const char* sql, std::initializer_list<std::int64_t> params = {}) {
    int rc = SQLITE_OK;
    sqlite3_stmt* statement = Prepare(sql, rc);
    if (statement == nullptr) return rc;
    ResetOnExit reset(statement);
    int index = 1;
    for (std::int64_t param : params) {
      sqlite3_bind_int64(statement, index++, param);
    }
    while ((rc = sqlite3_step(statement)) == SQLITE_ROW) {
    }
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
  }

  // Runs a statement that is not kept (schema, pragmas) and returns the first
  // column of its first row in `first`, if any.
  int RunOnce(const std::string& sql, std::string* first = nullptr) {
    sqlite3_stmt* statement = nullptr;
    int rc = sqlite3_prepare_v2(db_, sql.c_str(), -1, &statement, nullptr);
    if (rc != SQLITE_OK) return rc;
    bool have_first = false;
    while ((rc = sqlite3_step(statement)) == SQLITE_ROW) {
      if (first != nullptr && !have_first) {
        *first = std::string(ColumnText(statement, 0));
        have_first = true;
      }
    }
    sqlite3_finalize(statement);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
  }

 private:
  explicit Connection(sqlite3* db) : db_(db) {}

  sqlite3* const db_;
  absl::flat_hash_map<const char*, sqlite3_stmt*> statements_;
};

SqliteEventLog::SqliteEventLog(Options options, const Clock& clock)
    : options_(std::move(options)),
      clock_(clock),
      path_(absl::StrCat(options_.directory, "/events.db")) {}

absl::StatusOr<std::unique_ptr<SqliteEventLog>> SqliteEventLog::Open(
    Options options, const Clock& clock) {
  std::error_code error;
  const bool created =
      std::filesystem::create_directories(options.directory, error);
  if (error) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot create the data directory ", options.directory,
                     ": ", error.message()));
  }
  if (created) {
    // Events carry personal data (credential claims): owner only.
    std::filesystem::permissions(options.directory,
                                 std::filesystem::perms::owner_all, error);
  }
  std::unique_ptr<SqliteEventLog> log(
      new SqliteEventLog(std::move(options), clock));
  const std::string lock_path =
      absl::StrCat(log->options_.directory, "/events.lock");
  log->lock_fd_ = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (log->lock_fd_ < 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot write in the data directory ",
                     log->options_.directory, ": ", std::strerror(errno)));
  }
  if (::flock(log->lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("the data directory ", log->options_.directory,
                     " is in use by another paradym-webhooksd process (",
                     lock_path, " is locked)"));
  }
  // Events are sensitive: the database is the owner's alone, and SQLite
  // gives its WAL and shared-memory files the database file's mode. An
  // older, looser file is tightened.
  if (const int fd =
          ::open(log->path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
      fd >= 0) {
    struct stat st;
    if (::fstat(fd, &st) == 0 && (st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
      ::fchmod(fd, 0600);
    }
    ::close(fd);
  }
  if (absl::Status status = log->OpenWriter(); !status.ok()) return status;
  absl::StatusOr<SequenceRange> range = log->ReadRange();
  if (!range.ok())
    return absl::FailedPreconditionError(range.status().message());
  {
    absl::MutexLock lock(&log->range_mu_);
    log->range_ = *range;
  }
  log->last_written_ = range->last;
  if (absl::Status status = log->ReadReplayIndex(); !status.ok()) {
    return absl::FailedPreconditionError(status.message());
  }
  absl::StatusOr<Released> released = log->ReadReleased();
  if (!released.ok()) {
    return absl::FailedPreconditionError(released.status().message());
  }
  {
    absl::MutexLock lock(&log->mu_);
    log->released_ = *released;
  }
  if (absl::Status status = log->OpenCheckpointer(); !status.ok()) {
    return status;
  }
  // The writer fsyncs the WAL through a descriptor of its own: fsync makes
  // the file's data durable whichever descriptor wrote it.
  const std::string wal_path = absl::StrCat(log->path_, "-wal");
  log->wal_fd_ = ::open(wal_path.c_str(), O_RDONLY | O_CLOEXEC);
  if (log->wal_fd_ < 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot open the event store's WAL ", wal_path, ": ",
                     std::strerror(errno)));
  }
  SqliteEventLog* raw = log.get();
  log->writer_thread_ = std::thread([raw] { raw->WriterLoop(); });
  log->checkpointer_thread_ = std::thread([raw] { raw->CheckpointerLoop(); });
  return log;
}

absl::Status SqliteEventLog::OpenWriter() {
  int rc = SQLITE_OK;
  writer_ =
      Connection::Open(path_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, rc);
  sqlite3* db = writer_->db();
  if (rc != SQLITE_OK) return OpenError(rc, db, "open", path_);
  std::string mode;
  if ((rc = writer_->RunOnce("PRAGMA journal_mode=WAL", &mode)) != SQLITE_OK) {
    return OpenError(rc, db, "switch to WAL mode", path_);
  }
  if (mode != "wal") {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot switch the event store ", path_,
                     " to WAL mode (it stays in ", mode, " mode)"));
  }
  // Commits write the WAL without fsync; the writer fsyncs it once per
  // group (Sync::kFull). Checkpoints are the checkpointer's job.
  if ((rc = writer_->RunOnce("PRAGMA synchronous=NORMAL")) != SQLITE_OK ||
      (rc = writer_->RunOnce("PRAGMA wal_autocheckpoint=0")) != SQLITE_OK) {
    return OpenError(rc, db, "configure", path_);
  }
  sqlite3_wal_hook(db, &SqliteEventLog::OnWalCommit, this);

  std::string application_id, user_version, tables;
  if ((rc = writer_->RunOnce("PRAGMA application_id", &application_id)) !=
          SQLITE_OK ||
      (rc = writer_->RunOnce("PRAGMA user_version", &user_version)) !=
          SQLITE_OK ||
      (rc = writer_->RunOnce("SELECT count(*) FROM sqlite_schema", &tables)) !=
          SQLITE_OK) {
    return OpenError(rc, db, "read", path_);
  }
  if (application_id == "0" && user_version == "0" && tables == "0") {
    const std::string create = absl::StrCat(
        "BEGIN;", kSchema, "PRAGMA application_id=", kApplicationId,
        "; PRAGMA user_version=", kSchemaVersion, "; COMMIT;");
    char* message = nullptr;
    rc = sqlite3_exec(db, create.c_str(), nullptr, nullptr, &message);
    sqlite3_free(message);
    if (rc != SQLITE_OK) return OpenError(rc, db, "create", path_);
  } else if (application_id != std::to_string(kApplicationId)) {
    return absl::FailedPreconditionError(
        absl::StrCat(path_,
                     " is not a paradym-webhooks event store; point --data_dir "
                     "elsewhere"));
  } else if (user_version == "1" || user_version == "2") {
    char* message = nullptr;
    rc = sqlite3_exec(db, kMigrate, nullptr, nullptr, &message);
    sqlite3_free(message);
    if (rc != SQLITE_OK) {
      if (!sqlite3_get_autocommit(db)) writer_->RunOnce("ROLLBACK");
      return OpenError(rc, db,
                       absl::StrCat("migrate (format ", user_version, " to ",
                                    kSchemaVersion, ")"),
                       path_);
    }
    Log(LogLevel::kInfo, "migrated the event store to format 3",
        {{"path", path_}, {"from_format", user_version}});
  } else if (user_version != std::to_string(kSchemaVersion)) {
    return absl::FailedPreconditionError(
        absl::StrCat("the event store ", path_, " has format ", user_version,
                     "; this paradym-webhooksd reads format ", kSchemaVersion,
                     " (was it written by a newer version?)"));
  }

  std::string migrated;
  if ((rc = writer_->RunOnce(kIsMigrated, &migrated)) != SQLITE_OK) {
    return OpenError(rc, db, "read", path_);
  }
  insert_ = migrated == "0" ? kInsert : kInsertIntoMigrated;

  // Every page of the tables and indexes is read once: corruption shows now,
  // as a clear error, not later in the middle of a replay.
  std::string check;
  if ((rc = writer_->RunOnce("PRAGMA quick_check(1)", &check)) != SQLITE_OK) {
    return OpenError(rc, db, "check", path_);
  }
  if (check != "ok") {
    return absl::DataLossError(absl::StrCat(
        "the event store ", path_, " is corrupt (quick_check: ", check,
        "); move it away and restore a backup, or start with an empty "
        "data directory"));
  }
  // Prove that it can be written now rather than at the first webhook.
  if ((rc = writer_->Run(kOpenedAt, {absl::ToUnixSeconds(absl::Now())})) !=
      SQLITE_OK) {
    return OpenError(rc, db, "write", path_);
  }
  return absl::OkStatus();
}

absl::Status SqliteEventLog::OpenCheckpointer() {
  int rc = SQLITE_OK;
  checkpointer_ = Connection::Open(path_, SQLITE_OPEN_READWRITE, rc);
  if (rc == SQLITE_OK) rc = checkpointer_->RunOnce("PRAGMA synchronous=NORMAL");
  if (rc != SQLITE_OK) {
    return OpenError(rc, checkpointer_->db(), "open a checkpointer on", path_);
  }
  return absl::OkStatus();
}

absl::StatusOr<SequenceRange> SqliteEventLog::ReadRange() {
  int rc = SQLITE_OK;
  sqlite3_stmt* statement = writer_->Prepare(kRange, rc);
  if (statement == nullptr) {
    return StoreError(rc, writer_->db(), "read the range");
  }
  ResetOnExit reset(statement);
  if ((rc = sqlite3_step(statement)) != SQLITE_ROW) {
    return StoreError(rc, writer_->db(), "read the range");
  }
  const bool empty = sqlite3_column_type(statement, 0) == SQLITE_NULL;
  SequenceRange range;
  range.last =
      std::max(static_cast<std::uint64_t>(sqlite3_column_int64(statement, 1)),
               static_cast<std::uint64_t>(sqlite3_column_int64(statement, 2)));
  range.oldest =
      empty ? range.last + 1
            : static_cast<std::uint64_t>(sqlite3_column_int64(statement, 0));
  return range;
}

absl::Status SqliteEventLog::ReadReplayIndex() {
  int rc = SQLITE_OK;
  sqlite3_stmt* statement = writer_->Prepare(kReadDigests, rc);
  if (statement == nullptr) {
    return StoreError(rc, writer_->db(), "read the replay digests");
  }
  ResetOnExit reset(statement);
  while ((rc = sqlite3_step(statement)) == SQLITE_ROW) {
    const auto sequence =
        static_cast<std::uint64_t>(sqlite3_column_int64(statement, 0));
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
    return StoreError(rc, writer_->db(), "read the replay digests");
  }
  return absl::OkStatus();
}

absl::StatusOr<SqliteEventLog::Released> SqliteEventLog::ReadReleased() {
  int rc = SQLITE_OK;
  sqlite3_stmt* statement = writer_->Prepare(kReadReleased, rc);
  if (statement == nullptr) {
    return StoreError(rc, writer_->db(), "read the release");
  }
  ResetOnExit reset(statement);
  if ((rc = sqlite3_step(statement)) != SQLITE_ROW) {
    return StoreError(rc, writer_->db(), "read the release");
  }
  Released released;
  released.through =
      static_cast<std::uint64_t>(sqlite3_column_int64(statement, 0));
  released.bookmark =
      static_cast<std::uint64_t>(sqlite3_column_int64(statement, 1));
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
  absl::Time next_retention = absl::Now();
  bool retention_more = false;
  // Under a backlog that never empties, retention and groups take turns, so
  // that neither waits for the other for long.
  bool last_was_retention = false;
  for (;;) {
    std::uint64_t requested = 0;
    {
      absl::MutexLock lock(&mu_);
      if (!retention_more) {
        mu_.AwaitWithDeadline(
            absl::Condition(this, &SqliteEventLog::WriterHasWork),
            next_retention);
      }
      const bool retention_wanted = retention_more ||
                                    absl::Now() >= next_retention ||
                                    retention_requested_ != retention_done_;
      if (!pending_.empty() && !(retention_wanted && !last_was_retention)) {
        std::size_t bytes = 0;
        while (!pending_.empty() && batch.size() < options_.max_batch_events) {
          const StoredEvent& next = *pending_.front().event;
          const std::size_t size = next.encoding_without_sequence().size();
          if (!batch.empty() && bytes + size > options_.max_batch_bytes) {
            break;
          }
          // A copy's group is consecutive: only its first event may skip
          // ahead (and drop what is before it).
          if (!options_.assign_sequences && !batch.empty() &&
              next.sequence() != batch.back().event->sequence() + 1) {
            break;
          }
          bytes += size;
          batch.push_back(std::move(pending_.front()));
          pending_.pop_front();
        }
      } else if (pending_.empty() && (closing_ || !retention_wanted)) {
        if (closing_) break;
        continue;
      }
      requested = retention_requested_;
    }
    if (!batch.empty()) {
      Finish(CommitBatch(std::move(batch)));
      batch.clear();
      last_was_retention = false;
      if (wal_frames_ >= kWalLimitFrames) CompleteCheckpoint();
      continue;
    }
    // The retention deadline passed, a pass was asked for, or the last step
    // left more to delete.
    const absl::Status status = RetentionStep(retention_more);
    last_was_retention = true;
    if (!status.ok()) {
      retention_more = false;
      Log(LogLevel::kWarning, "retention could not delete old events",
          {{"error", status.message()}});
    }
    if (!retention_more) {
      next_retention = absl::Now() + options_.retention_interval;
      absl::MutexLock lock(&mu_);
      retention_done_ = requested;
      retention_status_ = status;
    }
  }
  // The last release is kept for the next start, even if nothing was deleted.
  if (absl::Status status = WriteRelease(); !status.ok()) {
    Log(LogLevel::kWarning, "the event store could not write the release",
        {{"error", status.message()}});
  }
  {
    absl::MutexLock lock(&mu_);
    retention_done_ = retention_requested_;
    retention_status_ = MakeError(absl::StatusCode::kUnavailable, kShuttingDown,
                                  "the event store is closed");
  }
}

SqliteEventLog::Written SqliteEventLog::CommitBatch(
    std::vector<Pending> batch) {
  const absl::Time start = absl::Now();
  std::uint64_t first = last_written_ + 1;
  std::uint64_t drop_before = 0;
  Written written{std::move(batch), absl::OkStatus()};
  if (!options_.assign_sequences) {
    first = written.events.front().event->sequence();
    if (first <= last_written_) {
      written.status = MakeError(
          absl::StatusCode::kFailedPrecondition, kStoreFailed,
          absl::StrCat("sequence ", first, " is not after the last stored, ",
                       last_written_));
    } else if (first > last_written_ + 1) {
      bool announced = false;
      {
        absl::MutexLock lock(&mu_);
        announced = skip_to_ == first;
      }
      if (announced) {
        drop_before = first;
        // Readers asking for what is dropped get SEQUENCE_TOO_OLD from now.
        absl::MutexLock lock(&range_mu_);
        range_.oldest = std::max(range_.oldest, drop_before);
      } else {
        written.status =
            MakeError(absl::StatusCode::kFailedPrecondition, kStoreFailed,
                      absl::StrCat("sequence ", first, " leaves a gap after ",
                                   last_written_));
      }
    }
  }
  if (written.status.ok()) {
    written.status = InsertBatch(written.events, first, drop_before);
  }
  if (written.status.ok() && drop_before != 0) {
    replays_.ForgetBefore(drop_before);
  }
  if (written.status.ok()) {
    stats_.commit_latency.Observe(absl::Now() - start);
    last_written_ = first + written.events.size() - 1;
    std::uint64_t sequence = first;
    for (Pending& pending : written.events) {
      pending.event->set_sequence(sequence++);
    }
  } else {
    stats_.failed_commits.fetch_add(1, std::memory_order_relaxed);
    Log(LogLevel::kError, "the event store could not commit; webhooks refused",
        {{"events", written.events.size()},
         {"error", written.status.message()}});
    // Whatever happened, continue from what the store really holds.
    absl::StatusOr<SequenceRange> range = ReadRange();
    if (range.ok()) {
      last_written_ = range->last;
    } else {
      Log(LogLevel::kError, "cannot read the event store's range",
          {{"error", range.status().message()}});
    }
  }
  return written;
}

void SqliteEventLog::Finish(Written written) {
  if (!written.status.ok()) {
    for (Pending& pending : written.events) {
      std::move(pending.done)(written.status);
    }
    return;
  }
  const std::size_t events = written.events.size();
  absl::Status synced;
  if (options_.sync == Sync::kFull) {
    const absl::Time start = absl::Now();
    if (::fdatasync(wal_fd_) != 0) {
      synced = MakeError(
          absl::StatusCode::kUnavailable,
          IsNoSpace(errno) ? kStoreFull : kStoreFailed,
          absl::StrCat("the event store could not be synced to disk (",
                       std::strerror(errno), "); the event may be lost"));
      Log(LogLevel::kError, "fsync of the event store failed",
          {{"events", events}, {"error", synced.message()}});
    }
    stats_.sync_latency.Observe(absl::Now() - start);
  }
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
  const int rc = sqlite3_wal_checkpoint_v2(
      writer_->db(), nullptr, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
  if (rc == SQLITE_OK) {
    stats_.checkpoints.fetch_add(1, std::memory_order_relaxed);
  } else if (rc != SQLITE_BUSY) {
    Log(LogLevel::kWarning, "checkpoint of the event store failed",
        {{"error", sqlite3_errmsg(writer_->db())}});
  }
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
    if (rc == SQLITE_OK) {
      stats_.checkpoints.fetch_add(1, std::memory_order_relaxed);
    } else if (rc != SQLITE_BUSY) {
      Log(LogLevel::kWarning, "checkpoint of the event store failed",
          {{"error", sqlite3_errmsg(checkpointer_->db())}});
    }
  }
}

absl::Status SqliteEventLog::InsertBatch(const std::vector<Pending>& batch,
                                         std::uint64_t first_sequence,
                                         std::uint64_t drop_before) {
  sqlite3* db = writer_->db();
  int rc = writer_->Run(kBegin);
  if (rc != SQLITE_OK) return StoreError(rc, db, "begin");
  absl::Status status;
  if (drop_before != 0 &&
      ((rc = writer_->Run(kDelete, {ToInt64(drop_before)})) != SQLITE_OK ||
       (rc = writer_->Run(kDeletedThrough, {ToInt64(drop_before - 1)})) !=
           SQLITE_OK)) {
    status = StoreError(rc, db, "drop events the source no longer has");
  }
  sqlite3_stmt* insert = writer_->Prepare(insert_, rc);
  if (insert == nullptr) status = StoreError(rc, db, "prepare");
  std::uint64_t sequence = first_sequence;
  for (std::size_t i = 0; status.ok() && i < batch.size(); ++i) {
    const StoredEvent& event = *batch[i].event;
    ResetOnExit reset(insert);
    const RowTime time = ToRowTime(event.receive_time());
    sqlite3_bind_int64(insert, 1, ToInt64(sequence++));
    sqlite3_bind_int64(insert, 2, time.micros);
    sqlite3_bind_int64(insert, 3, time.extra_nanos);
    // The lean row when the body gives the event back; else the encoding.
    if (event.derived_from_body()) {
      BindText(insert, 4, event.endpoint());
      BindBlob(insert, 5, event.body());
    } else {
      BindBlob(insert, 6, event.encoding_without_sequence());
    }
    if ((rc = sqlite3_step(insert)) != SQLITE_DONE) {
      status = StoreError(rc, db, "insert");
    }
  }
  if (status.ok() && (rc = writer_->Run(kCommit)) != SQLITE_OK) {
    status = StoreError(rc, db, "commit");
  }
  // SQLite may have rolled back already (a full disk does that).
  if (!status.ok() && !sqlite3_get_autocommit(db)) writer_->Run(kRollback);
  return status;
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
    return StoreError(rc, writer_->db(), "write the release");
  }
  return absl::OkStatus();
}

absl::Status SqliteEventLog::RetentionStep(bool& more) {
  more = false;
  if (absl::Status status = WriteRelease(); !status.ok()) return status;
  const SequenceRange range = Range();
  if (range.oldest > range.last) return absl::OkStatus();
  sqlite3* db = writer_->db();
  // Delete the sequences before `due`, at most one chunk of them.
  std::uint64_t due = range.oldest;
  if (options_.max_events > 0 &&
      range.last - range.oldest + 1 > options_.max_events) {
    due = range.last - options_.max_events + 1;
  }
  {
    absl::MutexLock lock(&mu_);
    due = std::max(due, std::min(released_.through, range.last) + 1);
  }
  const std::uint64_t chunk_end =
      std::min(range.oldest + options_.retention_chunk, range.last + 1);
  if (options_.retention != absl::InfiniteDuration() && due < chunk_end) {
    const std::int64_t cutoff =
        absl::ToUnixMicros(clock_.Now() - options_.retention);
    int rc = SQLITE_OK;
    sqlite3_stmt* first_young = writer_->Prepare(kFirstYoung, rc);
    if (first_young == nullptr) return StoreError(rc, db, "prepare");
    ResetOnExit reset(first_young);
    sqlite3_bind_int64(first_young, 1, ToInt64(due));
    sqlite3_bind_int64(first_young, 2, ToInt64(chunk_end));
    sqlite3_bind_int64(first_young, 3, cutoff);
    rc = sqlite3_step(first_young);
    if (rc == SQLITE_ROW) {
      due = static_cast<std::uint64_t>(sqlite3_column_int64(first_young, 0));
    } else if (rc == SQLITE_DONE) {
      due = chunk_end;  // everything in the chunk is old
    } else {
      return StoreError(rc, db, "find old events");
    }
  }
  const std::uint64_t end = std::min(due, chunk_end);
  if (end <= range.oldest) return absl::OkStatus();
  // Readers asking for what is being deleted get SEQUENCE_TOO_OLD from now.
  {
    absl::MutexLock lock(&range_mu_);
    range_.oldest = end;
  }
  int rc = writer_->Run(kBegin);
  if (rc == SQLITE_OK) rc = writer_->Run(kDelete, {ToInt64(end)});
  if (rc == SQLITE_OK) rc = writer_->Run(kDeletedThrough, {ToInt64(end - 1)});
  if (rc == SQLITE_OK) rc = writer_->Run(kCommit);
  if (rc != SQLITE_OK) {
    absl::Status status = StoreError(rc, db, "delete old events");
    if (!sqlite3_get_autocommit(db)) writer_->Run(kRollback);
    return status;
  }
  replays_.ForgetBefore(end);
  stats_.deleted_events.fetch_add(end - range.oldest,
                                  std::memory_order_relaxed);
  more = end == range.oldest + options_.retention_chunk;
  return absl::OkStatus();
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

absl::StatusOr<std::unique_ptr<SqliteEventLog::Connection>>
SqliteEventLog::AcquireReader() const {
  {
    absl::MutexLock lock(&readers_mu_);
    if (!idle_readers_.empty()) {
      std::unique_ptr<Connection> reader = std::move(idle_readers_.back());
      idle_readers_.pop_back();
      return reader;
    }
  }
  int rc = SQLITE_OK;
  std::unique_ptr<Connection> reader =
      Connection::Open(path_, SQLITE_OPEN_READWRITE, rc);
  if (rc == SQLITE_OK) rc = reader->RunOnce("PRAGMA query_only=1");
  if (rc != SQLITE_OK) return StoreError(rc, reader->db(), "open a reader");
  return reader;
}

void SqliteEventLog::ReleaseReader(std::unique_ptr<Connection> reader) const {
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
  absl::StatusOr<std::unique_ptr<Connection>> reader = AcquireReader();
  if (!reader.ok()) return reader.status();
  const std::size_t old_size = out.size();
  absl::Status status;
  {
    int rc = SQLITE_OK;
    sqlite3_stmt* read = (*reader)->Prepare(kRead, rc);
    if (read == nullptr) return StoreError(rc, (*reader)->db(), "prepare");
    ResetOnExit reset(read);
    sqlite3_bind_int64(read, 1, ToInt64(after));
    sqlite3_bind_int64(read, 2, ToInt64(last));
    sqlite3_bind_int64(read, 3,
                       static_cast<std::int64_t>(
                           std::min<std::uint64_t>(max_events, last - after)));
    std::uint64_t expected = after + 1;
    while ((rc = sqlite3_step(read)) == SQLITE_ROW) {
      if (static_cast<std::uint64_t>(sqlite3_column_int64(read, 0)) !=
          expected++) {
        break;  // retention got there first
      }
      out.push_back(ColumnEvent(read, 0));
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
      status = StoreError(rc, (*reader)->db(), "read events");
    } else if (out.size() == old_size) {
      // The events asked for were deleted meanwhile.
      status = SequenceTooOldError(after, Range());
    }
  }
  if (status.ok()) {
    ReleaseReader(std::move(reader).value());
  } else {
    out.resize(old_size);
  }
  return status;
}

}  // namespace paradym::webhooks
