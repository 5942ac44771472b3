// The digest that recognizes a replayed webhook: SHA-256 over the endpoint
// whose secret verified it and the exact signed body.
//
// The same signed body sent twice to the same endpoint (a replay, or a
// proxy's retry) has the same digest; any other webhook has another. The
// endpoint's name goes first with its length (4 bytes, big-endian), so that
// no (endpoint, body) pair can produce another pair's input.
//
// An event's digest follows from its encoding (`endpoint` and `body` are in
// it), so every store and every replica computes the same digest for the
// same event without carrying it separately.
//
//   ReplayDigest digest = ComputeReplayDigest("default", body);

#ifndef PARADYM_WEBHOOKS_SERVER_CORE_REPLAY_DIGEST_H_
#define PARADYM_WEBHOOKS_SERVER_CORE_REPLAY_DIGEST_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <utility>

#include "absl/strings/string_view.h"

namespace paradym::webhooks {

inline constexpr std::size_t kReplayDigestBytes = 32;
using ReplayDigest = std::array<std::uint8_t, kReplayDigestBytes>;

// SHA-256 of (big-endian 32-bit length of `endpoint`, `endpoint`, `body`).
ReplayDigest ComputeReplayDigest(absl::string_view endpoint,
                                 absl::string_view body);

// Hashes a digest for hash maps: its first 8 bytes are already uniform.
struct ReplayDigestHash {
  std::size_t operator()(const ReplayDigest& digest) const {
    std::uint64_t head;
    std::memcpy(&head, digest.data(), sizeof head);
    return static_cast<std::size_t>(head);
  }
};

}  // namespace paradym::webhooks

#endif  // PARADYM_WEBHOOKS_SERVER_CORE_REPLAY_DIGEST_H_
