// Readable GoogleTest output for core types.
//
//   #include "tests/testing/core_printers.h"
//   EXPECT_THAT(ErrorFieldViolations(status), ElementsAre(...));

#ifndef PARADYM_WEBHOOKS_TESTS_TESTING_CORE_PRINTERS_H_
#define PARADYM_WEBHOOKS_TESTS_TESTING_CORE_PRINTERS_H_

#include <ostream>

#include "absl/strings/escaping.h"
#include "server/core/errors.h"

namespace paradym::webhooks {

// Found by argument-dependent lookup, so it lives beside FieldViolation.
inline void PrintTo(const FieldViolation& violation, std::ostream* os) {
  *os << "{field: \"" << absl::CHexEscape(violation.field)
      << "\", description: \"" << violation.description << "\"}";
}

}  // namespace paradym::webhooks

#endif  // PARADYM_WEBHOOKS_TESTS_TESTING_CORE_PRINTERS_H_
