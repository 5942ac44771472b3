#include "server/core/replay_digest.h"

// SHA256_Init/Update/Final are shared by OpenSSL 3 (deprecated there, not
// removed) and BoringSSL, as in signature_verifier.cc.
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/sha.h>

namespace paradym::webhooks {

ReplayDigest ComputeReplayDigest(absl::string_view endpoint,
                                 absl::string_view body) {
  const auto size = static_cast<std::uint32_t>(endpoint.size());
  const std::uint8_t length[4] = {static_cast<std::uint8_t>(size >> 24),
                                  static_cast<std::uint8_t>(size >> 16),
                                  static_cast<std::uint8_t>(size >> 8),
                                  static_cast<std::uint8_t>(size)};
  SHA256_CTX ctx;
  SHA256_Init(&ctx);
  SHA256_Update(&ctx, length, sizeof length);
  SHA256_Update(&ctx, endpoint.data(), endpoint.size());
  SHA256_Update(&ctx, body.data(), body.size());
  ReplayDigest digest;
  SHA256_Final(digest.data(), &ctx);
  return digest;
}

}  // namespace paradym::webhooks
