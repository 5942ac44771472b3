#include "client/resumable_output.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <utility>

#include "absl/strings/str_cat.h"
#include "client/event_output.h"
#include "client/input_files.h"

namespace paradym::webhooks::cli {

absl::StatusOr<ResumableOutput> ResumableOutput::Open(const std::string& path) {
  ResumableOutput output;
  if (path.empty()) return output;
  output.fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (output.fd_ < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot open --output ", path));
  }
  const std::string existing = ReadFile(path).value_or("");
  const std::size_t complete = existing.rfind('\n') + 1;  // npos + 1 == 0
  if (complete != existing.size() &&
      ::ftruncate(output.fd_, static_cast<off_t>(complete)) != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot repair --output ", path));
  }
  output.resume_after_ = LastSequenceInJsonLines(existing);
  ::lseek(output.fd_, 0, SEEK_END);
  return output;
}

ResumableOutput::ResumableOutput(ResumableOutput&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)), resume_after_(other.resume_after_) {}

ResumableOutput::~ResumableOutput() {
  if (fd_ >= 0) ::close(fd_);
}

bool ResumableOutput::Write(const std::string& text) {
  if (fd_ < 0) {
    std::fwrite(text.data(), 1, text.size(), stdout);
    return std::fflush(stdout) == 0;
  }
  std::size_t written = 0;
  while (written < text.size()) {
    const ssize_t n =
        ::write(fd_, text.data() + written, text.size() - written);
    if (n <= 0) return false;
    written += static_cast<std::size_t>(n);
  }
  return ::fdatasync(fd_) == 0;
}

}  // namespace paradym::webhooks::cli
