#include "tests/testing/test_data.h"

#include <dirent.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"
#include "gtest/gtest.h"

namespace paradym::webhooks::testing {

std::string PathFromEnv(const char* name) {
  const char* value = std::getenv(name);
  if (value == nullptr || *value == '\0') {
    ADD_FAILURE() << "environment variable " << name
                  << " is not set; run the tests through ctest or bazel";
    return "";
  }
  return value;
}

std::string TestDataDir() { return PathFromEnv("PARADYM_TESTDATA_DIR"); }

std::string ReadTestData(absl::string_view relative) {
  const std::string path = absl::StrCat(TestDataDir(), "/", relative);
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    ADD_FAILURE() << "cannot read " << path;
    return "";
  }
  std::ostringstream contents;
  contents << in.rdbuf();
  return contents.str();
}

std::vector<std::string> ListTestData(absl::string_view dir) {
  std::vector<std::string> names;
  const std::string path = absl::StrCat(TestDataDir(), "/", dir);
  DIR* handle = ::opendir(path.c_str());
  if (handle == nullptr) {
    ADD_FAILURE() << "cannot list " << path;
    return names;
  }
  while (const dirent* entry = ::readdir(handle)) {
    const std::string name = entry->d_name;
    if (name != "." && name != "..") names.push_back(name);
  }
  ::closedir(handle);
  std::sort(names.begin(), names.end());
  return names;
}

std::string UniqueBody(int n) {
  static const std::string kTemplate =
      ReadTestData("events/workflowExecution.started.json");
  return absl::StrReplaceAll(
      kTemplate, {{"5b0c9b64-2f0e-4a4c-9d7e-0a1b2c3d4e00",
                   absl::StrFormat("5b0c9b64-2f0e-4a4c-9d7e-%012d", n)}});
}

}  // namespace paradym::webhooks::testing
