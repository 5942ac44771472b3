#include "server/core/signature_verifier.h"

// SHA256_Init/Update/Final are shared by OpenSSL 3 (deprecated there, not
// removed) and BoringSSL; they let a key's padded blocks be hashed once.
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include <array>
#include <climits>
#include <cstdint>
#include <cstring>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "server/core/errors.h"
#include "server/core/status_macros.h"

namespace paradym::webhooks {
namespace {

// The value of each hex digit, -1 for every other byte: a table, because
// the digits of a signature are random and branches on them mispredict.
constexpr std::array<std::int8_t, 256> kHexValues = [] {
  std::array<std::int8_t, 256> values{};
  for (int c = 0; c < 256; ++c) {
    values[c] = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                       : -1;
  }
  return values;
}();

int HexValue(char c) { return kHexValues[static_cast<unsigned char>(c)]; }

constexpr std::size_t kBlockBytes = 64;  // SHA-256's block size

}  // namespace

absl::StatusOr<Digest> DecodeSignature(absl::string_view signature) {
  signature = absl::StripAsciiWhitespace(signature);
  if (signature.empty()) {
    return MakeError(absl::StatusCode::kUnauthenticated, kSignatureMissing,
                     "the X-Paradym-HMAC-SHA-256 signature is missing");
  }
  Digest digest;
  bool valid = signature.size() == 2 * kDigestBytes;
  for (std::size_t i = 0; valid && i < kDigestBytes; ++i) {
    const int high = HexValue(signature[2 * i]);
    const int low = HexValue(signature[2 * i + 1]);
    valid = high >= 0 && low >= 0;
    digest[i] = static_cast<std::uint8_t>(high * 16 + low);
  }
  if (!valid) {
    return MakeError(absl::StatusCode::kUnauthenticated, kSignatureMalformed,
                     "the X-Paradym-HMAC-SHA-256 signature must be 64 hex "
                     "digits (an HMAC-SHA256 digest)");
  }
  return digest;
}

Digest ComputeDigest(absl::string_view secret, absl::string_view body) {
  Digest digest{};
  unsigned int length = 0;
  // OpenSSL takes the key length as int, BoringSSL as size_t; secrets are
  // validated to be far shorter than INT_MAX, and an int converts to both.
  const int key_length = static_cast<int>(secret.size());
  HMAC(EVP_sha256(), secret.data(), key_length,
       reinterpret_cast<const unsigned char*>(body.data()), body.size(),
       digest.data(), &length);
  return digest;
}

std::string SignBody(absl::string_view secret, absl::string_view body) {
  const Digest digest = ComputeDigest(secret, body);
  return absl::BytesToHexString(absl::string_view(
      reinterpret_cast<const char*>(digest.data()), digest.size()));
}

struct HmacKey::State {
  SHA256_CTX ctx;
};

HmacKey::HmacKey(absl::string_view secret) {
  // RFC 2104: keys longer than a block are hashed first; then padded.
  std::uint8_t key[kBlockBytes] = {};
  if (secret.size() > kBlockBytes) {
    SHA256(reinterpret_cast<const std::uint8_t*>(secret.data()), secret.size(),
           key);
  } else {
    std::memcpy(key, secret.data(), secret.size());
  }
  std::uint8_t pad[kBlockBytes];
  auto absorb = [&](std::uint8_t byte) {
    for (std::size_t i = 0; i < kBlockBytes; ++i) pad[i] = key[i] ^ byte;
    auto state = std::make_shared<State>();
    SHA256_Init(&state->ctx);
    SHA256_Update(&state->ctx, pad, kBlockBytes);
    return state;
  };
  inner_ = absorb(0x36);
  outer_ = absorb(0x5c);
  OPENSSL_cleanse(key, sizeof key);
  OPENSSL_cleanse(pad, sizeof pad);
}

Digest HmacKey::Sign(absl::string_view message) const {
  Digest inner_digest;
  SHA256_CTX ctx = inner_->ctx;
  SHA256_Update(&ctx, message.data(), message.size());
  SHA256_Final(inner_digest.data(), &ctx);
  Digest digest;
  ctx = outer_->ctx;
  SHA256_Update(&ctx, inner_digest.data(), inner_digest.size());
  SHA256_Final(digest.data(), &ctx);
  OPENSSL_cleanse(&ctx, sizeof ctx);
  return digest;
}

SignatureVerifier::SignatureVerifier(std::vector<EndpointSecrets> endpoints) {
  for (EndpointSecrets& endpoint : endpoints) {
    Endpoint prepared{std::move(endpoint.name), {}};
    for (const std::string& secret : endpoint.secrets) {
      prepared.keys.emplace_back(secret);
    }
    endpoints_.push_back(std::move(prepared));
  }
}

absl::Status SignatureVerifier::CheckEndpoint(
    absl::string_view endpoint) const {
  if (endpoint.empty()) return absl::OkStatus();
  for (const auto& configured : endpoints_) {
    if (configured.name == endpoint) return absl::OkStatus();
  }
  if (!IsValidEndpointName(endpoint)) {
    return MakeError(absl::StatusCode::kNotFound, kUnknownEndpoint,
                     "no endpoint with that name is configured");
  }
  return MakeError(
      absl::StatusCode::kNotFound, kUnknownEndpoint,
      absl::StrCat("endpoint \"", endpoint, "\" is not configured"),
      {{"endpoint", std::string(endpoint)}});
}

absl::StatusOr<absl::string_view> SignatureVerifier::Verify(
    absl::string_view body, absl::string_view signature,
    absl::string_view endpoint) const& {
  RETURN_IF_ERROR(CheckEndpoint(endpoint));
  ASSIGN_OR_RETURN(const Digest expected, DecodeSignature(signature));
  for (const auto& configured : endpoints_) {
    if (!endpoint.empty() && configured.name != endpoint) continue;
    for (const HmacKey& key : configured.keys) {
      const Digest actual = key.Sign(body);
      if (CRYPTO_memcmp(actual.data(), expected.data(), kDigestBytes) == 0) {
        return absl::string_view(configured.name);
      }
    }
  }
  return MakeError(absl::StatusCode::kUnauthenticated, kSignatureMismatch,
                   endpoint.empty()
                       ? "the signature does not match the body under any "
                         "configured secret"
                       : "the signature does not match the body under this "
                         "endpoint's secrets");
}

}  // namespace paradym::webhooks
