// paradym-webhooks: the command-line client of paradym-webhooksd.
//
//   paradym-webhooks subscribe --address=127.0.0.1:50051 [filters]
//   paradym-webhooks sign [FILE]
//
// Exit codes: 0 success; 1 the server or the input refused; 2 usage error.

#include <grpcpp/grpcpp.h>
#include <signal.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "client/command_line.h"
#include "google/protobuf/util/json_util.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "paradym/webhooks/v1/webhook_service.grpc.pb.h"
#include "server/core/signature_verifier.h"

namespace paradym::webhooks::cli {
namespace {

namespace v1 = ::paradym::webhooks::v1;

constexpr int kExitOk = 0;
constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;

constexpr char kUsage[] =
    "paradym-webhooks: the client of paradym-webhooksd\n"
    "\n"
    "Commands:\n"
    "  subscribe  stream accepted events as JSON lines\n"
    "  sign       print the X-Paradym-HMAC-SHA-256 signature of a body\n"
    "\n"
    "Run `paradym-webhooks COMMAND --help` for a command's flags.\n"
    "Exit codes: 0 success, 1 refused by the server or invalid input, "
    "2 usage error.\n";

constexpr char kSubscribeUsage[] =
    "paradym-webhooks subscribe [flags]\n"
    "\n"
    "Streams accepted events, one JSON object a line (the proto3 JSON form of\n"
    "paradym.webhooks.v1.Event), until the server ends the stream.\n"
    "\n"
    "  --address=HOST:PORT           the gRPC service (default "
    "127.0.0.1:50051)\n"
    "  --event-type=TYPE             only this eventType; a trailing * matches "
    "a\n"
    "                                prefix (openid4vc.*); repeatable\n"
    "  --project-id=ID               only this project; repeatable\n"
    "  --workflow-id=ID              only this workflow; repeatable\n"
    "  --workflow-execution-id=ID    only this execution; repeatable\n"
    "  --from-start                  first every event the server still holds\n"
    "  --after=N                     first every event after sequence N\n";

constexpr char kSignUsage[] =
    "paradym-webhooks sign [FILE]\n"
    "\n"
    "Prints the hex HMAC-SHA256 signature Paradym would send in\n"
    "X-Paradym-HMAC-SHA-256 for the body in FILE (or stdin).\n"
    "The secret comes from env PARADYM_WEBHOOK_SECRET or --secret-file=PATH\n"
    "(its first line), never from a flag value.\n";

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

int Subscribe(const CommandLine& line) {
  if (line.Has("help")) {
    std::fputs(kSubscribeUsage, stdout);
    return kExitOk;
  }
  if (absl::Status known =
          line.CheckKnown({"address", "event-type", "project-id", "workflow-id",
                           "workflow-execution-id", "from-start", "after"});
      !known.ok()) {
    std::fprintf(stderr, "paradym-webhooks subscribe: %s\n%s",
                 std::string(known.message()).c_str(), kSubscribeUsage);
    return kExitUsage;
  }
  v1::SubscribeRequest request;
  for (const auto& v : line.Values("event-type")) request.add_event_types(v);
  for (const auto& v : line.Values("project-id")) request.add_project_ids(v);
  for (const auto& v : line.Values("workflow-id")) request.add_workflow_ids(v);
  for (const auto& v : line.Values("workflow-execution-id")) {
    request.add_workflow_execution_ids(v);
  }
  if (line.Has("from-start")) request.set_start_after_sequence(0);
  if (auto after = line.Value("after")) {
    std::uint64_t sequence = 0;
    if (!absl::SimpleAtoi(*after, &sequence)) {
      std::fprintf(stderr,
                   "paradym-webhooks subscribe: --after must be a sequence "
                   "number\n");
      return kExitUsage;
    }
    request.set_start_after_sequence(sequence);
  }
  const std::string address = line.Value("address").value_or("127.0.0.1:50051");
  auto stub = v1::WebhookService::NewStub(
      grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  std::unique_ptr<grpc::ClientReader<v1::SubscribeResponse>> reader =
      stub->Subscribe(&context, request);

  // A large buffer and one flush per response keep up with fast streams.
  static char buffer[1 << 20];
  std::setvbuf(stdout, buffer, _IOFBF, sizeof buffer);
  google::protobuf::util::JsonPrintOptions options;
  std::string json;
  v1::SubscribeResponse response;
  while (reader->Read(&response)) {
    for (const v1::Event& event : response.events()) {
      json.clear();
      if (!google::protobuf::util::MessageToJsonString(event, &json, options)
               .ok()) {
        std::fprintf(stderr, "paradym-webhooks: cannot print event %llu\n",
                     static_cast<unsigned long long>(event.sequence()));
        return kExitFailure;
      }
      json.push_back('\n');
      std::fwrite(json.data(), 1, json.size(), stdout);
    }
    if (std::fflush(stdout) != 0) {
      // The reader of our output went away (e.g. `| head`): stop quietly.
      context.TryCancel();
      return kExitOk;
    }
  }
  const grpc::Status status = reader->Finish();
  if (status.ok()) return kExitOk;
  std::fprintf(stderr, "paradym-webhooks subscribe: %s\n",
               DescribeStatus(status).c_str());
  return kExitFailure;
}

std::optional<std::string> ReadSecret(const CommandLine& line) {
  if (auto path = line.Value("secret-file")) {
    std::ifstream in(*path);
    std::string secret;
    if (!in || !std::getline(in, secret)) return std::nullopt;
    return std::string(absl::StripAsciiWhitespace(secret));
  }
  if (const char* env = std::getenv("PARADYM_WEBHOOK_SECRET");
      env != nullptr && *env != '\0') {
    return std::string(env);
  }
  return std::nullopt;
}

int Sign(const CommandLine& line) {
  if (line.Has("help")) {
    std::fputs(kSignUsage, stdout);
    return kExitOk;
  }
  if (absl::Status known = line.CheckKnown({"secret-file"});
      !known.ok() || line.arguments().size() > 1) {
    std::fprintf(
        stderr, "paradym-webhooks sign: %s\n%s",
        known.ok() ? "at most one FILE" : std::string(known.message()).c_str(),
        kSignUsage);
    return kExitUsage;
  }
  std::optional<std::string> secret = ReadSecret(line);
  if (!secret || secret->empty()) {
    std::fprintf(stderr,
                 "paradym-webhooks sign: no secret; set PARADYM_WEBHOOK_SECRET "
                 "or --secret-file=PATH\n");
    return kExitUsage;
  }
  std::string body;
  if (line.arguments().empty()) {
    body.assign(std::istreambuf_iterator<char>(std::cin),
                std::istreambuf_iterator<char>());
  } else {
    std::ifstream in(line.arguments()[0], std::ios::binary);
    if (!in) {
      std::fprintf(stderr, "paradym-webhooks sign: cannot read %s\n",
                   line.arguments()[0].c_str());
      return kExitFailure;
    }
    body.assign(std::istreambuf_iterator<char>(in),
                std::istreambuf_iterator<char>());
  }
  std::printf("%s\n", SignBody(*secret, body).c_str());
  return kExitOk;
}

int Main(int argc, char** argv) {
  ::signal(SIGPIPE, SIG_IGN);
  absl::StatusOr<CommandLine> line =
      CommandLine::Parse(argc, argv, {"from-start"});
  if (!line.ok()) {
    std::fprintf(stderr, "paradym-webhooks: %s\n",
                 std::string(line.status().message()).c_str());
    return kExitUsage;
  }
  if (line->command() == "subscribe") return Subscribe(*line);
  if (line->command() == "sign") return Sign(*line);
  if (line->command().empty() || line->command() == "help" ||
      line->Has("help")) {
    std::fputs(kUsage,
               line->command().empty() && !line->Has("help") ? stderr : stdout);
    return line->command().empty() && !line->Has("help") ? kExitUsage : kExitOk;
  }
  std::fprintf(stderr, "paradym-webhooks: unknown command %s\n\n%s",
               line->command().c_str(), kUsage);
  return kExitUsage;
}

}  // namespace
}  // namespace paradym::webhooks::cli

int main(int argc, char** argv) {
  return paradym::webhooks::cli::Main(argc, argv);
}
