#include "server/core/endpoint_secrets.h"

#include <fcntl.h>
#include <openssl/rand.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "server/core/errors.h"
#include "server/core/private_file.h"
#include "server/core/status_macros.h"

namespace paradym::webhooks {
namespace {

absl::Status LineError(int line, absl::string_view problem) {
  return MakeError(absl::StatusCode::kInvalidArgument, kInvalidConfig,
                   absl::StrCat("secrets file line ", line, ": ", problem));
}

absl::Status ValidateSecret(absl::string_view secret, int line) {
  if (secret.empty()) return LineError(line, "the secret is empty");
  if (secret.size() > kMaxSecretBytes) {
    return LineError(line, absl::StrCat("the secret is longer than ",
                                        kMaxSecretBytes, " bytes"));
  }
  return absl::OkStatus();
}

std::string ErrnoText(int error) { return std::strerror(error); }

// Creates every missing directory of `dir` with mode 0700.
absl::Status MakeDirectories(const std::string& dir) {
  std::string prefix;
  for (absl::string_view part : absl::StrSplit(dir, '/')) {
    prefix.append(part.data(), part.size());
    if (!prefix.empty() && prefix != "." &&
        ::mkdir(prefix.c_str(), 0700) != 0 && errno != EEXIST) {
      return MakeError(absl::StatusCode::kFailedPrecondition, kInvalidConfig,
                       absl::StrCat("cannot create directory ", prefix, ": ",
                                    ErrnoText(errno)));
    }
    prefix += '/';
  }
  return absl::OkStatus();
}

}  // namespace

bool IsValidEndpointName(absl::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  // "." and ".." would be rewritten as URL path segments.
  if (name.find_first_not_of('.') == absl::string_view::npos) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '.' ||
           c == '_' || c == '-';
  });
}

void AddSecret(std::vector<EndpointSecrets>& endpoints, absl::string_view name,
               std::string secret) {
  auto it =
      std::find_if(endpoints.begin(), endpoints.end(),
                   [&](const EndpointSecrets& e) { return e.name == name; });
  if (it == endpoints.end()) {
    endpoints.push_back({std::string(name), {}});
    it = std::prev(endpoints.end());
  }
  if (std::find(it->secrets.begin(), it->secrets.end(), secret) ==
      it->secrets.end()) {
    it->secrets.push_back(std::move(secret));
  }
}

absl::StatusOr<std::vector<EndpointSecrets>> ParseSecretsFile(
    absl::string_view contents) {
  std::vector<EndpointSecrets> endpoints;
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(contents, '\n')) {
    ++line_number;
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || line.front() == '#') continue;
    const std::size_t equals = line.find('=');
    if (equals == absl::string_view::npos) {
      return LineError(line_number, "expected name=secret");
    }
    const absl::string_view name =
        absl::StripAsciiWhitespace(line.substr(0, equals));
    const absl::string_view secret =
        absl::StripAsciiWhitespace(line.substr(equals + 1));
    if (!IsValidEndpointName(name)) {
      return LineError(line_number,
                       "the endpoint name must be 1 to 64 characters of "
                       "A-Z a-z 0-9 . _ -");
    }
    RETURN_IF_ERROR(ValidateSecret(secret, line_number));
    AddSecret(endpoints, name, std::string(secret));
  }
  if (endpoints.empty()) {
    return MakeError(
        absl::StatusCode::kInvalidArgument, kInvalidConfig,
        "the secrets file configures no endpoint (expected name=secret lines)");
  }
  return endpoints;
}

absl::StatusOr<std::vector<EndpointSecrets>> ReadSecretsFile(
    const std::string& path) {
  ASSIGN_OR_RETURN(const std::string contents, ReadPrivateFile(path));
  absl::StatusOr<std::vector<EndpointSecrets>> endpoints =
      ParseSecretsFile(contents);
  if (!endpoints.ok()) {
    return MakeError(endpoints.status().code(), kInvalidConfig,
                     absl::StrCat(path, ": ", endpoints.status().message()));
  }
  return endpoints;
}

absl::StatusOr<std::string> LoadOrCreateRandomFile(const std::string& path,
                                                   std::size_t random_bytes) {
  if (std::ifstream in(path, std::ios::binary); in) {
    std::string line;
    std::getline(in, line);
    return std::string(absl::StripAsciiWhitespace(line));
  }
  if (const std::size_t slash = path.rfind('/'); slash != std::string::npos) {
    RETURN_IF_ERROR(MakeDirectories(path.substr(0, slash)));
  }
  std::string random(random_bytes, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(random.data()),
                 static_cast<int>(random.size())) != 1) {
    return MakeError(absl::StatusCode::kInternal, kInternalError,
                     "the crypto library gave no random bytes");
  }
  const std::string value = absl::BytesToHexString(random);
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0600);
  if (fd < 0) {
    return MakeError(
        absl::StatusCode::kFailedPrecondition, kInvalidConfig,
        absl::StrCat("cannot create ", path, ": ", ErrnoText(errno)));
  }
  const std::string line = value + "\n";
  const bool written = ::write(fd, line.data(), line.size()) ==
                           static_cast<ssize_t>(line.size()) &&
                       ::fsync(fd) == 0;
  const int error = errno;
  ::close(fd);
  if (!written) {
    return MakeError(
        absl::StatusCode::kFailedPrecondition, kInvalidConfig,
        absl::StrCat("cannot write ", path, ": ", ErrnoText(error)));
  }
  return value;
}

absl::StatusOr<std::string> LoadOrCreateSecretFile(const std::string& path) {
  ASSIGN_OR_RETURN(std::string secret, LoadOrCreateRandomFile(path, 32));
  if (absl::Status status = ValidateSecret(secret, 1); !status.ok()) {
    return MakeError(absl::StatusCode::kFailedPrecondition, kInvalidConfig,
                     absl::StrCat(path, ": ", status.message()));
  }
  return secret;
}

}  // namespace paradym::webhooks
