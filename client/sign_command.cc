// paradym-webhooks sign: prints the signature Paradym would send for a body.

#include <cstdio>
#include <optional>
#include <string>

#include "client/commands.h"
#include "client/input_files.h"
#include "server/core/signature_verifier.h"

namespace paradym::webhooks::cli {
namespace {

constexpr char kUsage[] =
    "paradym-webhooks sign [FILE]\n"
    "\n"
    "Prints the hex HMAC-SHA256 signature Paradym would send in\n"
    "X-Paradym-HMAC-SHA-256 for the body in FILE (or stdin).\n"
    "The secret comes from env PARADYM_WEBHOOK_SECRET or --secret-file=PATH\n"
    "(its first line), never from a flag value.\n";

}  // namespace

int RunSign(const CommandLine& line) {
  if (line.Has("help")) {
    std::fputs(kUsage, stdout);
    return kExitOk;
  }
  if (absl::Status known = line.CheckKnown({"secret-file"});
      !known.ok() || line.arguments().size() > 1) {
    return UsageError("sign", known.ok() ? "at most one FILE" : known.message(),
                      kUsage);
  }
  const std::optional<std::string> secret = ReadSecret(line);
  if (!secret || secret->empty()) return UsageError("sign", kNoSecret, kUsage);
  const std::optional<std::string> body = ReadBody(line);
  if (!body) {
    std::fprintf(stderr, "paradym-webhooks sign: cannot read %s\n",
                 line.arguments()[0].c_str());
    return kExitRefused;
  }
  std::printf("%s\n", SignBody(*secret, *body).c_str());
  return kExitOk;
}

}  // namespace paradym::webhooks::cli
