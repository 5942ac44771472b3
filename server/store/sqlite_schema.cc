#include "server/store/sqlite_schema.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "server/core/errors.h"
#include "server/core/status_macros.h"
#include "server/core/structured_log.h"

namespace paradym::webhooks::sqlite {
namespace {

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
constexpr char kMigrate[] =
    "BEGIN; ALTER TABLE events ADD COLUMN receive_time_extra_ns INTEGER; "
    "ALTER TABLE events ADD COLUMN endpoint TEXT; ALTER TABLE events ADD "
    "COLUMN body BLOB; PRAGMA user_version=3; COMMIT;";
constexpr char kIsMigrated[] =
    "SELECT count(*) FROM pragma_table_info('events') WHERE name = "
    "'event_type'";
constexpr char kOpenedAt[] =
    "INSERT OR REPLACE INTO meta (key, value) VALUES ('last_open_unix', ?1)";

absl::Status CannotOpen(std::string message) {
  return MakeError(absl::StatusCode::kFailedPrecondition, kStoreFailed,
                   message);
}

// What the file says it is: PRAGMA application_id and user_version, and
// how many tables, indexes and views it has.
struct Format {
  std::string application_id;
  std::string user_version;
  std::string tables;
};

absl::StatusOr<Format> ReadFormat(Connection& writer) {
  Format format;
  int rc = SQLITE_OK;
  if ((rc = writer.RunOnce("PRAGMA application_id", &format.application_id)) !=
          SQLITE_OK ||
      (rc = writer.RunOnce("PRAGMA user_version", &format.user_version)) !=
          SQLITE_OK ||
      (rc = writer.RunOnce("SELECT count(*) FROM sqlite_schema",
                           &format.tables)) != SQLITE_OK) {
    return writer.OpenError(rc, "read");
  }
  return format;
}

absl::Status Migrate(Connection& writer, const Format& format) {
  if (const int rc = writer.RunScript(kMigrate); rc != SQLITE_OK) {
    writer.RollbackIfOpen();
    return writer.OpenError(
        rc, absl::StrCat("migrate (format ", format.user_version, " to ",
                         kSchemaVersion, ")"));
  }
  return absl::OkStatus();
}

// Makes the tables of an empty file, migrates those of an older format, and
// refuses anything else that is not format kSchemaVersion.
absl::Status CreateOrMigrate(Connection& writer) {
  const std::string& path = writer.path();
  ASSIGN_OR_RETURN(const Format format, ReadFormat(writer));
  if (format.application_id == "0" && format.user_version == "0" &&
      format.tables == "0") {
    const std::string create = absl::StrCat(
        "BEGIN;", kSchema, "PRAGMA application_id=", kApplicationId,
        "; PRAGMA user_version=", kSchemaVersion, "; COMMIT;");
    const int rc = writer.RunScript(create);
    if (rc != SQLITE_OK) return writer.OpenError(rc, "create");
  } else if (format.application_id != std::to_string(kApplicationId)) {
    return CannotOpen(
        absl::StrCat(path,
                     " is not a paradym-webhooks event store; point --data_dir "
                     "elsewhere"));
  } else if (format.user_version == "1" || format.user_version == "2") {
    RETURN_IF_ERROR(Migrate(writer, format));
    Log(LogLevel::kInfo, "migrated the event store to format 3",
        {{"path", path}, {"from_format", format.user_version}});
  } else if (format.user_version != std::to_string(kSchemaVersion)) {
    return CannotOpen(absl::StrCat(
        "the event store ", path, " has format ", format.user_version,
        "; this paradym-webhooksd reads format ", kSchemaVersion,
        " (was it written by a newer version?)"));
  }
  return absl::OkStatus();
}

// Reads every page of the tables and indexes once.
absl::Status CheckPages(Connection& writer) {
  std::string check;
  if (const int rc = writer.RunOnce("PRAGMA quick_check(1)", &check);
      rc != SQLITE_OK) {
    return writer.OpenError(rc, "check");
  }
  if (check != "ok") {
    return writer.CorruptError(absl::StrCat("quick_check: ", check));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<int> LockDataDirectory(const std::string& directory) {
  std::error_code error;
  const bool created = std::filesystem::create_directories(directory, error);
  if (error) {
    return CannotOpen(absl::StrCat("cannot create the data directory ",
                                   directory, ": ", error.message()));
  }
  if (created) {
    // Events carry personal data (credential claims): owner only.
    std::filesystem::permissions(directory, std::filesystem::perms::owner_all,
                                 error);
  }
  const std::string lock_path = absl::StrCat(directory, "/events.lock");
  const int fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) {
    return CannotOpen(absl::StrCat("cannot write in the data directory ",
                                   directory, ": ", std::strerror(errno)));
  }
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    ::close(fd);
    return CannotOpen(
        absl::StrCat("the data directory ", directory,
                     " is in use by another paradym-webhooksd process (",
                     lock_path, " is locked)"));
  }
  return fd;
}

void MakePrivate(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return;
  struct stat st;
  if (::fstat(fd, &st) == 0 && (st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
    ::fchmod(fd, 0600);
  }
  ::close(fd);
}

absl::Status ConfigureWriter(Connection& writer) {
  std::string mode;
  int rc = writer.RunOnce("PRAGMA journal_mode=WAL", &mode);
  if (rc != SQLITE_OK) return writer.OpenError(rc, "switch to WAL mode");
  if (mode != "wal") {
    return CannotOpen(absl::StrCat("cannot switch the event store ",
                                   writer.path(), " to WAL mode (it stays in ",
                                   mode, " mode)"));
  }
  // Commits write the WAL without fsync; the writer fsyncs it once per
  // group (Sync::kFull). Checkpoints are the checkpointer's job.
  if ((rc = writer.RunOnce("PRAGMA synchronous=NORMAL")) != SQLITE_OK ||
      (rc = writer.RunOnce("PRAGMA wal_autocheckpoint=0")) != SQLITE_OK) {
    return writer.OpenError(rc, "configure");
  }
  return absl::OkStatus();
}

absl::StatusOr<const char*> OpenSchema(Connection& writer) {
  RETURN_IF_ERROR(CreateOrMigrate(writer));
  std::string migrated;
  if (const int rc = writer.RunOnce(kIsMigrated, &migrated); rc != SQLITE_OK) {
    return writer.OpenError(rc, "read");
  }
  RETURN_IF_ERROR(CheckPages(writer));
  // Prove that it can be written now rather than at the first webhook.
  if (const int rc = writer.Run(kOpenedAt, {absl::ToUnixSeconds(absl::Now())});
      rc != SQLITE_OK) {
    return writer.OpenError(rc, "write");
  }
  return migrated == "0" ? kInsert : kInsertIntoMigrated;
}

}  // namespace paradym::webhooks::sqlite
