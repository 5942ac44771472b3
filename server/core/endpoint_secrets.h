// The configured webhook endpoints and their signing secrets.
//
// Each Paradym webhook endpoint has a name and a secret; during a secret
// rotation an endpoint lists two secrets and both verify. Secrets come from
// the environment (`PARADYM_WEBHOOK_SECRET`, endpoint `default`), from a
// secrets file (one `name=secret` a line), or, when neither is configured,
// from a secret generated once and kept in a private file. Never from a
// command line, and no function here puts a secret in an error message.
//
//   absl::StatusOr<std::vector<EndpointSecrets>> endpoints =
//       ParseSecretsFile("default=s3cret\n# rotation\nshop=old\nshop=new\n");

#ifndef PARADYM_WEBHOOKS_SERVER_CORE_ENDPOINT_SECRETS_H_
#define PARADYM_WEBHOOKS_SERVER_CORE_ENDPOINT_SECRETS_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace paradym::webhooks {

// The endpoint the `PARADYM_WEBHOOK_SECRET` environment variable configures.
inline constexpr absl::string_view kDefaultEndpoint = "default";

// The longest secret accepted, in bytes.
inline constexpr std::size_t kMaxSecretBytes = 4096;

struct EndpointSecrets {
  std::string name;                  // e.g. "default"; see IsValidEndpointName
  std::vector<std::string> secrets;  // one, or two during a rotation
};

// 1 to 64 characters of A-Z a-z 0-9 . _ -, not only dots (it appears in
// URL paths).
bool IsValidEndpointName(absl::string_view name);

// Parses a secrets file: one `name=secret` a line; blank lines and lines
// starting with `#` are skipped; whitespace around name and secret is
// trimmed. A name on several lines collects several secrets. Errors name the
// line number, never its content.
absl::StatusOr<std::vector<EndpointSecrets>> ParseSecretsFile(
    absl::string_view contents);

// Adds `secret` to endpoint `name` in `endpoints`, creating the endpoint if
// needed and skipping a secret it already has.
void AddSecret(std::vector<EndpointSecrets>& endpoints, absl::string_view name,
               std::string secret);

// Reads and parses the secrets file at `path`, which group and others must
// not be able to access (see ReadPrivateFile).
absl::StatusOr<std::vector<EndpointSecrets>> ReadSecretsFile(
    const std::string& path);

// Returns the secret kept in `path`, first creating it with 32 random bytes
// as 64 hex digits (the directory 0700, the file 0600) when it does not
// exist. For running without configuration; the caller logs the path.
absl::StatusOr<std::string> LoadOrCreateSecretFile(const std::string& path);

// Returns the first line of `path` (whitespace stripped), first creating the
// file, once, with `random_bytes` random bytes as lowercase hex (the
// directory 0700, the file 0600, fsynced) when it does not exist. Shared by
// the generated secret and a replica's id.
absl::StatusOr<std::string> LoadOrCreateRandomFile(const std::string& path,
                                                   std::size_t random_bytes);

}  // namespace paradym::webhooks

#endif  // PARADYM_WEBHOOKS_SERVER_CORE_ENDPOINT_SECRETS_H_
