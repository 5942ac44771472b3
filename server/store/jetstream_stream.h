// The JetStream stream that replicas share: its configuration, created or
// checked at startup, and the few reads the replicas make of it.
//
//   StreamSpec spec{.name = "PARADYM_WEBHOOKS", .replicas = 3};
//   absl::Status status = EnsureStream(client, spec);
//   absl::StatusOr<StreamState> state = ReadStreamState(client, spec.name);
//   absl::StatusOr<StreamMessage> next =
//       ReadStreamMessage(client, spec.name, 42, ReplicaSubject(spec, "r1"));

#ifndef PARADYM_WEBHOOKS_SERVER_STORE_JETSTREAM_STREAM_H_
#define PARADYM_WEBHOOKS_SERVER_STORE_JETSTREAM_STREAM_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "server/store/nats_client.h"

namespace paradym::webhooks {

struct StreamSpec {
  std::string name = "PARADYM_WEBHOOKS";
  // How many servers keep each message (1, 3 or 5).
  int replicas = 3;
  // Messages older than this are deleted; InfiniteDuration() keeps them.
  absl::Duration max_age = absl::InfiniteDuration();
  // Beyond this many messages the oldest are deleted; 0: no limit.
  std::uint64_t max_msgs = 0;
  // How long the stream remembers a message id to drop a repeated publish.
  absl::Duration duplicate_window = absl::Minutes(2);
};

// The subjects the stream takes: `<name>.events.*`, one per replica.
std::string StreamSubjects(const StreamSpec& spec);
// The subject replica `replica` publishes on.
std::string ReplicaSubject(const StreamSpec& spec, absl::string_view replica);

// Creates the stream when it is missing: file storage, limits retention,
// discard old, deny delete and purge (so that sequences never have holes but
// at the front). An existing stream is checked: FAILED_PRECONDITION naming
// the setting when it could lose or reorder events (memory storage, another
// retention or discard policy, deletes or purges allowed, rollups, sealed,
// subjects that leave ours out); replicas, age and count limits and the
// duplicate window are updated to `spec`. UNAVAILABLE for anything a retry
// may mend: no answer, leaders still being elected, too few servers up for
// the replicas asked (the error names the cause).
absl::Status EnsureStream(const NatsClient& client, const StreamSpec& spec);

struct StreamState {
  std::uint64_t first_sequence = 0;
  std::uint64_t last_sequence = 0;
};
absl::StatusOr<StreamState> ReadStreamState(const NatsClient& client,
                                            const std::string& stream);

// A message as the stream holds it.
struct StreamMessage {
  std::uint64_t sequence = 0;
  std::string subject;
  std::string message_id;  // the Nats-Msg-Id header, if any
  std::string data;
};

// The first message at or after sequence `from`, on `subject` if it is not
// empty, read from the stream's leader (so it is never behind). NOT_FOUND
// when there is none; UNAVAILABLE when the leader does not answer.
absl::StatusOr<StreamMessage> ReadStreamMessage(const NatsClient& client,
                                                const std::string& stream,
                                                std::uint64_t from,
                                                const std::string& subject,
                                                absl::Duration timeout);

// A JetStream API reply `reply` to `subject`, parsed: the "message" of a
// message-get reply.
absl::StatusOr<StreamMessage> ParseStreamMessageReply(absl::string_view reply);

}  // namespace paradym::webhooks

#endif  // PARADYM_WEBHOOKS_SERVER_STORE_JETSTREAM_STREAM_H_
