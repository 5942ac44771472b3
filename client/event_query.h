// What the commands that read events from the server (subscribe, list)
// share: the filter flags and, with the connection flags, the flags they
// know.
//
//   if (absl::Status s = CheckEventQueryFlags(line, {"after"}); !s.ok()) ...
//   v1::ListEventsRequest request;
//   AddFilters(line, request);  // --event-type=... and the others

#ifndef PARADYM_WEBHOOKS_CLIENT_EVENT_QUERY_H_
#define PARADYM_WEBHOOKS_CLIENT_EVENT_QUERY_H_

#include <initializer_list>

#include "absl/status/status.h"
#include "client/command_line.h"

namespace paradym::webhooks::cli {

// The filter flags' help lines.
inline constexpr char kFilterFlagsHelp[] =
    "  --event-type=TYPE             only this eventType; a trailing * matches "
    "a\n"
    "                                prefix (openid4vc.*); repeatable\n"
    "  --project-id=ID               only this project; repeatable\n"
    "  --workflow-id=ID              only this workflow; repeatable\n"
    "  --workflow-execution-id=ID    only this execution; repeatable\n";

// INVALID_ARGUMENT naming the first flag that is neither a connection flag,
// a filter flag nor one of `own`, else "takes no arguments" when `line` has
// any.
absl::Status CheckEventQueryFlags(const CommandLine& line,
                                  std::initializer_list<const char*> own);

// Fills the four filter fields SubscribeRequest and ListEventsRequest share.
template <typename Request>
void AddFilters(const CommandLine& line, Request& request) {
  for (const auto& v : line.Values("event-type")) request.add_event_types(v);
  for (const auto& v : line.Values("project-id")) request.add_project_ids(v);
  for (const auto& v : line.Values("workflow-id")) request.add_workflow_ids(v);
  for (const auto& v : line.Values("workflow-execution-id")) {
    request.add_workflow_execution_ids(v);
  }
}

}  // namespace paradym::webhooks::cli

#endif  // PARADYM_WEBHOOKS_CLIENT_EVENT_QUERY_H_
