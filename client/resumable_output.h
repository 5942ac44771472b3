// Where `subscribe` prints events: stdout, or a file of JSON lines that is
// appended to and fsynced after every batch, so that a later run resumes
// after the last event in it.
//
//   absl::StatusOr<ResumableOutput> output = ResumableOutput::Open(path);
//   output->resume_after();  // the last sequence already in the file
//   if (!output->Write(text)) ...  // the reader went away
//
// Thread-compatible: one thread writes it.

#ifndef PARADYM_WEBHOOKS_CLIENT_RESUMABLE_OUTPUT_H_
#define PARADYM_WEBHOOKS_CLIENT_RESUMABLE_OUTPUT_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/statusor.h"

namespace paradym::webhooks::cli {

class ResumableOutput {
 public:
  // Opens `path` (empty: stdout). A torn last line from a crash is cut off.
  // INVALID_ARGUMENT when the file cannot be opened or repaired.
  static absl::StatusOr<ResumableOutput> Open(const std::string& path);

  ResumableOutput(ResumableOutput&& other) noexcept;
  ResumableOutput& operator=(ResumableOutput&&) = delete;
  ~ResumableOutput();

  // Whether events go to a file rather than stdout.
  bool is_file() const { return fd_ >= 0; }

  // The last sequence already in the file.
  std::optional<std::uint64_t> resume_after() const { return resume_after_; }

  // Writes `text` and makes it durable; false when the reader went away or
  // the write failed.
  bool Write(const std::string& text);

 private:
  ResumableOutput() = default;

  int fd_ = -1;
  std::optional<std::uint64_t> resume_after_;
};

}  // namespace paradym::webhooks::cli

#endif  // PARADYM_WEBHOOKS_CLIENT_RESUMABLE_OUTPUT_H_
