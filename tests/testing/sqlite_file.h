// A SQLite database file handled from outside the store: for tests that
// write a file as an older version or another program left it, and for
// tests that look at what the store wrote.
//
//   ASSERT_THAT(ExecSql(path, "CREATE TABLE orders (id INTEGER)"), IsOk());
//   ASSERT_THAT(InsertRows(path, "INSERT INTO orders VALUES (?1)", {{7}, {8}}),
//               IsOk());
//   EXPECT_THAT(SqlRows(path, "SELECT id FROM orders"), ElementsAre("7", "8"));

#ifndef PARADYM_WEBHOOKS_TESTS_TESTING_SQLITE_FILE_H_
#define PARADYM_WEBHOOKS_TESTS_TESTING_SQLITE_FILE_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include "absl/status/status.h"

namespace paradym::webhooks::testing {

// A value bound to a statement's parameter: NULL, an integer, or bytes
// (bound as a BLOB).
using SqlValue = std::variant<std::nullptr_t, std::int64_t, std::string>;

// Runs the statements of `sql` on the database file at `path`, which is made
// when missing.
absl::Status ExecSql(const std::string& path, const std::string& sql);

// Runs the one statement `sql` once per row of `rows`, its values bound to
// ?1, ?2, ... in order.
absl::Status InsertRows(const std::string& path, const std::string& sql,
                        const std::vector<std::vector<SqlValue>>& rows);

// The rows `sql` returns, the columns joined by '|' (NULL as "NULL"). A
// statement that cannot run fails the test.
std::vector<std::string> SqlRows(const std::string& path,
                                 const std::string& sql);

}  // namespace paradym::webhooks::testing

#endif  // PARADYM_WEBHOOKS_TESTS_TESTING_SQLITE_FILE_H_
