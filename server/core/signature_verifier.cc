#include "server/core/signature_verifier.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <climits>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "server/core/errors.h"

namespace paradym::webhooks {
namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool Matches(const Digest& expected, absl::string_view secret,
             absl::string_view body) {
  const Digest actual = ComputeDigest(secret, body);
  return CRYPTO_memcmp(actual.data(), expected.data(), kDigestBytes) == 0;
}

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
  static constexpr char kHex[] = "0123456789abcdef";
  const Digest digest = ComputeDigest(secret, body);
  std::string hex;
  hex.reserve(2 * kDigestBytes);
  for (std::uint8_t byte : digest) {
    hex.push_back(kHex[byte >> 4]);
    hex.push_back(kHex[byte & 0xf]);
  }
  return hex;
}

SignatureVerifier::SignatureVerifier(std::vector<EndpointSecrets> endpoints)
    : endpoints_(std::move(endpoints)) {}

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
    absl::string_view endpoint) const {
  if (absl::Status status = CheckEndpoint(endpoint); !status.ok()) {
    return status;
  }
  absl::StatusOr<Digest> expected = DecodeSignature(signature);
  if (!expected.ok()) return expected.status();
  for (const auto& configured : endpoints_) {
    if (!endpoint.empty() && configured.name != endpoint) continue;
    for (const auto& secret : configured.secrets) {
      if (Matches(*expected, secret, body)) return configured.name;
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
