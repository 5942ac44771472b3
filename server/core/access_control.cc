#include "server/core/access_control.h"

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include <algorithm>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "server/core/endpoint_secrets.h"
#include "server/core/errors.h"
#include "server/core/private_file.h"
#include "server/core/status_macros.h"

namespace paradym::webhooks {
namespace {

constexpr std::size_t kMinTokenBytes = 16;
constexpr std::size_t kMaxTokenBytes = 4096;
constexpr std::uint8_t kAllScopes = static_cast<std::uint8_t>(Scope::kRead) |
                                    static_cast<std::uint8_t>(Scope::kIngest) |
                                    static_cast<std::uint8_t>(Scope::kVerify);

absl::Status LineError(int line, absl::string_view problem) {
  return MakeError(absl::StatusCode::kInvalidArgument, kInvalidConfig,
                   absl::StrCat("tokens file line ", line, ": ", problem));
}

std::array<std::uint8_t, 32> Sha256(absl::string_view bytes) {
  std::array<std::uint8_t, 32> digest;
  SHA256(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size(),
         digest.data());
  return digest;
}

bool IsTokenChar(char c) { return c > ' ' && c < 0x7f; }

absl::StatusOr<std::uint8_t> ParseScopes(absl::string_view text, int line) {
  if (text == "*") return kAllScopes;
  std::uint8_t scopes = 0;
  for (absl::string_view name : absl::StrSplit(text, ',')) {
    if (name == "read") {
      scopes |= static_cast<std::uint8_t>(Scope::kRead);
    } else if (name == "ingest") {
      scopes |= static_cast<std::uint8_t>(Scope::kIngest);
    } else if (name == "verify") {
      scopes |= static_cast<std::uint8_t>(Scope::kVerify);
    } else {
      return LineError(line,
                       "scopes are a comma-separated list of read, ingest "
                       "and verify, or *");
    }
  }
  return scopes;
}

}  // namespace

absl::string_view ScopeName(Scope scope) {
  switch (scope) {
    case Scope::kRead:
      return "read";
    case Scope::kIngest:
      return "ingest";
    case Scope::kVerify:
      return "verify";
  }
  return "unknown";
}

absl::StatusOr<TokenTable> TokenTable::Parse(absl::string_view contents) {
  TokenTable table;
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(contents, '\n')) {
    ++line_number;
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || line.front() == '#') continue;
    std::vector<absl::string_view> words =
        absl::StrSplit(line, absl::ByAnyChar(" \t"), absl::SkipEmpty());
    if (words.size() != 3) {
      return LineError(line_number, "expected NAME SCOPES TOKEN");
    }
    Token token;
    if (!IsValidEndpointName(words[0])) {
      return LineError(
          line_number,
          "a NAME is 1 to 64 of A-Z a-z 0-9 . _ - (not only dots)");
    }
    token.name = std::string(words[0]);
    ASSIGN_OR_RETURN(token.scopes, ParseScopes(words[1], line_number));
    const absl::string_view secret = words[2];
    if (secret.size() < kMinTokenBytes || secret.size() > kMaxTokenBytes) {
      return LineError(line_number,
                       absl::StrCat("a TOKEN has ", kMinTokenBytes, " to ",
                                    kMaxTokenBytes, " characters"));
    }
    if (!std::all_of(secret.begin(), secret.end(), IsTokenChar)) {
      return LineError(line_number, "a TOKEN is printable ASCII");
    }
    token.digest = Sha256(secret);
    for (const Token& other : table.tokens_) {
      if (other.name == token.name) {
        return LineError(line_number, absl::StrCat("the name `", token.name,
                                                   "` is used twice"));
      }
      if (other.digest == token.digest) {
        return LineError(line_number, absl::StrCat("the token of `", other.name,
                                                   "` is used twice"));
      }
    }
    table.tokens_.push_back(std::move(token));
  }
  return table;
}

absl::StatusOr<TokenTable> ReadTokensFile(const std::string& path) {
  ASSIGN_OR_RETURN(const std::string contents, ReadPrivateFile(path));
  absl::StatusOr<TokenTable> tokens = TokenTable::Parse(contents);
  if (!tokens.ok()) {
    return MakeError(tokens.status().code(), kInvalidConfig,
                     absl::StrCat(path, ": ", tokens.status().message()));
  }
  return tokens;
}

AccessControl::AccessControl(Options options, std::optional<TokenTable> tokens)
    : options_(options) {
  if (tokens.has_value()) {
    tokens_ = std::make_shared<const TokenTable>(*std::move(tokens));
  }
}

void AccessControl::SetTokens(TokenTable tokens) {
  auto table = std::make_shared<const TokenTable>(std::move(tokens));
  absl::MutexLock lock(&mu_);
  tokens_ = std::move(table);
}

bool AccessControl::protected_mode() const {
  absl::ReaderMutexLock lock(&mu_);
  return tokens_ == nullptr && !options_.client_certificates_required;
}

absl::StatusOr<std::string> AccessControl::Authorize(const Caller& caller,
                                                     Scope scope) const {
  std::shared_ptr<const TokenTable> tokens;
  {
    absl::ReaderMutexLock lock(&mu_);
    tokens = tokens_;
  }
  if (tokens == nullptr) {
    if (options_.client_certificates_required) {
      // The TLS handshake refused everyone else.
      if (caller.verified_client_certificate) return "client-certificate";
    } else if (caller.loopback) {
      return "loopback";
    }
    return MakeError(
        absl::StatusCode::kUnauthenticated, kLoopbackOnly,
        "this server has no credentials configured, so it serves only "
        "callers on loopback; start it with --grpc_tokens_file (bearer "
        "tokens) or --grpc_client_ca (mutual TLS) to serve others");
  }
  absl::string_view presented = caller.authorization;
  constexpr absl::string_view kBearer = "Bearer ";
  if (presented.empty()) {
    return MakeError(absl::StatusCode::kUnauthenticated, kTokenMissing,
                     "send `authorization: Bearer TOKEN` with a token from "
                     "the server's tokens file");
  }
  if (presented.size() <= kBearer.size() ||
      !absl::StartsWithIgnoreCase(presented, kBearer)) {
    return MakeError(absl::StatusCode::kUnauthenticated, kTokenInvalid,
                     "the authorization is not `Bearer TOKEN`");
  }
  presented = absl::StripAsciiWhitespace(presented.substr(kBearer.size()));
  // Every token is compared, whichever matches, so that the time taken says
  // nothing about which one did.
  const std::array<std::uint8_t, 32> digest = Sha256(presented);
  const TokenTable::Token* match = nullptr;
  for (const TokenTable::Token& token : tokens->tokens()) {
    const bool equal =
        CRYPTO_memcmp(token.digest.data(), digest.data(), digest.size()) == 0;
    if (equal) match = &token;
  }
  if (match == nullptr) {
    return MakeError(absl::StatusCode::kUnauthenticated, kTokenInvalid,
                     "the bearer token is not in the server's tokens file");
  }
  if ((match->scopes & static_cast<std::uint8_t>(scope)) == 0) {
    return MakeError(
        absl::StatusCode::kPermissionDenied, kScopeMissing,
        absl::StrCat("the token `", match->name, "` does not grant the scope `",
                     ScopeName(scope), "`"),
        {{"token_name", match->name},
         {"scope", std::string(ScopeName(scope))}});
  }
  return match->name;
}

}  // namespace paradym::webhooks
