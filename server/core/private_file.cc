#include "server/core/private_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "server/core/errors.h"

namespace paradym::webhooks {

absl::StatusOr<std::string> ReadPrivateFile(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) {
    return MakeError(
        absl::StatusCode::kFailedPrecondition, kInvalidConfig,
        absl::StrCat("cannot read ", path, ": ", std::strerror(errno)));
  }
  struct stat st;
  absl::Status status;
  if (::fstat(fd, &st) != 0) {
    status = MakeError(
        absl::StatusCode::kFailedPrecondition, kInvalidConfig,
        absl::StrCat("cannot read ", path, ": ", std::strerror(errno)));
  } else if (!S_ISREG(st.st_mode)) {
    status = MakeError(absl::StatusCode::kFailedPrecondition, kInvalidConfig,
                       absl::StrCat(path, " is not a regular file"));
  } else if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
    status = MakeError(
        absl::StatusCode::kFailedPrecondition, kInvalidConfig,
        absl::StrFormat(
            "%s holds secrets but group or others may access it (mode %04o); "
            "run: chmod 600 %s",
            path, st.st_mode & 07777, path));
  } else if (static_cast<std::size_t>(st.st_size) > kMaxPrivateFileBytes) {
    status = MakeError(
        absl::StatusCode::kFailedPrecondition, kInvalidConfig,
        absl::StrCat(path, " is larger than ", kMaxPrivateFileBytes, " bytes"));
  }
  std::string contents;
  if (status.ok()) {
    contents.resize(static_cast<std::size_t>(st.st_size));
    std::size_t done = 0;
    while (done < contents.size()) {
      const ssize_t n =
          ::read(fd, contents.data() + done, contents.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        status = MakeError(
            absl::StatusCode::kFailedPrecondition, kInvalidConfig,
            absl::StrCat("cannot read ", path, ": ", std::strerror(errno)));
        break;
      }
      if (n == 0) break;  // shrank while reading
      done += static_cast<std::size_t>(n);
    }
    contents.resize(done);
  }
  ::close(fd);
  if (!status.ok()) return status;
  return contents;
}

}  // namespace paradym::webhooks
