// The EventLog of a replica that shares one NATS JetStream stream with its
// peers (--store=jetstream): any replica accepts webhooks, every replica
// serves the same events in the same order, and the `sequence` of an event is
// its stream sequence, the same everywhere.
//
// A replica keeps two SQLite stores under its data directory:
//   - `outbox/`: every webhook it accepts, committed (and fsynced, with
//     Sync::kFull) before anything else; OutboxForwarder publishes it to the
//     stream, in order, exactly once;
//   - `stream-copy/`: its read copy of the whole stream, fed by
//     StreamFollower, from which ReadAfter and Range (Subscribe, ListEvents)
//     are served and every stored event is announced. It is not
//     authoritative: a lost or mismatched copy is rebuilt from the stream.
// and the file `replica-id`, made once, which names its subject in the stream
// and its message ids.
//
// Append answers once the stream has acknowledged the event, with its
// sequence; or, when the stream does not answer within `replication_wait`,
// with sequence 0: the event is durable in this replica's outbox and will be
// in the stream (it is announced with its sequence then).
//
//   absl::StatusOr<std::unique_ptr<JetStreamEventLog>> log =
//       JetStreamEventLog::Open(options, clock);
//   (*log)->Append(std::move(event), [](absl::StatusOr<EventPtr> stored) {});
//   (*log)->Close();

#ifndef PARADYM_WEBHOOKS_SERVER_STORE_JETSTREAM_EVENT_LOG_H_
#define PARADYM_WEBHOOKS_SERVER_STORE_JETSTREAM_EVENT_LOG_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/core/clock.h"
#include "server/core/event_log.h"
#include "server/store/jetstream_stream.h"
#include "server/store/nats_client.h"
#include "server/store/outbox_forwarder.h"
#include "server/store/sqlite_event_log.h"
#include "server/store/stream_follower.h"

namespace paradym::webhooks {

// Thread-safe, as every EventLog; forwarding and following run on threads of
// their own.
class JetStreamEventLog final : public EventLog {
 public:
  struct Options {
    // The replica's state: replica-id, outbox/, stream-copy/.
    std::string directory = "./data";
    // What the outbox's commit waits for (see SqliteEventLog::Sync).
    SqliteEventLog::Sync sync = SqliteEventLog::Sync::kFull;
    NatsClient::Options nats;
    StreamSpec stream;
    // How long a webhook waits for the stream's acknowledgement.
    absl::Duration replication_wait = absl::Seconds(1);
    // Past this many unforwarded events, while the stream cannot be reached,
    // CheckReady says not ready.
    std::uint64_t ready_outbox_limit = 1000;
    // On Close, how long forwarding may go on.
    absl::Duration close_grace = absl::Seconds(2);
  };

  // Opens the outbox and the read copy (rebuilding a copy that is corrupt or
  // does not match the stream), connects, creates or checks the stream when
  // the cluster answers, and starts forwarding and following. A cluster that
  // cannot be reached is no error: webhooks wait in the outbox.
  static absl::StatusOr<std::unique_ptr<JetStreamEventLog>> Open(
      Options options, const Clock& clock);

  ~JetStreamEventLog() override;  // Close()s

  void Append(std::shared_ptr<StoredEvent> event, AppendCallback done) override;
  absl::Status ReadAfter(std::uint64_t after, std::uint64_t up_to,
                         std::size_t max_events,
                         std::vector<EventPtr>& out) const override;
  SequenceRange Range() const override;
  std::uint64_t Horizon() const override;
  // The stream sequence once this replica's copy holds the event (from any
  // replica); 0 while only this replica's outbox holds it.
  std::optional<std::uint64_t> FindReplay(
      const ReplayDigest& digest) const override;
  absl::Status CheckReady() const override;
  void AddMetrics(PrometheusText& text) const override;

  // Refuses further appends (UNAVAILABLE, SHUTTING_DOWN), forwards for up to
  // `close_grace`, answers what still waits with sequence 0, and closes the
  // stores. Idempotent.
  void Close();

  const std::string& replica() const { return replica_; }

 private:
  JetStreamEventLog(Options options, std::string replica);

  // The outbox, the connection and the read copy, rebuilt when it does not
  // match the stream; the stream is created or checked if it answers.
  absl::Status OpenStores(const Clock& clock);
  // (Re)opens the read copy and its follower.
  absl::Status OpenCopy(const Clock& clock);
  std::string CopyDirectory() const;
  // Starts forwarding the outbox and following the stream.
  absl::Status Start();

  const Options options_;
  const std::string replica_;
  // Declared in the order they are opened; destroyed in reverse.
  std::unique_ptr<NatsClient> client_;
  std::unique_ptr<SqliteEventLog> outbox_;
  std::unique_ptr<SqliteEventLog> copy_;
  std::unique_ptr<OutboxForwarder> forwarder_;
  std::unique_ptr<StreamFollower> follower_;

  mutable absl::Mutex mu_;
  bool closing_ ABSL_GUARDED_BY(mu_) = false;
  // Appends whose outbox commit has not answered yet.
  std::size_t appending_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Mutex close_mu_;  // serializes Close
  bool closed_ ABSL_GUARDED_BY(close_mu_) = false;
};

}  // namespace paradym::webhooks

#endif  // PARADYM_WEBHOOKS_SERVER_STORE_JETSTREAM_EVENT_LOG_H_
