// Reading files that hold secrets (webhook secrets, access tokens).
//
// A secret file that group or others may read has leaked to every account
// on the machine; it is refused rather than used, with a message that says
// how to fix it.
//
//   absl::StatusOr<std::string> contents = ReadPrivateFile("/etc/pw/tokens");

#ifndef PARADYM_WEBHOOKS_SERVER_CORE_PRIVATE_FILE_H_
#define PARADYM_WEBHOOKS_SERVER_CORE_PRIVATE_FILE_H_

#include <cstddef>
#include <string>

#include "absl/status/statusor.h"

namespace paradym::webhooks {

// The largest private file read, in bytes.
inline constexpr std::size_t kMaxPrivateFileBytes = std::size_t{1} << 20;

// The contents of the regular file at `path`. FAILED_PRECONDITION when it
// cannot be read, is not a regular file, is larger than
// kMaxPrivateFileBytes, or its mode grants group or others any access.
// Messages name the path and the mode, never the contents.
absl::StatusOr<std::string> ReadPrivateFile(const std::string& path);

}  // namespace paradym::webhooks

#endif  // PARADYM_WEBHOOKS_SERVER_CORE_PRIVATE_FILE_H_
