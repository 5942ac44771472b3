// paradym-webhooks send: signs and POSTs sample webhooks (or a body) to the
// HTTP front, the way Paradym does.

#include <cstdio>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "client/commands.h"
#include "client/input_files.h"
#include "client/sample_events.h"
#include "client/webhook_post.h"
#include "server/core/signature_verifier.h"

namespace paradym::webhooks::cli {
namespace {

constexpr char kUsageStart[] =
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

// A body to send, and what to call it in the output.
struct LabeledBody {
  std::string label;  // the event type, or the --body file
  std::string body;
};

// Every body, built before the first is sent: a bad --set sends nothing.
// INVALID_ARGUMENT with the usage error's message.
absl::StatusOr<std::vector<LabeledBody>> BuildBodies(
    const CommandLine& line, const std::vector<std::string>& types) {
  std::vector<LabeledBody> bodies;
  const std::vector<std::string> overrides = line.Values("set");
  if (const std::optional<std::string> body_file = line.Value("body")) {
    std::optional<std::string> contents = ReadFile(*body_file);
    if (!contents) {
      return absl::InvalidArgumentError("cannot read --body " + *body_file);
    }
    absl::StatusOr<std::string> body = ApplyOverrides(*contents, overrides);
    if (!body.ok()) return body.status();
    bodies.push_back({*body_file, *std::move(body)});
  }
  for (const std::string& type : types) {
    absl::StatusOr<std::string> body = SampleBody(type, overrides, absl::Now());
    if (!body.ok()) return body.status();
    bodies.push_back({type, *std::move(body)});
  }
  return bodies;
}

// The reason in an HTTP error body {"error":{"reason":"..."}}, if any.
std::string ReasonIn(const std::string& body) {
  constexpr char kKey[] = "\"reason\":\"";
  const std::size_t at = body.find(kKey);
  if (at == std::string::npos) return "";
  const std::size_t start = at + sizeof(kKey) - 1;
  return body.substr(start, body.find('"', start) - start);
}

// What a line of output says about an answer: sequence=N for a 200 with
// {"sequence":N}, pending_replication for a replica's 200 whose stream had
// not answered yet ({"sequence":0,"pending_replication":true}), else the
// error's reason.
std::string AnswerDetail(const PostAnswer& answer) {
  if (answer.status != 200) return ReasonIn(answer.body);
  std::string detail(absl::StripAsciiWhitespace(answer.body));
  const std::size_t colon = detail.find(':');
  const std::size_t end = detail.find_first_of(",}");
  if (absl::StrContains(detail, "\"pending_replication\":true")) {
    return "pending_replication";
  }
  if (colon != std::string::npos && end != std::string::npos) {
    return absl::StrCat("sequence=", detail.substr(colon + 1, end - colon - 1));
  }
  return detail;
}

// POSTs each body in turn, printing a line for each; returns the exit code.
int PostAll(const WebhookUrl& url, const std::string& secret,
            const std::vector<LabeledBody>& bodies) {
  int exit_code = kExitOk;
  for (const auto& [label, body] : bodies) {
    absl::StatusOr<PostAnswer> answer =
        PostWebhook(url, body, SignBody(secret, body), absl::Seconds(10));
    if (!answer.ok()) {
      std::fprintf(stderr, "paradym-webhooks send: %s\n",
                   std::string(answer.status().message()).c_str());
      return kExitUnreachable;
    }
    std::printf("%d %s %s\n", answer->status, AnswerDetail(*answer).c_str(),
                label.c_str());
    std::fflush(stdout);
    if (answer->status != 200) {
      exit_code = kExitRefused;
      std::fprintf(stderr, "paradym-webhooks send: %s: %s\n", label.c_str(),
                   answer->body.c_str());
    }
  }
  return exit_code;
}

}  // namespace

int RunSend(const CommandLine& line) {
  const std::string usage =
      absl::StrCat(kUsageStart, absl::StrJoin(SampleEventTypes(), ", "), "\n");
  if (line.Has("help")) {
    std::fputs(usage.c_str(), stdout);
    return kExitOk;
  }
  if (absl::Status known =
          line.CheckKnown({"all", "url", "set", "body", "secret-file"});
      !known.ok()) {
    return UsageError("send", known.message(), usage);
  }
  const std::vector<std::string> types =
      line.Has("all") ? SampleEventTypes() : line.arguments();
  if (line.Has("body") ? !types.empty() : types.empty()) {
    return UsageError(
        "send", "name EVENT_TYPEs, --all, or --body=FILE (one of them)", usage);
  }
  absl::StatusOr<WebhookUrl> url = ParseWebhookUrl(
      line.Value("url").value_or("http://127.0.0.1:8080/webhook"));
  if (!url.ok()) return UsageError("send", url.status().message(), usage);
  const std::optional<std::string> secret = ReadSecret(line);
  if (!secret || secret->empty()) return UsageError("send", kNoSecret, usage);
  absl::StatusOr<std::vector<LabeledBody>> bodies = BuildBodies(line, types);
  if (!bodies.ok()) return UsageError("send", bodies.status().message(), usage);
  return PostAll(*url, *secret, *bodies);
}

}  // namespace paradym::webhooks::cli
