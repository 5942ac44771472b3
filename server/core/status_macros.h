// Early returns on error, in the shape of Abseil's status macros (which the
// Abseil this project builds with does not ship): one line instead of the
// four of `if (absl::Status s = ...; !s.ok()) return s;`.
//
//   absl::StatusOr<Config> LoadConfig(const std::string& path) {
//     ASSIGN_OR_RETURN(std::string text, ReadPrivateFile(path));
//     RETURN_IF_ERROR(CheckSyntax(text));
//     return Parse(text);
//   }
//
// RETURN_IF_ERROR(expr): `expr` is an absl::Status; when it is not OK, the
// enclosing function returns it (as an absl::Status, or an absl::StatusOr<T>
// made from it).
//
// ASSIGN_OR_RETURN(lhs, expr): `expr` is an absl::StatusOr<T>; when it is not
// OK, the enclosing function returns its status, else its value is moved into
// `lhs`, which may declare a variable (`auto x`, `std::string x`) or name an
// existing one. `lhs` must not contain an unparenthesized comma. Each use
// declares a hidden variable, so it is a statement of its own (not the body of
// an unbraced `if`).

#ifndef PARADYM_WEBHOOKS_SERVER_CORE_STATUS_MACROS_H_
#define PARADYM_WEBHOOKS_SERVER_CORE_STATUS_MACROS_H_

#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define RETURN_IF_ERROR(expr)                                 \
  do {                                                        \
    if (::absl::Status paradym_status_macros_status = (expr); \
        !paradym_status_macros_status.ok()) {                 \
      return paradym_status_macros_status;                    \
    }                                                         \
  } while (false)

#define ASSIGN_OR_RETURN(lhs, expr)                                           \
  PARADYM_STATUS_MACROS_ASSIGN_OR_RETURN(                                     \
      PARADYM_STATUS_MACROS_CONCAT(paradym_status_macros_or_, __LINE__), lhs, \
      expr)

// Implementation details of the macros above.
#define PARADYM_STATUS_MACROS_CONCAT_INNER(a, b) a##b
#define PARADYM_STATUS_MACROS_CONCAT(a, b) \
  PARADYM_STATUS_MACROS_CONCAT_INNER(a, b)
#define PARADYM_STATUS_MACROS_ASSIGN_OR_RETURN(statusor, lhs, expr) \
  auto statusor = (expr);                                           \
  if (!statusor.ok()) return std::move(statusor).status();          \
  lhs = *std::move(statusor)

#endif  // PARADYM_WEBHOOKS_SERVER_CORE_STATUS_MACROS_H_
