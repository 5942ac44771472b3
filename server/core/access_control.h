// Who may call the gRPC service, and what for.
//
// Callers prove who they are with a bearer token from a tokens file (lines
// of `NAME SCOPES TOKEN`) or, with mutual TLS, with a client certificate the
// transport verified. Each token grants scopes: `read` (Subscribe,
// ListEvents), `ingest` (Ingest), `verify` (VerifyAndParse), or `*`.
//
// With neither configured the service is in protected mode (as Redis is):
// callers on loopback may do everything, everyone else is refused with a
// reason that says how to configure credentials.
//
// Tokens are compared by their SHA-256 digests in constant time, so neither
// a token's bytes nor its length leak through timing. Errors and logs name a
// token's NAME, never the token.
//
//   absl::StatusOr<TokenTable> tokens = ReadTokensFile("/etc/pw/tokens");
//   AccessControl access({}, *std::move(tokens));
//   absl::StatusOr<std::string> name = access.Authorize(
//       {.authorization = "Bearer ...", .loopback = false}, Scope::kRead);
//   access.SetTokens(...);  // SIGHUP: new tokens, streams stay open

#ifndef PARADYM_WEBHOOKS_SERVER_CORE_ACCESS_CONTROL_H_
#define PARADYM_WEBHOOKS_SERVER_CORE_ACCESS_CONTROL_H_

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"

namespace paradym::webhooks {

// What a call does; a token grants some of these.
enum class Scope : std::uint8_t {
  kRead = 1,    // Subscribe, ListEvents
  kIngest = 2,  // Ingest
  kVerify = 4,  // VerifyAndParse
};

// "read", "ingest" or "verify".
absl::string_view ScopeName(Scope scope);

// The tokens of a tokens file.
//
// Thread-safe once built: nothing changes it (a reload builds a new one).
class TokenTable {
 public:
  struct Token {
    std::string name;         // who holds it: shown in logs and errors
    std::uint8_t scopes = 0;  // a bit set of Scope
    std::array<std::uint8_t, 32> digest{};  // SHA-256 of the token
  };

  // Parses a tokens file: one `NAME SCOPES TOKEN` a line, separated by
  // spaces or tabs; blank lines and lines starting with `#` are skipped.
  // NAME as an endpoint name (1 to 64 of A-Z a-z 0-9 . _ -), SCOPES a
  // comma-separated list of read, ingest, verify, or `*` for all, TOKEN 16 to
  // 4096 printable ASCII characters. Names and tokens must be unique.
  // INVALID_ARGUMENT naming the line number and never its content.
  static absl::StatusOr<TokenTable> Parse(absl::string_view contents);

  const std::vector<Token>& tokens() const { return tokens_; }

 private:
  std::vector<Token> tokens_;
};

// Reads and parses the tokens file at `path` (see ReadPrivateFile: it must
// not be readable by group or others).
absl::StatusOr<TokenTable> ReadTokensFile(const std::string& path);

// A call's credentials as the transport saw them.
struct Caller {
  // The `authorization` header or metadata value; empty when absent.
  absl::string_view authorization;
  // The peer's address is 127.0.0.0/8 or ::1.
  bool loopback = false;
  // The transport verified a client certificate against the client CA.
  bool verified_client_certificate = false;
};

// Who may make which call.
//
// Thread-safe: gRPC's threads authorize while a reload SetTokens.
class AccessControl {
 public:
  struct Options {
    // Client certificates are required and verified by the transport
    // (mutual TLS): a caller that got this far is known.
    bool client_certificates_required = false;
  };

  // No `tokens` and no client certificates: protected mode.
  AccessControl(Options options, std::optional<TokenTable> tokens);

  // The name of who calls ("loopback", "client-certificate", or the token's
  // NAME), or why the call is refused: UNAUTHENTICATED (TOKEN_MISSING,
  // TOKEN_INVALID, LOOPBACK_ONLY) or PERMISSION_DENIED (SCOPE_MISSING).
  // Thread-safe.
  absl::StatusOr<std::string> Authorize(const Caller& caller,
                                        Scope scope) const;

  // Replaces the tokens (a reload). Calls from then on use the new ones.
  // Thread-safe.
  void SetTokens(TokenTable tokens);

  // Whether anyone beyond loopback can be served.
  bool protected_mode() const;

 private:
  const Options options_;
  mutable absl::Mutex mu_;
  std::shared_ptr<const TokenTable> tokens_ ABSL_GUARDED_BY(mu_);
};

}  // namespace paradym::webhooks

#endif  // PARADYM_WEBHOOKS_SERVER_CORE_ACCESS_CONTROL_H_
