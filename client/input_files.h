// What the commands read besides their flags: the webhook secret, a body
// from the command's FILE argument or stdin, the first line of a file.
//
//   std::optional<std::string> secret = ReadSecret(line);
//   if (!secret || secret->empty()) return UsageError(..., kNoSecret, ...);

#ifndef PARADYM_WEBHOOKS_CLIENT_INPUT_FILES_H_
#define PARADYM_WEBHOOKS_CLIENT_INPUT_FILES_H_

#include <optional>
#include <string>

#include "client/command_line.h"

namespace paradym::webhooks::cli {

// The usage error of a command that needs a secret and has none.
inline constexpr char kNoSecret[] =
    "no secret; set PARADYM_WEBHOOK_SECRET or --secret-file=PATH";

// The contents of the file at `path`; nullopt when it cannot be read.
std::optional<std::string> ReadFile(const std::string& path);

// The first line of the file at `path`, without surrounding whitespace;
// nullopt when it cannot be read or has no line.
std::optional<std::string> ReadFirstLine(const std::string& path);

// The first line of --secret-file, else env PARADYM_WEBHOOK_SECRET; never a
// flag value. nullopt when neither is set (or the file cannot be read).
std::optional<std::string> ReadSecret(const CommandLine& line);

// The bytes of the command's first argument (a file), or of stdin when it
// has none; nullopt when the file cannot be read.
std::optional<std::string> ReadBody(const CommandLine& line);

}  // namespace paradym::webhooks::cli

#endif  // PARADYM_WEBHOOKS_CLIENT_INPUT_FILES_H_
