// paradym-webhooks list: pages through the stored events (ListEvents).

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "client/commands.h"
#include "client/connection.h"
#include "client/event_output.h"
#include "client/event_query.h"

namespace paradym::webhooks::cli {
namespace {

namespace v1 = ::paradym::webhooks::v1;

constexpr char kUsage[] =
    "paradym-webhooks list [flags]\n"
    "\n"
    "Pages through the stored events, oldest first (ListEvents).\n"
    "\n"
    "  --after=N                     only events after sequence N\n"
    "  --limit=N                     at most N events (default: all)\n"
    "  --page-size=N                 events per ListEvents call (default 500)\n"
    "  --format=json|table           output (default json)\n";

// What the flags ask for, apart from the connection.
struct ListFlags {
  EventPrinter::Format format;
  std::uint64_t after = 0;
  std::uint64_t limit = 0;  // 0: all
  std::int32_t page_size = 500;
};

// INVALID_ARGUMENT with the usage error's message when the flags make no
// sense.
absl::StatusOr<ListFlags> ParseFlags(const CommandLine& line) {
  if (absl::Status checked =
          CheckEventQueryFlags(line, {"after", "limit", "page-size", "format"});
      !checked.ok()) {
    return checked;
  }
  ListFlags flags;
  const auto format =
      EventPrinter::ParseFormat(line.Value("format").value_or("json"));
  if (!format ||
      !absl::SimpleAtoi(line.Value("after").value_or("0"), &flags.after) ||
      !absl::SimpleAtoi(line.Value("limit").value_or("0"), &flags.limit) ||
      !absl::SimpleAtoi(line.Value("page-size").value_or("500"),
                        &flags.page_size) ||
      flags.page_size <= 0) {
    return absl::InvalidArgumentError(
        "--format must be json or table; --after, --limit and --page-size "
        "numbers");
  }
  flags.format = *format;
  return flags;
}

// Prints every page of `request`'s events, at most `limit` (0: all);
// returns the exit code.
int PrintPages(Connection& connection, v1::ListEventsRequest request,
               const EventPrinter& printer, std::uint64_t limit) {
  std::string text = printer.Header();
  std::uint64_t printed = 0;
  for (;;) {
    grpc::ClientContext context;
    connection.Prepare(context);
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(30));
    v1::ListEventsResponse response;
    const grpc::Status status =
        connection.stub().ListEvents(&context, request, &response);
    if (!status.ok()) {
      std::fwrite(text.data(), 1, text.size(), stdout);
      std::fprintf(stderr, "paradym-webhooks list: %s\n",
                   DescribeStatus(status).c_str());
      return status.error_code() == grpc::StatusCode::UNAVAILABLE
                 ? kExitUnreachable
                 : kExitRefused;
    }
    for (const v1::Event& event : response.events()) {
      if (limit != 0 && printed == limit) break;
      if (!printer.Append(event, text).ok()) return kExitRefused;
      ++printed;
    }
    std::fwrite(text.data(), 1, text.size(), stdout);
    text.clear();
    if (std::fflush(stdout) != 0) return kExitOk;  // the reader went away
    if ((limit != 0 && printed == limit) ||
        response.next_page_token().empty()) {
      return kExitOk;
    }
    request.clear_start_after_sequence();
    request.set_page_token(response.next_page_token());
  }
}

}  // namespace

int RunList(const CommandLine& line) {
  if (line.Has("help")) {
    std::printf("%s%s%s", kUsage, kFilterFlagsHelp, kConnectionFlagsHelp);
    return kExitOk;
  }
  absl::StatusOr<ListFlags> flags = ParseFlags(line);
  if (!flags.ok()) return UsageError("list", flags.status().message(), kUsage);
  absl::StatusOr<Connection> connection = Connection::FromFlags(line);
  if (!connection.ok()) {
    return UsageError("list", connection.status().message(), kUsage);
  }
  v1::ListEventsRequest request;
  AddFilters(line, request);
  request.set_start_after_sequence(flags->after);
  request.set_page_size(flags->page_size);
  return PrintPages(*connection, std::move(request),
                    EventPrinter(flags->format), flags->limit);
}

}  // namespace paradym::webhooks::cli
