// paradym-webhooks subscribe: streams accepted events, and resumes where it
// left off when the stream drops.

#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <variant>

#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "client/backoff_policy.h"
#include "client/commands.h"
#include "client/connection.h"
#include "client/event_output.h"
#include "client/event_query.h"
#include "client/grpc_subscribe_stub.h"
#include "client/resumable_output.h"
#include "client/resumable_subscription.h"

namespace paradym::webhooks::cli {
namespace {

namespace v1 = ::paradym::webhooks::v1;

constexpr char kUsage[] =
    "paradym-webhooks subscribe [flags]\n"
    "\n"
    "Streams accepted events, one JSON object a line (the proto3 JSON form of\n"
    "paradym.webhooks.v1.Event) or a table. When the stream drops (server\n"
    "restart, network cut, too slow), it reconnects with backoff and resumes\n"
    "after the last sequence it printed, so a pipe never misses or repeats an\n"
    "event. Stops at Ctrl-C, or when its output is closed.\n"
    "\n"
    "  --from-start                  first every event the server still holds\n"
    "  --after=N                     first every event after sequence N\n"
    "  --format=json|table           output (default json)\n"
    "  --output=FILE                 append JSON lines to FILE (fsynced); when "
    "FILE\n"
    "                                already has events, resume after its "
    "last\n"
    "  --no-reconnect                end (exit 1) when the stream ends\n";

// What the flags ask for.
struct Setup {
  EventPrinter::Format format;
  Connection connection;
  std::string output_path;  // empty: stdout
  ResumableOutput output;
  std::optional<std::uint64_t> start_after;  // --from-start is 0
};

// INVALID_ARGUMENT with the usage error's message when the flags make no
// sense (checked in the order the messages have always come in).
absl::StatusOr<Setup> SetUp(const CommandLine& line) {
  if (absl::Status checked = CheckEventQueryFlags(
          line, {"from-start", "after", "format", "output", "no-reconnect"});
      !checked.ok()) {
    return checked;
  }
  const auto format =
      EventPrinter::ParseFormat(line.Value("format").value_or("json"));
  if (!format) {
    return absl::InvalidArgumentError("--format must be json or table");
  }
  const std::string output_path = line.Value("output").value_or("");
  if (!output_path.empty() && *format != EventPrinter::Format::kJson) {
    return absl::InvalidArgumentError(
        "--output writes JSON lines (it resumes from them)");
  }
  absl::StatusOr<Connection> connection = Connection::FromFlags(line);
  if (!connection.ok()) return connection.status();
  absl::StatusOr<ResumableOutput> output = ResumableOutput::Open(output_path);
  if (!output.ok()) return output.status();
  std::optional<std::uint64_t> start_after;
  if (line.Has("from-start")) start_after = 0;
  if (auto after = line.Value("after")) {
    std::uint64_t sequence = 0;
    if (!absl::SimpleAtoi(*after, &sequence)) {
      return absl::InvalidArgumentError("--after must be a sequence number");
    }
    start_after = sequence;
  }
  return Setup{*format, *std::move(connection), output_path, *std::move(output),
               start_after};
}

ResumableSubscription::Options ResumeOptions(const CommandLine& line) {
  ResumableSubscription::Options options;
  options.resume = !line.Has("no-reconnect");
  // 100 ms, doubling to 5 s, with +-50% jitter so that many consumers do
  // not come back at once.
  options.backoff = std::make_unique<ExponentialBackoffPolicy>(
      absl::Milliseconds(100), absl::Seconds(5), UniformJitter());
  options.on_resume = [](const grpc::Status& status, absl::Duration delay,
                         std::optional<std::uint64_t> resume_after) {
    std::fprintf(stderr,
                 "paradym-webhooks subscribe: %s; reconnecting in %.1f s, "
                 "resuming after sequence %s\n",
                 DescribeStatus(status).c_str(), absl::ToDoubleSeconds(delay),
                 resume_after ? absl::StrCat(*resume_after).c_str() : "(live)");
  };
  return options;
}

// Prints what `subscription` reads to `output` until the subscription ends
// or the output is closed; returns the exit code.
int PrintEvents(ResumableSubscription& subscription,
                const EventPrinter& printer, ResumableOutput& output) {
  std::string text = printer.Header();
  for (;;) {
    auto next = subscription.Read();
    if (const auto* end = std::get_if<SubscriptionEnd>(&next)) {
      std::fprintf(stderr, "paradym-webhooks subscribe: %s\n",
                   DescribeStatus(end->status).c_str());
      return end->status.error_code() == grpc::StatusCode::UNAVAILABLE &&
                     !end->received
                 ? kExitUnreachable
                 : kExitRefused;
    }
    for (const v1::Event& event :
         std::get<v1::SubscribeResponse>(next).events()) {
      if (absl::Status printed = printer.Append(event, text); !printed.ok()) {
        std::fprintf(stderr, "paradym-webhooks: cannot print event %llu\n",
                     static_cast<unsigned long long>(event.sequence()));
        return kExitRefused;
      }
    }
    if (!output.Write(text)) {
      // The reader of our output went away (e.g. `| head`): stop quietly.
      return output.is_file() ? kExitRefused : kExitOk;
    }
    text.clear();
  }
}

}  // namespace

int RunSubscribe(const CommandLine& line) {
  if (line.Has("help")) {
    std::printf("%s%s%s", kUsage, kFilterFlagsHelp, kConnectionFlagsHelp);
    return kExitOk;
  }
  absl::StatusOr<Setup> setup = SetUp(line);
  if (!setup.ok()) {
    return UsageError("subscribe", setup.status().message(), kUsage);
  }
  v1::SubscribeRequest request;
  AddFilters(line, request);
  std::optional<std::uint64_t> start_after = setup->start_after;
  if (auto held = setup->output.resume_after()) {
    start_after = held;
    std::fprintf(stderr,
                 "paradym-webhooks subscribe: %s holds events up to sequence "
                 "%llu; resuming after it\n",
                 setup->output_path.c_str(),
                 static_cast<unsigned long long>(*held));
  }
  if (start_after) request.set_start_after_sequence(*start_after);
  // A large buffer and one write per response keep up with fast streams.
  static char buffer[1 << 20];
  std::setvbuf(stdout, buffer, _IOFBF, sizeof buffer);
  GrpcSubscribeStub stub(setup->connection);
  ResumableSubscription subscription(stub, std::move(request),
                                     ResumeOptions(line));
  return PrintEvents(subscription, EventPrinter(setup->format), setup->output);
}

}  // namespace paradym::webhooks::cli
