#include "tests/testing/server_process.h"

#include <fcntl.h>
#include <linux/capability.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "tests/testing/test_data.h"

extern char** environ;

namespace paradym::webhooks::testing {
namespace {

constexpr int kReadyFd = 3;

absl::Status Errno(absl::string_view what) {
  return absl::InternalError(absl::StrCat(what, ": ", std::strerror(errno)));
}

std::vector<std::string> ChildEnvironment(const Env& extra) {
  std::vector<std::string> env;
  for (char** entry = environ; *entry != nullptr; ++entry) {
    const absl::string_view var = *entry;
    if (absl::StartsWith(var, "PARADYM_WEBHOOK_SECRET=")) continue;
    bool overridden = false;
    for (const auto& [key, value] : extra) {
      if (absl::StartsWith(var, absl::StrCat(key, "="))) overridden = true;
    }
    if (!overridden) env.emplace_back(var);
  }
  for (const auto& [key, value] : extra) env.push_back(key + "=" + value);
  return env;
}

int RemainingMillis(absl::Time deadline) {
  const absl::Duration left = deadline - absl::Now();
  if (left <= absl::ZeroDuration()) return 0;
  return static_cast<int>(absl::ToInt64Milliseconds(left)) + 1;
}

}  // namespace

std::string MakeTempDir() {
  const char* base = std::getenv("TEST_TMPDIR");
  std::string pattern =
      absl::StrCat(base != nullptr && *base ? base : "/tmp", "/pwh-XXXXXX");
  if (::mkdtemp(pattern.data()) == nullptr) {
    ADD_FAILURE() << "mkdtemp failed: " << std::strerror(errno);
  }
  return pattern;
}

void WriteFileWithMode(const std::string& path, absl::string_view contents,
                       int mode) {
  const int fd =
      ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  ASSERT_GE(fd, 0) << "cannot create " << path << ": " << std::strerror(errno);
  const bool written = ::write(fd, contents.data(), contents.size()) ==
                           static_cast<ssize_t>(contents.size()) &&
                       ::fchmod(fd, static_cast<mode_t>(mode)) == 0;
  ::close(fd);
  ASSERT_TRUE(written) << "cannot write " << path;
}

absl::StatusOr<std::unique_ptr<ChildProcess>> ChildProcess::Start(
    Options options) {
  std::unique_ptr<ChildProcess> child(new ChildProcess());
  const std::string dir = MakeTempDir();
  child->stderr_path_ = dir + "/stderr";
  const std::string stdin_path = dir + "/stdin";
  {
    std::ofstream in(stdin_path, std::ios::binary);
    in << options.stdin_data;
  }
  int ready[2] = {-1, -1};
  int out[2] = {-1, -1};
  if (options.ready_fd && ::pipe2(ready, O_CLOEXEC) != 0) return Errno("pipe");
  if (::pipe2(out, O_CLOEXEC) != 0) return Errno("pipe");
  const int err_fd =
      ::open(child->stderr_path_.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
  const int in_fd = ::open(stdin_path.c_str(), O_RDONLY | O_CLOEXEC);
  if (err_fd < 0 || in_fd < 0) return Errno("open");

  std::vector<std::string> argv_strings = {options.binary};
  for (auto& arg : options.args) argv_strings.push_back(arg);
  if (options.ready_fd) {
    argv_strings.push_back(absl::StrCat("--ready_fd=", kReadyFd));
  }
  std::vector<char*> argv;
  for (auto& arg : argv_strings) argv.push_back(arg.data());
  argv.push_back(nullptr);
  std::vector<std::string> env_strings = ChildEnvironment(options.env);
  std::vector<char*> envp;
  for (auto& var : env_strings) envp.push_back(var.data());
  envp.push_back(nullptr);

  const pid_t pid = ::fork();
  if (pid < 0) return Errno("fork");
  if (pid == 0) {
    // Child: only async-signal-safe calls until exec.
    ::dup2(in_fd, 0);
    ::dup2(out[1], 1);
    ::dup2(err_fd, 2);
    if (options.ready_fd) ::dup2(ready[1], kReadyFd);
    if (options.max_file_bytes > 0) {
      // Only the soft limit, so that a test can lift it again without
      // CAP_SYS_RESOURCE.
      rlimit limit{};
      ::getrlimit(RLIMIT_FSIZE, &limit);
      limit.rlim_cur = options.max_file_bytes;
      if (::setrlimit(RLIMIT_FSIZE, &limit) != 0) ::_exit(126);
    }
    if (options.max_open_files > 0) {
      rlimit limit{options.max_open_files, options.max_open_files};
      if (::setrlimit(RLIMIT_NOFILE, &limit) != 0) ::_exit(126);
    }
    if (options.honor_file_permissions && ::geteuid() == 0) {
      // Root keeps only what it gets through exec from the bounding set.
      for (int capability :
           {CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER}) {
        if (::prctl(PR_CAPBSET_DROP, capability, 0, 0, 0) != 0) ::_exit(126);
      }
    }
    ::execve(argv[0], argv.data(), envp.data());
    ::_exit(127);
  }
  child->pid_ = pid;
  child->pidfd_ = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  ::close(in_fd);
  ::close(err_fd);
  ::close(out[1]);
  child->stdout_read_ = out[0];
  if (options.ready_fd) {
    ::close(ready[1]);
    child->ready_read_ = ready[0];
  }
  return child;
}

ChildProcess::~ChildProcess() {
  if (pid_ > 0 && !exited_) {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
  for (int fd : {pidfd_, ready_read_, stdout_read_}) {
    if (fd >= 0) ::close(fd);
  }
}

std::string ChildProcess::grpc_address() const {
  return absl::StrCat("127.0.0.1:", grpc_port_);
}

absl::StatusOr<std::string> ChildProcess::ReadLineFrom(int fd,
                                                       std::string& buffer,
                                                       absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  for (;;) {
    if (const std::size_t nl = buffer.find('\n'); nl != std::string::npos) {
      std::string line = buffer.substr(0, nl);
      buffer.erase(0, nl + 1);
      return line;
    }
    pollfd p{fd, POLLIN, 0};
    const int ready = ::poll(&p, 1, RemainingMillis(deadline));
    if (ready < 0 && errno == EINTR) continue;
    if (ready < 0) return Errno("poll");
    if (ready == 0) {
      return absl::DeadlineExceededError(
          absl::StrCat("no line within ", absl::FormatDuration(timeout)));
    }
    char chunk[65536];
    const ssize_t n = ::read(fd, chunk, sizeof chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Errno("read");
    if (n == 0) {
      if (buffer.empty()) return absl::NotFoundError("end of output");
      std::string line;
      line.swap(buffer);
      return line;
    }
    buffer.append(chunk, static_cast<std::size_t>(n));
  }
}

absl::StatusOr<std::string> ChildProcess::ReadReadyLine(
    absl::Duration timeout) {
  if (ready_read_ < 0) return absl::FailedPreconditionError("no ready fd");
  return ReadLineFrom(ready_read_, ready_buffer_, timeout);
}

absl::StatusOr<std::string> ChildProcess::ReadStdoutLine(
    absl::Duration timeout) {
  return ReadLineFrom(stdout_read_, stdout_buffer_, timeout);
}

absl::StatusOr<std::string> ChildProcess::ReadStdoutToEnd(
    absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  std::string all;
  for (;;) {
    absl::StatusOr<std::string> line =
        ReadLineFrom(stdout_read_, stdout_buffer_, deadline - absl::Now());
    if (absl::IsNotFound(line.status())) return all;
    if (!line.ok()) return line.status();
    absl::StrAppend(&all, *line, "\n");
  }
}

absl::StatusOr<int> ChildProcess::Wait(absl::Duration timeout) {
  if (exited_) return exit_code_;
  const absl::Time deadline = absl::Now() + timeout;
  for (;;) {
    int status = 0;
    const pid_t done = ::waitpid(pid_, &status, WNOHANG);
    if (done == pid_) {
      exited_ = true;
      exit_code_ =
          WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      return exit_code_;
    }
    if (done < 0) return Errno("waitpid");
    if (absl::Now() >= deadline) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
      exited_ = true;
      return absl::DeadlineExceededError(
          absl::StrCat("pid ", pid_, " did not exit within ",
                       absl::FormatDuration(timeout)));
    }
    // The pidfd becomes readable when the process exits.
    pollfd p{pidfd_, POLLIN, 0};
    if (pidfd_ >= 0) {
      ::poll(&p, 1, RemainingMillis(deadline));
    } else {
      ::usleep(10000);
    }
  }
}

absl::StatusOr<int> ChildProcess::Stop(int signal, absl::Duration timeout) {
  if (!exited_) ::kill(pid_, signal);
  return Wait(timeout);
}

std::string ChildProcess::Stderr() const {
  std::ifstream in(stderr_path_, std::ios::binary);
  std::ostringstream contents;
  contents << in.rdbuf();
  return contents.str();
}

absl::StatusOr<std::unique_ptr<ChildProcess>> StartServer(
    std::vector<std::string> args, Env env) {
  return StartServer(std::move(args), std::move(env), {});
}

ChildProcess::Options ServerOptions(std::vector<std::string> args, Env env) {
  ChildProcess::Options options;
  options.binary = PathFromEnv("PARADYM_WEBHOOKSD");
  options.args = std::move(args);
  options.env = std::move(env);
  return options;
}

absl::StatusOr<std::unique_ptr<ChildProcess>> StartServer(
    std::vector<std::string> args, Env env, ChildProcess::Options limits) {
  auto has = [&](absl::string_view flag) {
    for (const auto& arg : args) {
      if (absl::StartsWith(arg, flag)) return true;
    }
    return false;
  };
  if (!has("--data_dir"))
    args.push_back("--data_dir=" + MakeTempDir() + "/data");
  if (!has("--grpc_address")) args.push_back("--grpc_address=127.0.0.1:0");
  if (!has("--http_address")) args.push_back("--http_address=127.0.0.1:0");
  // The signed fixtures were published on 2024-06-12: the age check is off
  // unless a test asks for it.
  if (!has("--max_event_age")) args.push_back("--max_event_age=inf");
  ChildProcess::Options options = std::move(limits);
  options.binary = PathFromEnv("PARADYM_WEBHOOKSD");
  options.args = std::move(args);
  options.env = std::move(env);
  options.ready_fd = true;
  absl::StatusOr<std::unique_ptr<ChildProcess>> child =
      ChildProcess::Start(std::move(options));
  if (!child.ok()) return child.status();
  absl::StatusOr<std::string> line = (*child)->ReadReadyLine(absl::Seconds(60));
  if (!line.ok()) {
    return absl::UnavailableError(absl::StrCat(
        "the server did not become ready (", line.status().message(),
        "); its stderr:\n", (*child)->Stderr()));
  }
  // The line is {"grpc_port":N,"http_port":M[,"metrics_port":K]}.
  auto port_after = [&](absl::string_view key, int* port) {
    const std::size_t at = line->find(absl::StrCat("\"", key, "\":"));
    if (at == std::string::npos) return false;
    const std::size_t start = at + key.size() + 3;
    const std::size_t end = line->find_first_of(",}", start);
    return end != std::string::npos &&
           absl::SimpleAtoi(line->substr(start, end - start), port);
  };
  if (!port_after("grpc_port", &(*child)->grpc_port_) ||
      !port_after("http_port", &(*child)->http_port_)) {
    return absl::InternalError(absl::StrCat("bad ready line: ", *line));
  }
  // Only with --metrics_address.
  port_after("metrics_port", &(*child)->metrics_port_);
  return child;
}

absl::StatusOr<CommandResult> RunCommand(const std::string& binary,
                                         const std::vector<std::string>& args,
                                         const Env& env,
                                         const std::string& stdin_data,
                                         absl::Duration timeout) {
  absl::StatusOr<std::unique_ptr<ChildProcess>> child =
      ChildProcess::Start({binary, args, env, false, stdin_data});
  if (!child.ok()) return child.status();
  const absl::Time deadline = absl::Now() + timeout;
  CommandResult result;
  absl::StatusOr<std::string> out = (*child)->ReadStdoutToEnd(timeout);
  if (!out.ok()) return out.status();
  result.out = std::move(out).value();
  absl::StatusOr<int> code = (*child)->Wait(deadline - absl::Now());
  if (!code.ok()) return code.status();
  result.exit_code = *code;
  result.err = (*child)->Stderr();
  return result;
}

}  // namespace paradym::webhooks::testing
