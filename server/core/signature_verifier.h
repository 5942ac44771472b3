// Verifies the `X-Paradym-HMAC-SHA-256` signature of a webhook body.
//
// Paradym signs the raw body with HMAC-SHA256 keyed by the endpoint's secret
// (its UTF-8 bytes) and sends the digest as hex. The verifier decodes the hex
// (either case) and compares digests in constant time with CRYPTO_memcmp. It
// uses only the crypto API that OpenSSL 3 and BoringSSL share.
//
//   SignatureVerifier verifier({{"default", {"supersecret"}}});
//   absl::StatusOr<absl::string_view> endpoint =
//       verifier.Verify(body, signature_header, /*endpoint=*/"");
//   // *endpoint == "default" when the signature matches.

#ifndef PARADYM_WEBHOOKS_SERVER_CORE_SIGNATURE_VERIFIER_H_
#define PARADYM_WEBHOOKS_SERVER_CORE_SIGNATURE_VERIFIER_H_

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "server/core/endpoint_secrets.h"

namespace paradym::webhooks {

// The length of an HMAC-SHA256 digest in bytes.
inline constexpr std::size_t kDigestBytes = 32;
using Digest = std::array<std::uint8_t, kDigestBytes>;

// Decodes a signature header value: 64 hex digits in either case, optionally
// surrounded by ASCII whitespace. SIGNATURE_MISSING when empty,
// SIGNATURE_MALFORMED otherwise; the value is never echoed.
absl::StatusOr<Digest> DecodeSignature(absl::string_view signature);

// HMAC-SHA256 of `body` keyed by `secret`.
Digest ComputeDigest(absl::string_view secret, absl::string_view body);

// The signature Paradym would send for `body`: lowercase hex.
std::string SignBody(absl::string_view secret, absl::string_view body);

// A secret prepared for HMAC-SHA256: the hash states after the inner and
// outer key blocks, computed once, so that each verification only hashes
// the message (OpenSSL 3's one-shot HMAC() looks the algorithm up on every
// call, which costs as much as hashing a webhook).
//
// Thread-safe: const after construction.
class HmacKey {
 public:
  explicit HmacKey(absl::string_view secret);
  Digest Sign(absl::string_view message) const;

 private:
  struct State;  // a SHA256_CTX, kept out of this header
  std::shared_ptr<const State> inner_, outer_;
};

// Thread-safe: const after construction (WebhookIngestor shares one among
// its threads and replaces it whole on a reload).
class SignatureVerifier {
 public:
  // `endpoints` must be valid (see ValidateEndpointSecrets).
  explicit SignatureVerifier(std::vector<EndpointSecrets> endpoints);

  // Checks `signature` against `body`. With an empty `endpoint` every
  // configured secret is tried; otherwise only that endpoint's secrets.
  // Returns the name of the endpoint whose secret matched, which lives as
  // long as the verifier (so a temporary verifier cannot be asked). Errors:
  // NOT_FOUND (UNKNOWN_ENDPOINT), UNAUTHENTICATED (SIGNATURE_MISSING,
  // SIGNATURE_MALFORMED, SIGNATURE_MISMATCH).
  absl::StatusOr<absl::string_view> Verify(absl::string_view body,
                                           absl::string_view signature,
                                           absl::string_view endpoint) const&;
  absl::StatusOr<absl::string_view> Verify(
      absl::string_view body, absl::string_view signature,
      absl::string_view endpoint) const&& = delete;

  // NOT_FOUND (UNKNOWN_ENDPOINT) unless `endpoint` is empty or configured.
  absl::Status CheckEndpoint(absl::string_view endpoint) const;

 private:
  struct Endpoint {
    std::string name;
    std::vector<HmacKey> keys;
  };
  std::vector<Endpoint> endpoints_;
};

}  // namespace paradym::webhooks

#endif  // PARADYM_WEBHOOKS_SERVER_CORE_SIGNATURE_VERIFIER_H_
