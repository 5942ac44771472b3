#include "client/event_query.h"

#include <string>
#include <vector>

#include "client/connection.h"

namespace paradym::webhooks::cli {

absl::Status CheckEventQueryFlags(const CommandLine& line,
                                  std::initializer_list<const char*> own) {
  std::vector<std::string> known = Connection::Flags();
  known.insert(known.end(), {"event-type", "project-id", "workflow-id",
                             "workflow-execution-id"});
  known.insert(known.end(), own.begin(), own.end());
  if (absl::Status status = line.CheckKnown(known); !status.ok()) {
    return status;
  }
  if (!line.arguments().empty()) {
    return absl::InvalidArgumentError("takes no arguments");
  }
  return absl::OkStatus();
}

}  // namespace paradym::webhooks::cli
