// Access to tests/testdata from any test, in both builds.
//
//   std::string body = ReadTestData("events/workflowExecution.failed.json");
//   for (const std::string& name : ListTestData("events")) { ... }

#ifndef PARADYM_WEBHOOKS_TESTS_TESTING_TEST_DATA_H_
#define PARADYM_WEBHOOKS_TESTS_TESTING_TEST_DATA_H_

#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace paradym::webhooks::testing {

// The tests/testdata directory (env PARADYM_TESTDATA_DIR).
std::string TestDataDir();

// The bytes of tests/testdata/<relative>; fails the test when unreadable.
std::string ReadTestData(absl::string_view relative);

// The file names in tests/testdata/<dir>, sorted.
std::vector<std::string> ListTestData(absl::string_view dir);

// A path from the environment variable `name`, e.g. PARADYM_WEBHOOKSD.
std::string PathFromEnv(const char* name);

// A distinct, validly shaped webhook body: the workflowExecution.started
// fixture with its webhookId made unique by `n`.
std::string UniqueBody(int n);

}  // namespace paradym::webhooks::testing

#endif  // PARADYM_WEBHOOKS_TESTS_TESTING_TEST_DATA_H_
