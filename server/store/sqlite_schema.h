// The checks SqliteEventLog::Open makes before it trusts a data directory,
// and the store's on-disk format: the directory (created owner-only, locked
// against a second process), the database file (owner-only), WAL mode, and
// the tables (created, migrated from an older format, or refused; then
// checked page by page).
//
//   absl::StatusOr<int> lock = sqlite::LockDataDirectory("./data");
//   sqlite::MakePrivate("./data/events.db");
//   ... open the writer's connection ...
//   absl::Status status = sqlite::ConfigureWriter(*writer);
//   absl::StatusOr<const char*> insert = sqlite::OpenSchema(*writer);
//
// Errors are FAILED_PRECONDITION with STORE_FAILED (the directory cannot be
// created or written, is locked by another process, or holds something else
// or a newer format) or DATA_LOSS with STORE_CORRUPT (the file is damaged),
// with a message that names the path and what to do.

#ifndef PARADYM_WEBHOOKS_SERVER_STORE_SQLITE_SCHEMA_H_
#define PARADYM_WEBHOOKS_SERVER_STORE_SQLITE_SCHEMA_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "server/store/sqlite_connection.h"

namespace paradym::webhooks::sqlite {

// Creates `directory` if it is missing (owner-only: events carry personal
// data) and locks it against other processes. Returns the lock's file
// descriptor: the lock lasts until it is closed.
absl::StatusOr<int> LockDataDirectory(const std::string& directory);

// Creates the database file at `path` owner-only, or takes group and others'
// access away from an existing one. SQLite gives the WAL and shared-memory
// files the database file's mode.
void MakePrivate(const std::string& path);

// Puts the writer's connection in WAL mode, committing without fsync (the
// writer fsyncs the WAL itself) and never checkpointing on its own.
absl::Status ConfigureWriter(Connection& writer);

// Creates a new store's tables, migrates those of an older format, or
// refuses a file that is no event store or has a newer format; then reads
// every page (corruption shows now, not in the middle of a replay) and
// writes the time of this open (the store is writable). Returns the insert
// statement for the tables' layout: its parameters are sequence, receive
// time (microseconds, extra nanoseconds), endpoint, body and the encoding
// of an event kept whole.
absl::StatusOr<const char*> OpenSchema(Connection& writer);

}  // namespace paradym::webhooks::sqlite

#endif  // PARADYM_WEBHOOKS_SERVER_STORE_SQLITE_SCHEMA_H_
