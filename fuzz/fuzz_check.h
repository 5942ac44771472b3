// What a fuzz target does when a property fails: print why and abort, so
// that libFuzzer saves the input as a crash. Not an assert: the targets are
// built with NDEBUG like everything else.
//
//   FUZZ_CHECK(status.ok() || status.code() == kInvalidArgument)
//       << "unexpected status " << status;

#ifndef PARADYM_WEBHOOKS_FUZZ_FUZZ_CHECK_H_
#define PARADYM_WEBHOOKS_FUZZ_FUZZ_CHECK_H_

#include <cstdlib>
#include <iostream>

namespace paradym::webhooks::fuzzing {

// Prints the message streamed into it, then aborts.
class CheckFailure {
 public:
  CheckFailure(const char* file, int line, const char* condition) {
    std::cerr << file << ":" << line << ": FUZZ_CHECK(" << condition
              << ") failed: ";
  }
  [[noreturn]] ~CheckFailure() {
    std::cerr << std::endl;
    std::abort();
  }
  template <typename T>
  CheckFailure& operator<<(const T& value) {
    std::cerr << value;
    return *this;
  }
};

}  // namespace paradym::webhooks::fuzzing

#define FUZZ_CHECK(condition) \
  if (condition) {            \
  } else                      \
    ::paradym::webhooks::fuzzing::CheckFailure(__FILE__, __LINE__, #condition)

#endif  // PARADYM_WEBHOOKS_FUZZ_FUZZ_CHECK_H_
