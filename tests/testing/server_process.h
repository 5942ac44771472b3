// Real binaries as child processes, for integration tests.
//
// A server reports its ports through --ready_fd, so tests never use a fixed
// port or sleep until it listens:
//
//   absl::StatusOr<std::unique_ptr<ChildProcess>> server = StartServer(
//       {"--grpc_address=127.0.0.1:0"}, {{"PARADYM_WEBHOOK_SECRET", "s"}});
//   ASSERT_THAT(server, IsOk());
//   (*server)->grpc_address();  // "127.0.0.1:41234"
//   absl::StatusOr<int> exit_code = (*server)->Stop(SIGTERM,
//   absl::Seconds(10));
//
// A command is run to completion, or streamed line by line:
//
//   absl::StatusOr<CommandResult> result = RunCommand(cli, {"sign"}, env,
//   body);

#ifndef PARADYM_WEBHOOKS_TESTS_TESTING_SERVER_PROCESS_H_
#define PARADYM_WEBHOOKS_TESTS_TESTING_SERVER_PROCESS_H_

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace paradym::webhooks::testing {

using Env = std::vector<std::pair<std::string, std::string>>;

class ChildProcess {
 public:
  struct Options {
    std::string binary;
    std::vector<std::string> args;
    // Added to our environment, from which PARADYM_WEBHOOK_SECRET is removed.
    Env env;
    // Pass --ready_fd=3 and keep the read end (see ReadReadyLine).
    bool ready_fd = false;
    // Written to the child's stdin, which is then closed.
    std::string stdin_data;
    // The largest file the child may write (RLIMIT_FSIZE), like a full
    // disk; 0: no limit.
    std::uint64_t max_file_bytes = 0;
    // The most files the child may open (RLIMIT_NOFILE, soft and hard); 0:
    // as ours.
    std::uint64_t max_open_files = 0;
    // Run the child without the capabilities that let root ignore file
    // permissions, so that a read-only directory is read-only to it too.
    bool honor_file_permissions = false;
  };

  static absl::StatusOr<std::unique_ptr<ChildProcess>> Start(Options options);

  ~ChildProcess();  // SIGKILL if still running

  // The line the child wrote to its ready fd, waiting at most `timeout`.
  absl::StatusOr<std::string> ReadReadyLine(absl::Duration timeout);

  // The next line of the child's stdout (without '\n'), waiting at most
  // `timeout`. NOT_FOUND at end of output.
  absl::StatusOr<std::string> ReadStdoutLine(absl::Duration timeout);

  // Everything left on stdout until the child closes it.
  absl::StatusOr<std::string> ReadStdoutToEnd(absl::Duration timeout);

  // Sends `signal`, then Wait(timeout).
  absl::StatusOr<int> Stop(int signal, absl::Duration timeout);

  // Waits at most `timeout` for the exit. Returns the exit code, or 128 + the
  // signal number; DEADLINE_EXCEEDED (after a SIGKILL) when it did not exit.
  absl::StatusOr<int> Wait(absl::Duration timeout);

  // What the child wrote to stderr so far.
  std::string Stderr() const;

  pid_t pid() const { return pid_; }

  // Set by StartServer.
  int grpc_port() const { return grpc_port_; }
  std::string grpc_address() const;
  int http_port() const { return http_port_; }
  int metrics_port() const { return metrics_port_; }  // 0: none

 private:
  friend absl::StatusOr<std::unique_ptr<ChildProcess>> StartServer(
      std::vector<std::string>, Env, ChildProcess::Options);
  ChildProcess() = default;

  absl::StatusOr<std::string> ReadLineFrom(int fd, std::string& buffer,
                                           absl::Duration timeout);

  pid_t pid_ = -1;
  int pidfd_ = -1;
  bool exited_ = false;
  int exit_code_ = -1;
  int ready_read_ = -1;
  int stdout_read_ = -1;
  std::string ready_buffer_;
  std::string stdout_buffer_;
  std::string stderr_path_;
  int grpc_port_ = 0;
  int http_port_ = 0;
  int metrics_port_ = 0;
};

// Starts paradym-webhooksd (env PARADYM_WEBHOOKSD) with `args` and waits for
// it to listen. Adds --data_dir in a fresh temporary directory unless `args`
// has one, --grpc_address / --http_address on 127.0.0.1 port 0 and
// --max_event_age=inf (the fixtures are old) unless `args` has them.
absl::StatusOr<std::unique_ptr<ChildProcess>> StartServer(
    std::vector<std::string> args, Env env);
// The same, with the limits of `limits` (its binary, args, env and ready_fd
// are ignored).
absl::StatusOr<std::unique_ptr<ChildProcess>> StartServer(
    std::vector<std::string> args, Env env, ChildProcess::Options limits);

// ChildProcess::Options to run paradym-webhooksd (env PARADYM_WEBHOOKSD)
// with `args` as they are, for a server expected not to start.
ChildProcess::Options ServerOptions(std::vector<std::string> args, Env env);

struct CommandResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

// Runs `binary` to completion (at most `timeout`).
absl::StatusOr<CommandResult> RunCommand(
    const std::string& binary, const std::vector<std::string>& args,
    const Env& env = {}, const std::string& stdin_data = "",
    absl::Duration timeout = absl::Seconds(60));

// A fresh directory under $TEST_TMPDIR or /tmp.
std::string MakeTempDir();

// Writes `contents` to a new file at `path` with `mode` (0600: as the server
// wants files that hold secrets). Fails the test when it cannot.
void WriteFileWithMode(const std::string& path, absl::string_view contents,
                       int mode = 0600);

}  // namespace paradym::webhooks::testing

#endif  // PARADYM_WEBHOOKS_TESTS_TESTING_SERVER_PROCESS_H_
