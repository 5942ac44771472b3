// paradym-webhooks verify: checks a saved body and its signature offline,
// then whether the server would accept the body.

#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "client/commands.h"
#include "client/input_files.h"
#include "paradym/webhooks/v1/event.pb.h"
#include "server/core/errors.h"
#include "server/core/event_normalizer.h"
#include "server/core/signature_verifier.h"

namespace paradym::webhooks::cli {
namespace {

constexpr char kUsage[] =
    "paradym-webhooks verify --signature=HEX [FILE]\n"
    "\n"
    "Checks a saved webhook body (FILE or stdin) and its\n"
    "X-Paradym-HMAC-SHA-256 signature offline against the secret, then\n"
    "whether the server would accept the body. Exit 0 when both hold, 1 with\n"
    "the reason otherwise.\n"
    "\n"
    "  --signature=HEX               the header value\n"
    "  --secret-file=PATH            the secret (else env "
    "PARADYM_WEBHOOK_SECRET)\n";

// `body` without its trailing newlines (\n or \r).
absl::string_view WithoutTrailingNewlines(absl::string_view body) {
  while (!body.empty() && (body.back() == '\n' || body.back() == '\r')) {
    body.remove_suffix(1);
  }
  return body;
}

// Prints what the signature and the normalizer say of `body`; returns the
// exit code.
int Check(const std::string& secret, const std::string& signature,
          const std::string& body) {
  const SignatureVerifier verifier(
      std::vector<EndpointSecrets>{{"default", {secret}}});
  absl::StatusOr<absl::string_view> verified =
      verifier.Verify(body, signature, "");
  if (!verified.ok()) {
    std::printf("invalid signature: %s: %s\n",
                ErrorReason(verified.status()).c_str(),
                std::string(verified.status().message()).c_str());
    // The usual culprit: a tool that saved the body added a newline.
    const absl::string_view trimmed = WithoutTrailingNewlines(body);
    if (trimmed.size() != body.size() &&
        verifier.Verify(trimmed, signature, "").ok()) {
      std::printf(
          "hint: the signature matches the body without its trailing "
          "newline; whatever saved the body added it\n");
    }
    return kExitRefused;
  }
  ::paradym::webhooks::v1::Event event;
  if (absl::Status normalized = EventNormalizer().Normalize(body, event);
      !normalized.ok()) {
    std::printf("valid signature, but the server refuses the body: %s: %s\n",
                ErrorReason(normalized).c_str(),
                std::string(normalized.message()).c_str());
    return kExitRefused;
  }
  std::printf("valid: %s, %zu bytes, signed with the secret\n",
              event.event_type().c_str(), body.size());
  return kExitOk;
}

}  // namespace

int RunVerify(const CommandLine& line) {
  if (line.Has("help")) {
    std::fputs(kUsage, stdout);
    return kExitOk;
  }
  if (absl::Status known = line.CheckKnown({"signature", "secret-file"});
      !known.ok() || line.arguments().size() > 1) {
    return UsageError(
        "verify", known.ok() ? "at most one FILE" : known.message(), kUsage);
  }
  const std::optional<std::string> signature = line.Value("signature");
  if (!signature) {
    return UsageError("verify", "--signature=HEX is required", kUsage);
  }
  const std::optional<std::string> secret = ReadSecret(line);
  if (!secret || secret->empty()) {
    return UsageError("verify", kNoSecret, kUsage);
  }
  const std::optional<std::string> body = ReadBody(line);
  if (!body) {
    return UsageError("verify", "cannot read " + line.arguments()[0], kUsage);
  }
  return Check(*secret, *signature, *body);
}

}  // namespace paradym::webhooks::cli
