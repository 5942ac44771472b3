#include "tests/testing/sqlite_file.h"

#include <sqlite3.h>

#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "gtest/gtest.h"

namespace paradym::webhooks::testing {
namespace {

struct CloseDatabase {
  void operator()(sqlite3* db) const { sqlite3_close(db); }
};
struct FinalizeStatement {
  void operator()(sqlite3_stmt* statement) const {
    sqlite3_finalize(statement);
  }
};
using Database = std::unique_ptr<sqlite3, CloseDatabase>;
using Statement = std::unique_ptr<sqlite3_stmt, FinalizeStatement>;

absl::Status Error(sqlite3* db, absl::string_view what, absl::string_view sql) {
  return absl::InternalError(
      absl::StrCat(what, " \"", sql, "\": ", sqlite3_errmsg(db)));
}

absl::Status Open(const std::string& path, Database& db) {
  sqlite3* raw = nullptr;
  const int result = sqlite3_open(path.c_str(), &raw);
  db.reset(raw);
  if (result != SQLITE_OK) return Error(raw, "cannot open", path);
  return absl::OkStatus();
}

absl::Status Prepare(sqlite3* db, const std::string& sql,
                     Statement& statement) {
  sqlite3_stmt* raw = nullptr;
  const int result = sqlite3_prepare_v2(db, sql.c_str(), -1, &raw, nullptr);
  statement.reset(raw);
  if (result != SQLITE_OK) return Error(db, "cannot prepare", sql);
  return absl::OkStatus();
}

// Binds `value` to parameter `index` (from 1).
void Bind(sqlite3_stmt* statement, int index, const SqlValue& value) {
  if (const auto* number = std::get_if<std::int64_t>(&value)) {
    sqlite3_bind_int64(statement, index, *number);
  } else if (const auto* bytes = std::get_if<std::string>(&value)) {
    sqlite3_bind_blob(statement, index, bytes->data(),
                      static_cast<int>(bytes->size()), SQLITE_TRANSIENT);
  } else {
    sqlite3_bind_null(statement, index);
  }
}

}  // namespace

absl::Status ExecSql(const std::string& path, const std::string& sql) {
  Database db;
  if (absl::Status status = Open(path, db); !status.ok()) return status;
  if (sqlite3_exec(db.get(), sql.c_str(), nullptr, nullptr, nullptr) !=
      SQLITE_OK) {
    return Error(db.get(), "cannot run", sql);
  }
  return absl::OkStatus();
}

absl::Status InsertRows(const std::string& path, const std::string& sql,
                        const std::vector<std::vector<SqlValue>>& rows) {
  Database db;
  if (absl::Status status = Open(path, db); !status.ok()) return status;
  Statement insert;
  if (absl::Status status = Prepare(db.get(), sql, insert); !status.ok()) {
    return status;
  }
  for (const std::vector<SqlValue>& row : rows) {
    for (std::size_t i = 0; i < row.size(); ++i) {
      Bind(insert.get(), static_cast<int>(i + 1), row[i]);
    }
    if (sqlite3_step(insert.get()) != SQLITE_DONE) {
      return Error(db.get(), "cannot run", sql);
    }
    sqlite3_reset(insert.get());
  }
  return absl::OkStatus();
}

std::vector<std::string> SqlRows(const std::string& path,
                                 const std::string& sql) {
  std::vector<std::string> rows;
  Database db;
  Statement query;
  absl::Status status = Open(path, db);
  if (status.ok()) status = Prepare(db.get(), sql, query);
  if (!status.ok()) {
    ADD_FAILURE() << status;
    return rows;
  }
  while (sqlite3_step(query.get()) == SQLITE_ROW) {
    std::string row;
    for (int i = 0; i < sqlite3_column_count(query.get()); ++i) {
      if (i > 0) row += "|";
      const auto* text =
          reinterpret_cast<const char*>(sqlite3_column_text(query.get(), i));
      row += text == nullptr ? "NULL" : text;
    }
    rows.push_back(std::move(row));
  }
  return rows;
}

}  // namespace paradym::webhooks::testing
