#include "server/store/jetstream_stream.h"

#include <algorithm>
#include <memory>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "rapidjson/document.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"
#include "server/core/errors.h"
#include "server/core/status_macros.h"
#include "server/core/structured_log.h"

namespace paradym::webhooks {
namespace {

using StreamInfoPtr = std::unique_ptr<jsStreamInfo, NatsDeleter>;

// How long a JetStream API call may take (the stream's leader answers).
constexpr std::int64_t kApiWaitMillis = 5000;

// JetStream's "no message found" error code.
constexpr int kNoMessageFound = 10037;

std::int64_t Nanos(absl::Duration duration) {
  return duration == absl::InfiniteDuration()
             ? 0
             : absl::ToInt64Nanoseconds(duration);
}

jsOptions ApiOptions() {
  jsOptions options;
  jsOptions_Init(&options);
  options.Wait = kApiWaitMillis;
  return options;
}

// The settings EnsureStream puts on a stream, and the ones it may update.
void ApplyTunables(const StreamSpec& spec, jsStreamConfig& config) {
  config.Replicas = spec.replicas;
  config.MaxAge = Nanos(spec.max_age);
  config.MaxMsgs =
      spec.max_msgs == 0 ? -1 : static_cast<int64_t>(spec.max_msgs);
  // JetStream refuses a duplicate window longer than the age limit.
  config.Duplicates =
      spec.max_age == absl::InfiniteDuration()
          ? Nanos(spec.duplicate_window)
          : std::min(Nanos(spec.duplicate_window), Nanos(spec.max_age));
}

// Why an existing stream cannot hold our events safely, or "".
std::string Unsafe(const jsStreamConfig& config, const std::string& subjects) {
  std::vector<std::string> problems;
  if (config.Storage != js_FileStorage) problems.push_back("memory storage");
  if (config.Retention != js_LimitsPolicy) {
    problems.push_back("a retention policy other than limits");
  }
  if (config.Discard != js_DiscardOld) problems.push_back("discard new");
  if (!config.DenyDelete) problems.push_back("deletes allowed");
  if (!config.DenyPurge) problems.push_back("purges allowed");
  if (config.AllowRollup) problems.push_back("rollups allowed");
  if (config.Sealed) problems.push_back("sealed");
  if (config.MaxMsgsPerSubject > 0) problems.push_back("a per-subject limit");
  if (config.MaxBytes > 0) problems.push_back("a byte limit");
  bool has_subjects = false;
  for (int i = 0; i < config.SubjectsLen; ++i) {
    if (subjects == config.Subjects[i]) has_subjects = true;
  }
  if (!has_subjects) problems.push_back(absl::StrCat("no subject ", subjects));
  return absl::StrJoin(problems, ", ");
}

// A JetStream API call that failed: the cluster may still be electing its
// leaders, or lack the servers a placement needs until they come back, so
// it is worth trying again (UNAVAILABLE), whatever cnats calls it.
absl::Status ApiError(natsStatus status, absl::string_view doing) {
  return MakeError(absl::StatusCode::kUnavailable, kStreamError,
                   NatsError(status, doing).message());
}

// A message-get reply that is not what JetStream answers.
absl::Status BadReply(absl::string_view problem) {
  return MakeError(absl::StatusCode::kUnavailable, kStreamError,
                   absl::StrCat("a message-get reply ", problem));
}

bool TunablesDiffer(const jsStreamConfig& have, const jsStreamConfig& want) {
  return have.Replicas != want.Replicas || have.MaxAge != want.MaxAge ||
         have.MaxMsgs != want.MaxMsgs || have.Duplicates != want.Duplicates;
}

std::string MessageIdFromHeaders(absl::string_view headers) {
  for (absl::string_view line : absl::StrSplit(headers, "\r\n")) {
    if (absl::ConsumePrefix(&line, "Nats-Msg-Id:")) {
      return std::string(absl::StripAsciiWhitespace(line));
    }
  }
  return "";
}

}  // namespace

std::string StreamSubjects(const StreamSpec& spec) {
  return absl::StrCat(spec.name, ".events.*");
}

std::string ReplicaSubject(const StreamSpec& spec, absl::string_view replica) {
  return absl::StrCat(spec.name, ".events.", replica);
}

absl::Status EnsureStream(const NatsClient& client, const StreamSpec& spec) {
  jsOptions options = ApiOptions();
  jsStreamInfo* found = nullptr;
  jsErrCode error_code = static_cast<jsErrCode>(0);
  natsStatus s = js_GetStreamInfo(&found, client.jetstream(), spec.name.c_str(),
                                  &options, &error_code);
  StreamInfoPtr info(found);
  const std::string subjects = StreamSubjects(spec);
  const char* subject_list[] = {subjects.c_str()};
  jsStreamConfig want;
  jsStreamConfig_Init(&want);
  want.Name = spec.name.c_str();
  want.Description = "Paradym webhook events (paradym-webhooksd)";
  want.Subjects = subject_list;
  want.SubjectsLen = 1;
  want.Storage = js_FileStorage;
  want.Retention = js_LimitsPolicy;
  want.Discard = js_DiscardOld;
  want.DenyDelete = true;
  want.DenyPurge = true;
  want.AllowDirect = true;
  ApplyTunables(spec, want);

  if (s == NATS_NOT_FOUND || error_code == JSStreamNotFoundErr) {
    jsStreamInfo* created = nullptr;
    s = js_AddStream(&created, client.jetstream(), &want, &options,
                     &error_code);
    StreamInfoPtr owned(created);
    if (s != NATS_OK) {
      return ApiError(s, absl::StrCat("create the stream ", spec.name, " with ",
                                      spec.replicas, " replicas"));
    }
    Log(LogLevel::kInfo, "created the JetStream stream",
        {{"stream", spec.name}, {"replicas", spec.replicas}});
    return absl::OkStatus();
  }
  if (s != NATS_OK) {
    return ApiError(s, absl::StrCat("read the stream ", spec.name));
  }
  const jsStreamConfig& have = *info->Config;
  if (const std::string unsafe = Unsafe(have, subjects); !unsafe.empty()) {
    return MakeError(
        absl::StatusCode::kFailedPrecondition, kStreamError,
        absl::StrCat(
            "the JetStream stream ", spec.name, " exists with ", unsafe,
            "; paradym-webhooksd needs file storage, limits retention, discard "
            "old, deny delete and purge, subject ",
            subjects, ": fix or remove it, or use --nats_stream"));
  }
  if (!TunablesDiffer(have, want)) return absl::OkStatus();
  // Keep everything else the operator set; change only what flags decide.
  jsStreamConfig update = have;
  ApplyTunables(spec, update);
  jsStreamInfo* updated = nullptr;
  s = js_UpdateStream(&updated, client.jetstream(), &update, &options,
                      &error_code);
  StreamInfoPtr owned(updated);
  if (s != NATS_OK) {
    return ApiError(s, absl::StrCat("update the stream ", spec.name));
  }
  Log(LogLevel::kWarning, "updated the JetStream stream's limits to the flags",
      {{"stream", spec.name},
       {"replicas", spec.replicas},
       {"max_age_seconds", update.MaxAge / 1000000000},
       {"max_msgs", update.MaxMsgs}});
  return absl::OkStatus();
}

absl::StatusOr<StreamState> ReadStreamState(const NatsClient& client,
                                            const std::string& stream) {
  jsOptions options = ApiOptions();
  jsStreamInfo* found = nullptr;
  jsErrCode error_code = static_cast<jsErrCode>(0);
  const natsStatus s = js_GetStreamInfo(&found, client.jetstream(),
                                        stream.c_str(), &options, &error_code);
  StreamInfoPtr info(found);
  if (s != NATS_OK) {
    return ApiError(s, absl::StrCat("read the stream ", stream));
  }
  return StreamState{info->State.FirstSeq, info->State.LastSeq};
}

absl::StatusOr<StreamMessage> ParseStreamMessageReply(absl::string_view reply) {
  rapidjson::Document document;
  document.Parse(reply.data(), reply.size());
  if (document.HasParseError() || !document.IsObject()) {
    return BadReply("that is not JSON");
  }
  if (auto error = document.FindMember("error");
      error != document.MemberEnd() && error->value.IsObject()) {
    const auto code = error->value.FindMember("err_code");
    const auto description = error->value.FindMember("description");
    const std::string text =
        description != error->value.MemberEnd() && description->value.IsString()
            ? description->value.GetString()
            : "unknown error";
    if (code != error->value.MemberEnd() && code->value.IsInt() &&
        code->value.GetInt() == kNoMessageFound) {
      return MakeError(absl::StatusCode::kNotFound, kStreamError, text);
    }
    return MakeError(absl::StatusCode::kUnavailable, kStreamError,
                     absl::StrCat("the stream refused: ", text));
  }
  const auto message = document.FindMember("message");
  if (message == document.MemberEnd() || !message->value.IsObject()) {
    return BadReply("without a message");
  }
  const rapidjson::Value& m = message->value;
  StreamMessage out;
  const auto seq = m.FindMember("seq");
  const auto subject = m.FindMember("subject");
  if (seq == m.MemberEnd() || !seq->value.IsUint64() ||
      subject == m.MemberEnd() || !subject->value.IsString()) {
    return BadReply("without seq/subject");
  }
  out.sequence = seq->value.GetUint64();
  out.subject = subject->value.GetString();
  if (const auto data = m.FindMember("data");
      data != m.MemberEnd() && data->value.IsString() &&
      !absl::Base64Unescape(data->value.GetString(), &out.data)) {
    return BadReply("with bad base64 data");
  }
  if (const auto headers = m.FindMember("hdrs");
      headers != m.MemberEnd() && headers->value.IsString()) {
    std::string decoded;
    if (!absl::Base64Unescape(headers->value.GetString(), &decoded)) {
      return BadReply("with bad base64 headers");
    }
    out.message_id = MessageIdFromHeaders(decoded);
  }
  return out;
}

absl::StatusOr<StreamMessage> ReadStreamMessage(const NatsClient& client,
                                                const std::string& stream,
                                                std::uint64_t from,
                                                const std::string& subject,
                                                absl::Duration timeout) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  writer.StartObject();
  writer.Key("seq");
  writer.Uint64(from);
  if (!subject.empty()) {
    writer.Key("next_by_subj");
    writer.String(subject.data(),
                  static_cast<rapidjson::SizeType>(subject.size()));
  }
  writer.EndObject();
  // STREAM.MSG.GET is answered by the leader; DIRECT.GET by any replica,
  // which may be behind.
  ASSIGN_OR_RETURN(
      const std::string reply,
      client.Request(absl::StrCat("$JS.API.STREAM.MSG.GET.", stream),
                     absl::string_view(buffer.GetString(), buffer.GetSize()),
                     timeout));
  return ParseStreamMessageReply(reply);
}

}  // namespace paradym::webhooks
