// A thin wrapper of one SQLite connection for the event store: prepared
// statements cached by their SQL constant, transactions, and SQLite's result
// codes turned into the store's errors (with their reasons) in one place.
//
//   int rc = SQLITE_OK;
//   std::unique_ptr<sqlite::Connection> db = sqlite::Connection::Open(
//       path, SQLITE_OPEN_READWRITE, rc);
//   if (rc != SQLITE_OK) return db->OpenError(rc, "open");
//   if ((rc = db->Begin()) != SQLITE_OK ||
//       (rc = db->Run(kDelete, {42})) != SQLITE_OK ||
//       (rc = db->Commit()) != SQLITE_OK) {
//     absl::Status status = db->StoreError(rc, "delete old events");
//     db->RollbackIfOpen();
//     return status;
//   }
//
// A Connection is used by one thread at a time (SQLite's "multi-thread"
// mode: SQLITE_OPEN_NOMUTEX).

#ifndef PARADYM_WEBHOOKS_SERVER_STORE_SQLITE_CONNECTION_H_
#define PARADYM_WEBHOOKS_SERVER_STORE_SQLITE_CONNECTION_H_

#include <sqlite3.h>

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace paradym::webhooks::sqlite {

class Connection {
 public:
  // Always returns the connection, even when `rc` says opening failed, so
  // that the caller can read the error message before it is closed.
  static std::unique_ptr<Connection> Open(const std::string& path, int flags,
                                          int& rc);

  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  sqlite3* db() const { return db_; }
  // The database file.
  const std::string& path() const { return path_; }

  // The prepared statement for `sql` (a string constant, cached by address),
  // or nullptr with `rc` set.
  sqlite3_stmt* Prepare(const char* sql, int& rc);

  // Runs `sql` (prepared and cached) with 64-bit integer parameters to the
  // end, ignoring any rows; returns SQLite's result code.
  int Run(const char* sql, std::initializer_list<std::int64_t> params = {});

  // Runs a statement that is not kept (schema, pragmas) and returns the first
  // column of its first row in `first`, if any.
  int RunOnce(const std::string& sql, std::string* first = nullptr);

  // Runs `sql`, which may be several statements (a script), to the end.
  int RunScript(const std::string& sql);

  // A write transaction: Begin takes the write lock at once (BEGIN
  // IMMEDIATE). After a failure, RollbackIfOpen ends one SQLite has not
  // rolled back already (a full disk does that).
  int Begin();
  int Commit();
  void RollbackIfOpen();

  // The error for a failed call at runtime: UNAVAILABLE with STORE_FULL when
  // the disk (or a file size limit) is full, STORE_FAILED otherwise.
  // `doing` names the step ("insert"). Call it right after the failure: it
  // reads errno.
  absl::Status StoreError(int rc, absl::string_view doing) const;

  // The error for a failed call while opening the store: DATA_LOSS with
  // STORE_CORRUPT when the file is corrupt, FAILED_PRECONDITION with
  // STORE_FAILED otherwise. The message names the file.
  absl::Status OpenError(int rc, absl::string_view doing) const;

  // DATA_LOSS with STORE_CORRUPT: the file is corrupt, as `found` says.
  absl::Status CorruptError(absl::string_view found) const;

 private:
  Connection(sqlite3* db, std::string path);

  sqlite3* const db_;
  const std::string path_;
  absl::flat_hash_map<const char*, sqlite3_stmt*> statements_;
};

// Resets a prepared statement (and clears its bindings) when it goes out of
// scope.
class ResetOnExit {
 public:
  explicit ResetOnExit(sqlite3_stmt* statement) : statement_(statement) {}
  ~ResetOnExit();
  ResetOnExit(const ResetOnExit&) = delete;
  ResetOnExit& operator=(const ResetOnExit&) = delete;

 private:
  sqlite3_stmt* statement_;
};

// Whether a failed write or fsync ran out of space: a full disk, a quota, or
// (EFBIG) a file size limit.
bool IsNoSpace(int error);

// A column of the current row; empty for NULL. Valid until the statement
// steps or resets.
absl::string_view ColumnText(sqlite3_stmt* statement, int column);
absl::string_view ColumnBlob(sqlite3_stmt* statement, int column);

// Binds `text` or `blob` without copying it: it must outlive the step.
// Empty binds as '' or an empty blob, never as NULL.
void BindText(sqlite3_stmt* statement, int index, absl::string_view text);
void BindBlob(sqlite3_stmt* statement, int index, absl::string_view blob);

}  // namespace paradym::webhooks::sqlite

#endif  // PARADYM_WEBHOOKS_SERVER_STORE_SQLITE_CONNECTION_H_
