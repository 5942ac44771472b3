// The commands of paradym-webhooks, one file each (subscribe_command.cc,
// list_command.cc, send_command.cc, verify_command.cc, sign_command.cc),
// and what they share: exit codes and usage errors.
// paradym_webhooks_main.cc maps the first argument to one of them.
//
//   int exit_code = RunList(line);  // line.command() == "list"

#ifndef PARADYM_WEBHOOKS_CLIENT_COMMANDS_H_
#define PARADYM_WEBHOOKS_CLIENT_COMMANDS_H_

#include "absl/strings/string_view.h"
#include "client/command_line.h"

namespace paradym::webhooks::cli {

// Exit codes, the same for every command.
inline constexpr int kExitOk = 0;
// Refused: by the server, a non-200, an invalid signature or body.
inline constexpr int kExitRefused = 1;
inline constexpr int kExitUsage = 2;
// The server cannot be reached.
inline constexpr int kExitUnreachable = 3;

// Prints "paradym-webhooks COMMAND: MESSAGE", a blank line and `usage` to
// stderr, and returns kExitUsage.
int UsageError(absl::string_view command, absl::string_view message,
               absl::string_view usage);

// Each runs one command with its parsed line and returns the exit code.
int RunSubscribe(const CommandLine& line);
int RunList(const CommandLine& line);
int RunSend(const CommandLine& line);
int RunVerify(const CommandLine& line);
int RunSign(const CommandLine& line);

}  // namespace paradym::webhooks::cli

#endif  // PARADYM_WEBHOOKS_CLIENT_COMMANDS_H_
