#include "client/event_query.h"

#include "client/connection.h"

namespace paradym::webhooks::cli {

std::vector<std::string> EventQueryFlags(
    std::initializer_list<const char*> own) {
  std::vector<std::string> flags = Connection::Flags();
  flags.insert(flags.end(), {"event-type", "project-id", "workflow-id",
                             "workflow-execution-id"});
  flags.insert(flags.end(), own.begin(), own.end());
  return flags;
}

}  // namespace paradym::webhooks::cli
