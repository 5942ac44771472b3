#include "server/store/sqlite_connection.h"

#include <cerrno>
#include <utility>

#include "absl/strings/str_cat.h"
#include "server/core/errors.h"

namespace paradym::webhooks::sqlite {
namespace {

constexpr char kBegin[] = "BEGIN IMMEDIATE";
constexpr char kCommit[] = "COMMIT";
constexpr char kRollback[] = "ROLLBACK";

// SQLite's message for a failed call: the connection's, else the code's.
std::string Detail(int rc, sqlite3* db) {
  return db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
}

}  // namespace

std::unique_ptr<Connection> Connection::Open(const std::string& path, int flags,
                                             int& rc) {
  sqlite3* db = nullptr;
  rc = sqlite3_open_v2(path.c_str(), &db, flags | SQLITE_OPEN_NOMUTEX, nullptr);
  std::unique_ptr<Connection> connection(new Connection(db, path));
  if (rc == SQLITE_OK) {
    sqlite3_extended_result_codes(db, 1);
    sqlite3_busy_timeout(db, 5000);
  }
  return connection;
}

Connection::Connection(sqlite3* db, std::string path)
    : db_(db), path_(std::move(path)) {}

Connection::~Connection() {
  for (auto& [sql, statement] : statements_) sqlite3_finalize(statement);
  sqlite3_close_v2(db_);
}

sqlite3_stmt* Connection::Prepare(const char* sql, int& rc) {
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

int Connection::Run(const char* sql,
                    std::initializer_list<std::int64_t> params) {
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

int Connection::RunOnce(const std::string& sql, std::string* first) {
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

int Connection::RunScript(const std::string& sql) {
  return sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, nullptr);
}

int Connection::Begin() { return Run(kBegin); }

int Connection::Commit() { return Run(kCommit); }

void Connection::RollbackIfOpen() {
  if (!sqlite3_get_autocommit(db_)) Run(kRollback);
}

absl::Status Connection::StoreError(int rc, absl::string_view doing) const {
  // Read first: the failed write was this thread's last system call.
  const int last_errno = errno;
  const int primary = rc & 0xff;
  const std::string detail = Detail(rc, db_);
  // SQLite says SQLITE_FULL only for a short write; a write refused outright
  // (ENOSPC, EDQUOT, or EFBIG under a file size limit) is an I/O error, and
  // the system error tells them apart.
  const int system_errno = db_ != nullptr && sqlite3_system_errno(db_) != 0
                               ? sqlite3_system_errno(db_)
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

absl::Status Connection::OpenError(int rc, absl::string_view doing) const {
  const int primary = rc & 0xff;
  const std::string detail = Detail(rc, db_);
  if (primary == SQLITE_CORRUPT || primary == SQLITE_NOTADB) {
    return CorruptError(absl::StrCat(doing, ": ", detail));
  }
  return MakeError(
      absl::StatusCode::kFailedPrecondition, kStoreFailed,
      absl::StrCat("cannot ", doing, " the event store ", path_, ": ", detail,
                   " (is the data directory writable?)"));
}

absl::Status Connection::CorruptError(absl::string_view found) const {
  return MakeError(
      absl::StatusCode::kDataLoss, kStoreCorrupt,
      absl::StrCat("the event store ", path_, " is corrupt (", found,
                   "); move it away and restore a backup, or start with an "
                   "empty data directory"));
}

ResetOnExit::~ResetOnExit() {
  sqlite3_reset(statement_);
  sqlite3_clear_bindings(statement_);
}

bool IsNoSpace(int error) {
  return error == ENOSPC || error == EDQUOT || error == EFBIG;
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

}  // namespace paradym::webhooks::sqlite
