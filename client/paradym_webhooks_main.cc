// paradym-webhooks: the command-line client of paradym-webhooksd.
//
//   paradym-webhooks subscribe [filters] [--from-start | --after=N]
//   paradym-webhooks list [filters] [--after=N] [--limit=N]
//   paradym-webhooks send [EVENT_TYPE...] [--all] [--set path=value]...
//   paradym-webhooks verify --signature=HEX [FILE]
//   paradym-webhooks sign [FILE]
//
// Exit codes: 0 success; 1 refused (by the server, a non-200, an invalid
// signature or body); 2 usage error; 3 the server cannot be reached.

#include <fcntl.h>
#include <grpcpp/grpcpp.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "client/command_line.h"
#include "client/event_output.h"
#include "client/sample_events.h"
#include "client/webhook_post.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "paradym/webhooks/v1/webhook_service.grpc.pb.h"
#include "server/core/errors.h"
#include "server/core/event_normalizer.h"
#include "server/core/signature_verifier.h"

namespace paradym::webhooks::cli {
namespace {

namespace v1 = ::paradym::webhooks::v1;

constexpr int kExitOk = 0;
constexpr int kExitRefused = 1;
constexpr int kExitUsage = 2;
constexpr int kExitUnreachable = 3;

constexpr char kUsage[] =
    "paradym-webhooks: the client of paradym-webhooksd\n"
    "\n"
    "Commands:\n"
    "  subscribe  stream events as they are accepted; reconnects and resumes\n"
    "  list       page through the stored events\n"
    "  send       sign and POST sample webhooks (or a body) to the HTTP front\n"
    "  verify     check a saved body and signature offline\n"
    "  sign       print the X-Paradym-HMAC-SHA-256 signature of a body\n"
    "\n"
    "Run `paradym-webhooks COMMAND --help` for a command's flags.\n"
    "Secrets come from env PARADYM_WEBHOOK_SECRET or --secret-file=PATH, "
    "never a flag value.\n"
    "Exit codes: 0 success; 1 refused (by the server, a non-200, an invalid\n"
    "signature or body); 2 usage error; 3 the server cannot be reached.\n";

constexpr char kConnectionFlags[] =
    "  --address=HOST:PORT           the gRPC service (default "
    "127.0.0.1:50051)\n"
    "  --tls                         connect with TLS (system roots)\n"
    "  --ca-file=PATH                connect with TLS, trusting this CA "
    "(PEM)\n"
    "  --cert-file=PATH              a client certificate (PEM) for mutual "
    "TLS,\n"
    "  --key-file=PATH               with its private key; implies --tls\n"
    "  --token-file=PATH             send its first line as `authorization: "
    "Bearer ...`\n";

constexpr char kFilterFlags[] =
    "  --event-type=TYPE             only this eventType; a trailing * matches "
    "a\n"
    "                                prefix (openid4vc.*); repeatable\n"
    "  --project-id=ID               only this project; repeatable\n"
    "  --workflow-id=ID              only this workflow; repeatable\n"
    "  --workflow-execution-id=ID    only this execution; repeatable\n";

constexpr char kSubscribeUsage[] =
    "paradym-webhooks subscribe [flags]\n"
    "\n"
    "Streams accepted events, one JSON object a line (the proto3 JSON form of\n"
    "paradym.webhooks.v1.Event) or a table. When the stream drops (server\n"
    "restart, network cut, too slow), it reconnects with backoff and resumes\n"
    "after the last sequence it printed, so a pipe never misses or repeats an\n"
    "event. Stops at Ctrl-C, or when its output is closed.\n"
    "\n"
    "  --from-start                  first every event the server still holds\n"
    "  --after=N                     first every event after sequence N\n"
    "  --format=json|table           output (default json)\n"
    "  --output=FILE                 append JSON lines to FILE (fsynced); when "
    "FILE\n"
    "                                already has events, resume after its "
    "last\n"
    "  --no-reconnect                end (exit 1) when the stream ends\n";

constexpr char kListUsage[] =
    "paradym-webhooks list [flags]\n"
    "\n"
    "Pages through the stored events, oldest first (ListEvents).\n"
    "\n"
    "  --after=N                     only events after sequence N\n"
    "  --limit=N                     at most N events (default: all)\n"
    "  --page-size=N                 events per ListEvents call (default 500)\n"
    "  --format=json|table           output (default json)\n";

constexpr char kSendUsage[] =
    "paradym-webhooks send [EVENT_TYPE...] [flags]\n"
    "\n"
    "Signs and POSTs realistic webhooks the way Paradym does, and prints the\n"
    "HTTP status and the sequence of each. Exit 1 if any answer is not 200.\n"
    "\n"
    "  --all                         one of every event type below\n"
    "  --url=URL                     the HTTP front (default "
    "http://127.0.0.1:8080/webhook)\n"
    "  --set=PATH=VALUE              set a field of the body, like\n"
    "                                payload.error.code=expired (VALUE is "
    "JSON if\n"
    "                                it parses as JSON, else a string); "
    "repeatable\n"
    "  --body=FILE                   send this body instead of a sample\n"
    "  --secret-file=PATH            the secret (else env "
    "PARADYM_WEBHOOK_SECRET)\n"
    "\n"
    "Event types: ";

constexpr char kVerifyUsage[] =
    "paradym-webhooks verify --signature=HEX [FILE]\n"
    "\n"
    "Checks a saved webhook body (FILE or stdin) and its\n"
    "X-Paradym-HMAC-SHA-256 signature offline against the secret, then\n"
    "whether the server would accept the body. Exit 0 when both hold, 1 with\n"
    "the reason otherwise.\n"
    "\n"
    "  --signature=HEX               the header value\n"
    "  --secret-file=PATH            the secret (else env "
    "PARADYM_WEBHOOK_SECRET)\n";

constexpr char kSignUsage[] =
    "paradym-webhooks sign [FILE]\n"
    "\n"
    "Prints the hex HMAC-SHA256 signature Paradym would send in\n"
    "X-Paradym-HMAC-SHA-256 for the body in FILE (or stdin).\n"
    "The secret comes from env PARADYM_WEBHOOK_SECRET or --secret-file=PATH\n"
    "(its first line), never from a flag value.\n";

int UsageError(absl::string_view command, absl::string_view message,
               absl::string_view usage) {
  std::fprintf(stderr, "paradym-webhooks %s: %s\n\n%s",
               std::string(command).c_str(), std::string(message).c_str(),
               std::string(usage).c_str());
  return kExitUsage;
}

// "CODE (REASON): message" from a gRPC status and its ErrorInfo detail.
std::string DescribeStatus(const grpc::Status& status) {
  std::string reason;
  google::rpc::Status details;
  if (details.ParseFromString(status.error_details())) {
    for (const auto& any : details.details()) {
      google::rpc::ErrorInfo info;
      if (any.UnpackTo(&info)) reason = info.reason();
    }
  }
  // absl::StatusCode and grpc::StatusCode share their numbering and names.
  std::string text = absl::StatusCodeToString(
      static_cast<absl::StatusCode>(status.error_code()));
  if (!reason.empty()) absl::StrAppend(&text, " (", reason, ")");
  absl::StrAppend(&text, ": ", status.error_message());
  return text;
}

std::optional<std::string> ReadFirstLine(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  if (!in || !std::getline(in, line)) return std::nullopt;
  return std::string(absl::StripAsciiWhitespace(line));
}

std::optional<std::string> ReadSecret(const CommandLine& line) {
  if (auto path = line.Value("secret-file")) return ReadFirstLine(*path);
  if (const char* env = std::getenv("PARADYM_WEBHOOK_SECRET");
      env != nullptr && *env != '\0') {
    return std::string(env);
  }
  return std::nullopt;
}

// The body in the command's FILE argument, or stdin.
std::optional<std::string> ReadBody(const CommandLine& line) {
  if (line.arguments().empty()) {
    return std::string(std::istreambuf_iterator<char>(std::cin),
                       std::istreambuf_iterator<char>());
  }
  std::ifstream in(line.arguments()[0], std::ios::binary);
  if (!in) return std::nullopt;
  return std::string(std::istreambuf_iterator<char>(in),
                     std::istreambuf_iterator<char>());
}

// How the gRPC commands reach the server: --address, --tls, --ca-file,
// --cert-file, --key-file, --token-file.
class Connection {
 public:
  static const std::vector<std::string>& Flags() {
    static const auto* flags = new std::vector<std::string>{
        "address", "tls", "ca-file", "cert-file", "key-file", "token-file"};
    return *flags;
  }

  // INVALID_ARGUMENT for an unreadable CA or token file.
  static absl::StatusOr<Connection> FromFlags(const CommandLine& line) {
    Connection connection;
    connection.address_ = line.Value("address").value_or("127.0.0.1:50051");
    std::shared_ptr<grpc::ChannelCredentials> credentials;
    grpc::SslCredentialsOptions tls;
    // Reads the file a flag names into `out`; false when it cannot.
    auto read = [&](const char* flag, std::string& out) {
      std::optional<std::string> path = line.Value(flag);
      if (!path) return true;
      std::ifstream in(*path);
      if (!in) return false;
      out.assign(std::istreambuf_iterator<char>(in),
                 std::istreambuf_iterator<char>());
      return true;
    };
    for (const auto& [flag, out] :
         {std::pair<const char*, std::string*>{"ca-file", &tls.pem_root_certs},
          {"cert-file", &tls.pem_cert_chain},
          {"key-file", &tls.pem_private_key}}) {
      if (!read(flag, *out)) {
        return absl::InvalidArgumentError(
            absl::StrCat("cannot read --", flag, " ", *line.Value(flag)));
      }
    }
    if (line.Has("cert-file") != line.Has("key-file")) {
      return absl::InvalidArgumentError(
          "--cert-file and --key-file go together");
    }
    if (line.Has("tls") || line.Has("ca-file") || line.Has("cert-file")) {
      credentials = grpc::SslCredentials(tls);
    } else {
      credentials = grpc::InsecureChannelCredentials();
    }
    if (auto token_file = line.Value("token-file")) {
      std::optional<std::string> token = ReadFirstLine(*token_file);
      if (!token || token->empty()) {
        return absl::InvalidArgumentError(absl::StrCat(
            "cannot read a token from --token-file ", *token_file));
      }
      connection.token_ = std::move(*token);
    }
    connection.credentials_ = std::move(credentials);
    connection.Reset();
    return connection;
  }

  // A new channel: it connects at once, where the old one may still be
  // waiting out gRPC's own reconnect backoff after the server went away.
  void Reset() {
    stub_ = v1::WebhookService::NewStub(
        grpc::CreateChannel(address_, credentials_));
  }

  v1::WebhookService::Stub& stub() { return *stub_; }
  const std::string& address() const { return address_; }

  // Adds the token, if any, to a call.
  void Prepare(grpc::ClientContext& context) const {
    if (!token_.empty()) {
      context.AddMetadata("authorization", absl::StrCat("Bearer ", token_));
    }
  }

 private:
  std::string address_;
  std::string token_;
  std::shared_ptr<grpc::ChannelCredentials> credentials_;
  std::unique_ptr<v1::WebhookService::Stub> stub_;
};

// Fills the four filter fields shared by SubscribeRequest and
// ListEventsRequest.
template <typename Request>
void AddFilters(const CommandLine& line, Request& request) {
  for (const auto& v : line.Values("event-type")) request.add_event_types(v);
  for (const auto& v : line.Values("project-id")) request.add_project_ids(v);
  for (const auto& v : line.Values("workflow-id")) request.add_workflow_ids(v);
  for (const auto& v : line.Values("workflow-execution-id")) {
    request.add_workflow_execution_ids(v);
  }
}

std::vector<std::string> Concat(std::vector<std::string> a,
                                const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

const std::vector<std::string> kFilterFlagNames = {
    "event-type", "project-id", "workflow-id", "workflow-execution-id"};

// Where printed events go: stdout, or a file that is appended to and
// fsynced after every batch so that it can be resumed from.
class Output {
 public:
  // Opens `path` (empty: stdout). A torn last line from a crash is cut off.
  static absl::StatusOr<Output> Open(const std::string& path) {
    Output output;
    if (path.empty()) return output;
    output.fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (output.fd_ < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("cannot open --output ", path));
    }
    std::ifstream in(path, std::ios::binary);
    const std::string existing((std::istreambuf_iterator<char>(in)),
                               std::istreambuf_iterator<char>());
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

  Output(Output&& other) noexcept
      : fd_(std::exchange(other.fd_, -1)), resume_after_(other.resume_after_) {}
  ~Output() {
    if (fd_ >= 0) ::close(fd_);
  }

  // The last sequence already in the file.
  std::optional<std::uint64_t> resume_after() const { return resume_after_; }

  // Writes `text` and makes it durable; false when the reader went away or
  // the write failed.
  bool Write(const std::string& text) {
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

 private:
  Output() = default;
  int fd_ = -1;
  std::optional<std::uint64_t> resume_after_;
};

// Whether a stream that ended with `status` is worth resuming.
bool Retryable(const grpc::Status& status) {
  switch (status.error_code()) {
    case grpc::StatusCode::OK:  // the server ended it; ask again
    case grpc::StatusCode::UNAVAILABLE:
    case grpc::StatusCode::RESOURCE_EXHAUSTED:  // SUBSCRIBER_TOO_SLOW
    case grpc::StatusCode::ABORTED:
    case grpc::StatusCode::DEADLINE_EXCEEDED:
    case grpc::StatusCode::UNKNOWN:  // e.g. a connection reset mid-stream
    // We never cancel a stream we go on reading: this is a server stopping
    // (it cancels new calls while it shuts down).
    case grpc::StatusCode::CANCELLED:
      return true;
    default:
      return false;
  }
}

int Subscribe(const CommandLine& line) {
  if (line.Has("help")) {
    std::printf("%s%s%s", kSubscribeUsage, kFilterFlags, kConnectionFlags);
    return kExitOk;
  }
  if (absl::Status known = line.CheckKnown(
          Concat(Concat(Connection::Flags(), kFilterFlagNames),
                 {"from-start", "after", "format", "output", "no-reconnect"}));
      !known.ok() || !line.arguments().empty()) {
    return UsageError("subscribe",
                      known.ok() ? "takes no arguments" : known.message(),
                      kSubscribeUsage);
  }
  const auto format =
      EventPrinter::ParseFormat(line.Value("format").value_or("json"));
  if (!format) {
    return UsageError("subscribe", "--format must be json or table",
                      kSubscribeUsage);
  }
  const std::string output_path = line.Value("output").value_or("");
  if (!output_path.empty() && *format != EventPrinter::Format::kJson) {
    return UsageError("subscribe",
                      "--output writes JSON lines (it resumes from them)",
                      kSubscribeUsage);
  }
  absl::StatusOr<Connection> connection = Connection::FromFlags(line);
  if (!connection.ok()) {
    return UsageError("subscribe", connection.status().message(),
                      kSubscribeUsage);
  }
  absl::StatusOr<Output> output = Output::Open(output_path);
  if (!output.ok()) {
    return UsageError("subscribe", output.status().message(), kSubscribeUsage);
  }
  v1::SubscribeRequest request;
  AddFilters(line, request);
  // `last`: the last sequence printed; the stream resumes after it.
  std::optional<std::uint64_t> last;
  if (line.Has("from-start")) last = 0;
  if (auto after = line.Value("after")) {
    std::uint64_t sequence = 0;
    if (!absl::SimpleAtoi(*after, &sequence)) {
      return UsageError("subscribe", "--after must be a sequence number",
                        kSubscribeUsage);
    }
    last = sequence;
  }
  if (output->resume_after()) {
    last = output->resume_after();
    std::fprintf(stderr,
                 "paradym-webhooks subscribe: %s holds events up to sequence "
                 "%llu; resuming after it\n",
                 output_path.c_str(), static_cast<unsigned long long>(*last));
  }

  // A large buffer and one write per response keep up with fast streams.
  static char buffer[1 << 20];
  std::setvbuf(stdout, buffer, _IOFBF, sizeof buffer);
  const EventPrinter printer(*format);
  std::string text = printer.Header();
  std::mt19937 jitter{std::random_device{}()};
  int failures = 0;
  for (;;) {
    // Live from now on, but resumable: learn where "now" is first.
    if (!last) {
      grpc::ClientContext context;
      connection->Prepare(context);
      context.set_deadline(std::chrono::system_clock::now() +
                           std::chrono::seconds(10));
      v1::ListEventsRequest probe;
      probe.set_page_size(1);
      v1::ListEventsResponse now;
      if (connection->stub().ListEvents(&context, probe, &now).ok()) {
        last = now.last_sequence();
      }
    }
    if (last) request.set_start_after_sequence(*last);
    grpc::ClientContext context;
    connection->Prepare(context);
    auto reader = connection->stub().Subscribe(&context, request);
    bool received = false;
    v1::SubscribeResponse response;
    while (reader->Read(&response)) {
      for (const v1::Event& event : response.events()) {
        if (absl::Status printed = printer.Append(event, text); !printed.ok()) {
          std::fprintf(stderr, "paradym-webhooks: cannot print event %llu\n",
                       static_cast<unsigned long long>(event.sequence()));
          return kExitRefused;
        }
      }
      if (!output->Write(text)) {
        // The reader of our output went away (e.g. `| head`): stop quietly.
        context.TryCancel();
        return output_path.empty() ? kExitOk : kExitRefused;
      }
      text.clear();
      if (response.events_size() > 0) {
        last = response.events(response.events_size() - 1).sequence();
        received = true;
      }
    }
    const grpc::Status status = reader->Finish();
    if (line.Has("no-reconnect") || !Retryable(status)) {
      std::fprintf(stderr, "paradym-webhooks subscribe: %s\n",
                   DescribeStatus(status).c_str());
      return status.error_code() == grpc::StatusCode::UNAVAILABLE && !received
                 ? kExitUnreachable
                 : kExitRefused;
    }
    failures = received ? 1 : failures + 1;
    // 100 ms, doubling to 5 s, with +-50% jitter so that many consumers do
    // not come back at once.
    const double base = std::min(
        5.0, 0.1 * static_cast<double>(1 << std::min(failures - 1, 6)));
    const double delay =
        base * std::uniform_real_distribution<double>(0.5, 1.5)(jitter);
    std::fprintf(stderr,
                 "paradym-webhooks subscribe: %s; reconnecting in %.1f s, "
                 "resuming after sequence %s\n",
                 DescribeStatus(status).c_str(), delay,
                 last ? std::to_string(*last).c_str() : "(live)");
    std::this_thread::sleep_for(std::chrono::duration<double>(delay));
    connection->Reset();
  }
}

int List(const CommandLine& line) {
  if (line.Has("help")) {
    std::printf("%s%s%s", kListUsage, kFilterFlags, kConnectionFlags);
    return kExitOk;
  }
  if (absl::Status known =
          line.CheckKnown(Concat(Concat(Connection::Flags(), kFilterFlagNames),
                                 {"after", "limit", "page-size", "format"}));
      !known.ok() || !line.arguments().empty()) {
    return UsageError("list",
                      known.ok() ? "takes no arguments" : known.message(),
                      kListUsage);
  }
  const auto format =
      EventPrinter::ParseFormat(line.Value("format").value_or("json"));
  std::uint64_t after = 0, limit = 0;
  std::int32_t page_size = 500;
  if (!format || !absl::SimpleAtoi(line.Value("after").value_or("0"), &after) ||
      !absl::SimpleAtoi(line.Value("limit").value_or("0"), &limit) ||
      !absl::SimpleAtoi(line.Value("page-size").value_or("500"), &page_size) ||
      page_size <= 0) {
    return UsageError("list",
                      "--format must be json or table; --after, --limit and "
                      "--page-size numbers",
                      kListUsage);
  }
  absl::StatusOr<Connection> connection = Connection::FromFlags(line);
  if (!connection.ok()) {
    return UsageError("list", connection.status().message(), kListUsage);
  }
  v1::ListEventsRequest request;
  AddFilters(line, request);
  request.set_start_after_sequence(after);
  request.set_page_size(page_size);
  const EventPrinter printer(*format);
  std::string text = printer.Header();
  std::uint64_t printed = 0;
  for (;;) {
    grpc::ClientContext context;
    connection->Prepare(context);
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(30));
    v1::ListEventsResponse response;
    const grpc::Status status =
        connection->stub().ListEvents(&context, request, &response);
    if (!status.ok()) {
      std::fwrite(text.data(), 1, text.size(), stdout);
      std::fprintf(stderr, "paradym-webhooks list: %s\n",
                   DescribeStatus(status).c_str());
      return status.error_code() == grpc::StatusCode::UNAVAILABLE
                 ? kExitUnreachable
                 : kExitRefused;
    }
    for (const v1::Event& event : response.events()) {
      if (limit != 0 && printed == limit) break;
      if (!printer.Append(event, text).ok()) return kExitRefused;
      ++printed;
    }
    std::fwrite(text.data(), 1, text.size(), stdout);
    text.clear();
    if (std::fflush(stdout) != 0) return kExitOk;  // the reader went away
    if ((limit != 0 && printed == limit) ||
        response.next_page_token().empty()) {
      return kExitOk;
    }
    request.clear_start_after_sequence();
    request.set_page_token(response.next_page_token());
  }
}

// The reason in an HTTP error body {"error":{"reason":"..."}}, if any.
std::string ReasonIn(const std::string& body) {
  constexpr char kKey[] = "\"reason\":\"";
  const std::size_t at = body.find(kKey);
  if (at == std::string::npos) return "";
  const std::size_t start = at + sizeof(kKey) - 1;
  return body.substr(start, body.find('"', start) - start);
}

int Send(const CommandLine& line) {
  const std::string types_list =
      absl::StrCat(absl::StrJoin(SampleEventTypes(), ", "), "\n");
  const std::string usage = absl::StrCat(kSendUsage, types_list);
  if (line.Has("help")) {
    std::fputs(usage.c_str(), stdout);
    return kExitOk;
  }
  if (absl::Status known =
          line.CheckKnown({"all", "url", "set", "body", "secret-file"});
      !known.ok()) {
    return UsageError("send", known.message(), usage);
  }
  std::vector<std::string> types = line.arguments();
  if (line.Has("all")) types = SampleEventTypes();
  const std::optional<std::string> body_file = line.Value("body");
  if (body_file ? !types.empty() : types.empty()) {
    return UsageError(
        "send", "name EVENT_TYPEs, --all, or --body=FILE (one of them)", usage);
  }
  absl::StatusOr<WebhookUrl> url = ParseWebhookUrl(
      line.Value("url").value_or("http://127.0.0.1:8080/webhook"));
  if (!url.ok()) return UsageError("send", url.status().message(), usage);
  const std::optional<std::string> secret = ReadSecret(line);
  if (!secret || secret->empty()) {
    return UsageError(
        "send", "no secret; set PARADYM_WEBHOOK_SECRET or --secret-file=PATH",
        usage);
  }
  // Every body is built before the first is sent: a bad --set sends nothing.
  std::vector<std::pair<std::string, std::string>> bodies;  // label, body
  const std::vector<std::string> overrides = line.Values("set");
  if (body_file) {
    std::ifstream in(*body_file, std::ios::binary);
    if (!in)
      return UsageError("send", "cannot read --body " + *body_file, usage);
    absl::StatusOr<std::string> body =
        ApplyOverrides(std::string(std::istreambuf_iterator<char>(in),
                                   std::istreambuf_iterator<char>()),
                       overrides);
    if (!body.ok()) return UsageError("send", body.status().message(), usage);
    bodies.emplace_back(*body_file, std::move(body).value());
  }
  for (const std::string& type : types) {
    absl::StatusOr<std::string> body = SampleBody(type, overrides, absl::Now());
    if (!body.ok()) return UsageError("send", body.status().message(), usage);
    bodies.emplace_back(type, std::move(body).value());
  }
  int exit_code = kExitOk;
  for (const auto& [label, body] : bodies) {
    absl::StatusOr<PostAnswer> answer =
        PostWebhook(*url, body, SignBody(*secret, body), absl::Seconds(10));
    if (!answer.ok()) {
      std::fprintf(stderr, "paradym-webhooks send: %s\n",
                   std::string(answer.status().message()).c_str());
      return kExitUnreachable;
    }
    std::string detail(absl::StripAsciiWhitespace(answer->body));
    if (answer->status == 200) {
      // {"sequence":N}, or {"sequence":0,"pending_replication":true} from a
      // replica whose stream had not answered yet.
      const std::size_t colon = detail.find(':');
      const std::size_t end = detail.find_first_of(",}");
      if (absl::StrContains(detail, "\"pending_replication\":true")) {
        detail = "pending_replication";
      } else if (colon != std::string::npos && end != std::string::npos) {
        detail = absl::StrCat("sequence=",
                              detail.substr(colon + 1, end - colon - 1));
      }
    } else {
      detail = ReasonIn(answer->body);
      exit_code = kExitRefused;
    }
    std::printf("%d %s %s\n", answer->status, detail.c_str(), label.c_str());
    std::fflush(stdout);
    if (answer->status != 200) {
      std::fprintf(stderr, "paradym-webhooks send: %s: %s\n", label.c_str(),
                   answer->body.c_str());
    }
  }
  return exit_code;
}

int Verify(const CommandLine& line) {
  if (line.Has("help")) {
    std::fputs(kVerifyUsage, stdout);
    return kExitOk;
  }
  if (absl::Status known = line.CheckKnown({"signature", "secret-file"});
      !known.ok() || line.arguments().size() > 1) {
    return UsageError("verify",
                      known.ok() ? "at most one FILE" : known.message(),
                      kVerifyUsage);
  }
  const std::optional<std::string> signature = line.Value("signature");
  if (!signature) {
    return UsageError("verify", "--signature=HEX is required", kVerifyUsage);
  }
  const std::optional<std::string> secret = ReadSecret(line);
  if (!secret || secret->empty()) {
    return UsageError(
        "verify", "no secret; set PARADYM_WEBHOOK_SECRET or --secret-file=PATH",
        kVerifyUsage);
  }
  const std::optional<std::string> body = ReadBody(line);
  if (!body) {
    return UsageError("verify", "cannot read " + line.arguments()[0],
                      kVerifyUsage);
  }
  const SignatureVerifier verifier(
      std::vector<EndpointSecrets>{{"default", {*secret}}});
  absl::StatusOr<absl::string_view> verified =
      verifier.Verify(*body, *signature, "");
  if (!verified.ok()) {
    std::printf("invalid signature: %s: %s\n",
                ErrorReason(verified.status()).c_str(),
                std::string(verified.status().message()).c_str());
    // The usual culprit: a tool that saved the body added a newline.
    absl::string_view trimmed = *body;
    while (!trimmed.empty() &&
           (trimmed.back() == '\n' || trimmed.back() == '\r')) {
      trimmed.remove_suffix(1);
    }
    if (trimmed.size() != body->size() &&
        verifier.Verify(trimmed, *signature, "").ok()) {
      std::printf(
          "hint: the signature matches the body without its trailing "
          "newline; whatever saved the body added it\n");
    }
    return kExitRefused;
  }
  v1::Event event;
  if (absl::Status normalized = EventNormalizer().Normalize(*body, event);
      !normalized.ok()) {
    std::printf("valid signature, but the server refuses the body: %s: %s\n",
                ErrorReason(normalized).c_str(),
                std::string(normalized.message()).c_str());
    return kExitRefused;
  }
  std::printf("valid: %s, %zu bytes, signed with the secret\n",
              event.event_type().c_str(), body->size());
  return kExitOk;
}

int Sign(const CommandLine& line) {
  if (line.Has("help")) {
    std::fputs(kSignUsage, stdout);
    return kExitOk;
  }
  if (absl::Status known = line.CheckKnown({"secret-file"});
      !known.ok() || line.arguments().size() > 1) {
    return UsageError("sign", known.ok() ? "at most one FILE" : known.message(),
                      kSignUsage);
  }
  std::optional<std::string> secret = ReadSecret(line);
  if (!secret || secret->empty()) {
    return UsageError(
        "sign", "no secret; set PARADYM_WEBHOOK_SECRET or --secret-file=PATH",
        kSignUsage);
  }
  const std::optional<std::string> body = ReadBody(line);
  if (!body) {
    std::fprintf(stderr, "paradym-webhooks sign: cannot read %s\n",
                 line.arguments()[0].c_str());
    return kExitRefused;
  }
  std::printf("%s\n", SignBody(*secret, *body).c_str());
  return kExitOk;
}

int Main(int argc, char** argv) {
  ::signal(SIGPIPE, SIG_IGN);
  absl::StatusOr<CommandLine> line = CommandLine::Parse(
      argc, argv, {"from-start", "all", "tls", "no-reconnect"});
  if (!line.ok()) {
    std::fprintf(stderr, "paradym-webhooks: %s\n",
                 std::string(line.status().message()).c_str());
    return kExitUsage;
  }
  const std::string& command = line->command();
  if (command == "subscribe") return Subscribe(*line);
  if (command == "list") return List(*line);
  if (command == "send") return Send(*line);
  if (command == "verify") return Verify(*line);
  if (command == "sign") return Sign(*line);
  if (command.empty() || command == "help" || line->Has("help")) {
    const bool asked = command == "help" || line->Has("help");
    std::fputs(kUsage, asked ? stdout : stderr);
    return asked ? kExitOk : kExitUsage;
  }
  std::fprintf(stderr, "paradym-webhooks: unknown command %s\n\n%s",
               command.c_str(), kUsage);
  return kExitUsage;
}

}  // namespace
}  // namespace paradym::webhooks::cli

int main(int argc, char** argv) {
  return paradym::webhooks::cli::Main(argc, argv);
}
