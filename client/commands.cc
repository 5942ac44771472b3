#include "client/commands.h"

#include <cstdio>
#include <string>

namespace paradym::webhooks::cli {

int UsageError(absl::string_view command, absl::string_view message,
               absl::string_view usage) {
  std::fprintf(stderr, "paradym-webhooks %s: %s\n\n%s",
               std::string(command).c_str(), std::string(message).c_str(),
               std::string(usage).c_str());
  return kExitUsage;
}

}  // namespace paradym::webhooks::cli
