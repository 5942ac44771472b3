// paradym-webhooks: the command-line client of paradym-webhooksd.
//
//   paradym-webhooks subscribe [filters] [--from-start | --after=N]
//   paradym-webhooks list [filters] [--after=N] [--limit=N]
//   paradym-webhooks send [EVENT_TYPE...] [--all] [--set path=value]...
//   paradym-webhooks verify --signature=HEX [FILE]
//   paradym-webhooks sign [FILE]
//
// Exit codes: 0 success; 1 refused (by the server, a non-200, an invalid
// signature or body); 2 usage error; 3 the server cannot be reached.
//
// This file is the command table; each command lives in its own file (see
// client/commands.h).

#include <signal.h>

#include <cstdio>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"
#include "client/command_line.h"
#include "client/commands.h"

namespace paradym::webhooks::cli {
namespace {

struct Command {
  absl::string_view name;
  absl::string_view summary;  // one line of the usage text
  int (*run)(const CommandLine& line);
};

constexpr Command kCommands[] = {
    {"subscribe", "stream events as they are accepted; reconnects and resumes",
     RunSubscribe},
    {"list", "page through the stored events", RunList},
    {"send", "sign and POST sample webhooks (or a body) to the HTTP front",
     RunSend},
    {"verify", "check a saved body and signature offline", RunVerify},
    {"sign", "print the X-Paradym-HMAC-SHA-256 signature of a body", RunSign},
};

// The flags of any command that take no value: the line is parsed before
// the command is known.
const std::vector<std::string>& BooleanFlags() {
  static const auto* flags =
      new std::vector<std::string>{"from-start", "all", "tls", "no-reconnect"};
  return *flags;
}

std::string Usage() {
  std::string usage =
      "paradym-webhooks: the client of paradym-webhooksd\n"
      "\n"
      "Commands:\n";
  for (const Command& command : kCommands) {
    absl::StrAppendFormat(&usage, "  %-9s  %s\n", command.name,
                          command.summary);
  }
  usage +=
      "\n"
      "Run `paradym-webhooks COMMAND --help` for a command's flags.\n"
      "Secrets come from env PARADYM_WEBHOOK_SECRET or --secret-file=PATH, "
      "never a flag value.\n"
      "Exit codes: 0 success; 1 refused (by the server, a non-200, an "
      "invalid\n"
      "signature or body); 2 usage error; 3 the server cannot be reached.\n";
  return usage;
}

int Main(int argc, char** argv) {
  ::signal(SIGPIPE, SIG_IGN);
  absl::StatusOr<CommandLine> line =
      CommandLine::Parse(argc, argv, BooleanFlags());
  if (!line.ok()) {
    std::fprintf(stderr, "paradym-webhooks: %s\n",
                 std::string(line.status().message()).c_str());
    return kExitUsage;
  }
  const std::string& name = line->command();
  for (const Command& command : kCommands) {
    if (command.name == name) return command.run(*line);
  }
  if (name.empty() || name == "help" || line->Has("help")) {
    const bool asked = name == "help" || line->Has("help");
    std::fputs(Usage().c_str(), asked ? stdout : stderr);
    return asked ? kExitOk : kExitUsage;
  }
  std::fprintf(stderr, "paradym-webhooks: unknown command %s\n\n%s",
               name.c_str(), Usage().c_str());
  return kExitUsage;
}

}  // namespace
}  // namespace paradym::webhooks::cli

int main(int argc, char** argv) {
  return paradym::webhooks::cli::Main(argc, argv);
}
