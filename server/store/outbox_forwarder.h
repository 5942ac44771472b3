// Forwards a replica's outbox to the shared JetStream stream, in order, and
// answers the webhooks waiting for the stream's acknowledgement.
//
// Every event a replica accepts is first committed to its outbox (a
// SqliteEventLog, durable as --sync says), then published here on the
// replica's own subject with the message id `<replica>:<outbox sequence>`.
// The stream's acknowledgement gives the event its global sequence; the
// webhook waiting for it is answered with that sequence, or, when the stream
// does not answer within `replication_wait`, with sequence 0 ("durable on
// this replica, in the stream later"), and forwarding goes on regardless.
//
// Nothing is stored twice. While publishing goes well, the stream drops a
// repeated message id within its duplicate window. When a publish fails or
// its acknowledgement is lost (a leader dies, the connection drops, the
// replica restarts), the forwarder waits until nothing it sent is still
// unanswered, then reads the replica's own subject back from the stream's
// leader, from a sequence below anything unconfirmed could have landed at,
// and marks every outbox event it finds as confirmed; only the rest is sent
// again, at once, so that an earlier attempt landing late still falls within
// the duplicate window. That lower bound is the highest stream sequence
// acknowledged before the event was first sent (a message sent after an
// acknowledgement lands after it); it is kept with each release of the
// outbox, so a restart reads back only what it must.
//
//   OutboxForwarder forwarder(options, client, outbox);
//   forwarder.Start();
//   outbox.Append(event, [&](absl::StatusOr<EventPtr> outboxed) {
//     forwarder.Track(*outboxed, std::move(done));
//   });
//   forwarder.Stop(absl::Seconds(2));
//
// Thread-safe. A thread of its own publishes and reads the stream back;
// another answers webhooks whose wait is over, so that neither a slow stream
// nor a blocked read delays an answer; acknowledgements are handled on the
// thread cnats delivers them on.

#ifndef PARADYM_WEBHOOKS_SERVER_STORE_OUTBOX_FORWARDER_H_
#define PARADYM_WEBHOOKS_SERVER_STORE_OUTBOX_FORWARDER_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <limits>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/core/event_log.h"
#include "server/core/metrics.h"
#include "server/store/jetstream_stream.h"
#include "server/store/nats_client.h"
#include "server/store/sqlite_event_log.h"

namespace paradym::webhooks {

class OutboxForwarder {
 public:
  struct Options {
    StreamSpec stream;
    // This replica's id: its subject and the prefix of its message ids.
    std::string replica;
    // How long a webhook waits for the stream before it is answered with
    // sequence 0.
    absl::Duration replication_wait = absl::Seconds(1);
    // A publish not acknowledged within this time has failed.
    absl::Duration publish_timeout = absl::Seconds(3);
    // Publishes unacknowledged at once, at most.
    std::size_t max_in_flight = 256;
    // Past this many unconfirmed events, while the stream cannot be reached,
    // the replica is not ready (CheckReady).
    std::uint64_t ready_outbox_limit = 1000;
  };

  // `client` and `outbox` must outlive the forwarder.
  OutboxForwarder(Options options, NatsClient& client, SqliteEventLog& outbox);
  ~OutboxForwarder();  // Stop(0)
  OutboxForwarder(const OutboxForwarder&) = delete;
  OutboxForwarder& operator=(const OutboxForwarder&) = delete;

  // Subscribes for acknowledgements and starts forwarding what the outbox
  // holds after its last release.
  absl::Status Start();

  // `outboxed` was committed to the outbox (its sequence is the outbox's);
  // `done` receives it with its stream sequence once the stream has it, or
  // with sequence 0 after `replication_wait`. Call in outbox order.
  void Track(EventPtr outboxed, EventLog::AppendCallback done);

  // Goes on forwarding for at most `grace`, answers what still waits with
  // sequence 0, writes the last release and stops. Idempotent.
  void Stop(absl::Duration grace);

  // The highest stream sequence acknowledged so far.
  std::uint64_t horizon() const;
  // Outbox events the stream has not confirmed yet.
  std::uint64_t depth() const;
  // OK, or UNAVAILABLE (REPLICATION_STALLED) while the stream cannot be
  // reached and more than `ready_outbox_limit` events wait, or while
  // forwarding stopped on an error that needs an operator.
  absl::Status CheckReady() const;

  void AddMetrics(PrometheusText& text) const;

 private:
  struct InFlight {
    absl::Time sent;
    // The highest stream sequence acknowledged before it was first sent.
    std::uint64_t bound = 0;
    std::uint32_t attempt = 0;
    // The publish failed or timed out: it may or may not be in the stream.
    bool failed = false;
  };
  struct Waiter {
    EventPtr event;
    EventLog::AppendCallback done;
    absl::Time deadline;
  };
  // An answer from the stream to one publish.
  struct Ack {
    std::uint64_t id = 0;
    std::uint32_t attempt = 0;
    std::uint64_t sequence = 0;  // 0: failed
    std::string error;
  };
  // A `done` to run outside mu_.
  struct Answer {
    Waiter waiter;
    std::uint64_t sequence = 0;
  };
  // What the loop does next.
  enum class Work { kNone, kEnsure, kReconcile, kSend, kStop };
  // One publish to make: an outbox sequence and its attempt.
  struct Send {
    std::uint64_t id;
    std::uint32_t attempt;
  };
  static constexpr std::uint64_t kNothingToRead =
      std::numeric_limits<std::uint64_t>::max();
  // A reconcile's read-back of the replica's subject: from stream sequence
  // `from` on (kNothingToRead: none), for outbox sequences in [lowest,
  // highest]; what it found (outbox sequence, stream sequence) and the last
  // stream sequence it saw.
  struct ReadBack {
    std::uint64_t from = kNothingToRead;
    std::uint64_t lowest = 0;
    std::uint64_t highest = 0;
    std::vector<std::pair<std::uint64_t, std::uint64_t>> found;
    std::uint64_t last_seen = 0;
  };

  static void OnAck(natsConnection* nc, natsSubscription* sub, natsMsg* msg,
                    void* self);
  static void OnAckSubscriptionDone(void* self);
  void Loop();
  // Waits for something to do (at most a tick), times publishes out,
  // releases what is confirmed, and says what the loop does next.
  Work NextWorkLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Takes in the outcome of EnsureStream (`ensure`) or Reconcile: go on,
  // back off, or stop for good.
  void AfterStreamCall(bool ensure, const absl::Status& status);
  // Answers the waiters whose wait is over, until Stop.
  void AnswerLoop();
  // Whether the loop can send now.
  bool CanSend() const ABSL_SHARED_LOCKS_REQUIRED(mu_);
  static void Run(std::vector<Answer>& answers);

  void HandleAck(const Ack& ack, std::vector<Answer>& answers)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The publish of `id` failed or timed out: it may or may not be in the
  // stream, and nothing more is sent until a read-back.
  void FailLocked(std::uint64_t id, InFlight& in_flight,
                  absl::string_view error) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Confirm(std::uint64_t id, std::uint64_t sequence,
               std::vector<Answer>& answers) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ExpireLocked(absl::Time now, std::vector<Answer>& answers)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool UnresolvedLocked() const ABSL_SHARED_LOCKS_REQUIRED(mu_);
  // Sends what the window allows. Takes and releases mu_ itself.
  void SendMore();
  // Marks the next events the window allows in flight.
  std::vector<Send> ClaimSendsLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Hands one event to the connection.
  natsStatus Publish(const StoredEvent& event, const Send& send);
  // Reads back the replica's subject and confirms what the stream has; OK
  // when forwarding may resume.
  absl::Status Reconcile();
  // Reconcile's read of the stream: fills `scan.found`.
  absl::Status ReadBackFromStream(ReadBack& scan);
  // FAILED_PRECONDITION when the outbox's event `id` is not `message`.
  absl::Status CheckOutboxHolds(const StreamMessage& message, std::uint64_t id);
  // The events with outbox sequences in (after, through], from the cache or
  // the outbox.
  absl::Status ReadOutbox(std::uint64_t after, std::uint64_t through,
                          std::size_t max_events, std::vector<EventPtr>& out);
  void ReleaseConfirmed() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::uint64_t BookmarkLocked() const ABSL_SHARED_LOCKS_REQUIRED(mu_);
  std::uint64_t DepthLocked() const ABSL_SHARED_LOCKS_REQUIRED(mu_);
  std::string MessageId(std::uint64_t id) const;

  const Options options_;
  NatsClient& client_;
  SqliteEventLog& outbox_;
  const std::string subject_;
  std::string reply_prefix_;  // set by Start
  natsSubscription* ack_subscription_ = nullptr;
  std::thread thread_;
  std::thread answer_thread_;

  mutable absl::Mutex mu_;
  std::map<std::uint64_t, InFlight> in_flight_ ABSL_GUARDED_BY(mu_);
  std::map<std::uint64_t, Waiter> waiters_ ABSL_GUARDED_BY(mu_);
  // Recently tracked events, by outbox sequence from cache_first_, so that
  // most sends need no read of the outbox.
  std::deque<EventPtr> cache_ ABSL_GUARDED_BY(mu_);
  std::uint64_t cache_first_ ABSL_GUARDED_BY(mu_) = 0;
  // Every outbox sequence up to this one is in the stream; some above it
  // may be too.
  std::uint64_t confirmed_through_ ABSL_GUARDED_BY(mu_) = 0;
  std::set<std::uint64_t> confirmed_ahead_ ABSL_GUARDED_BY(mu_);
  // The last outbox sequence that may be sent: what the outbox held at start
  // and what was tracked since.
  std::uint64_t sendable_through_ ABSL_GUARDED_BY(mu_) = 0;
  // The next outbox sequence to send.
  std::uint64_t next_ ABSL_GUARDED_BY(mu_) = 1;
  // Publishes so far: each one's reply subject names its attempt.
  std::uint32_t attempts_ ABSL_GUARDED_BY(mu_) = 0;
  std::uint64_t horizon_ ABSL_GUARDED_BY(mu_) = 0;
  // Unconfirmed events of an earlier run may be in the stream above this
  // sequence: they must be read back before anything is sent.
  bool need_reconcile_ ABSL_GUARDED_BY(mu_) = false;
  std::uint64_t reconcile_from_ ABSL_GUARDED_BY(mu_) = 0;
  // A publish failed: nothing more is sent until a reconcile.
  bool failing_ ABSL_GUARDED_BY(mu_) = false;
  bool stream_ready_ ABSL_GUARDED_BY(mu_) = false;
  absl::Time retry_at_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  absl::Duration backoff_ ABSL_GUARDED_BY(mu_);
  // Forwarding stopped for good (the outbox does not match the stream).
  absl::Status broken_ ABSL_GUARDED_BY(mu_);
  std::uint64_t released_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Time release_at_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  // Set once forwarding stopped: the answer thread answers what is left.
  bool answering_done_ ABSL_GUARDED_BY(mu_) = false;
  absl::Time stop_deadline_ ABSL_GUARDED_BY(mu_) = absl::InfiniteFuture();
  bool ack_subscription_done_ ABSL_GUARDED_BY(mu_) = false;
  absl::Mutex stop_mu_;  // serializes Stop

  std::atomic<std::uint64_t> published_{0};
  std::atomic<std::uint64_t> failed_publishes_{0};
  std::atomic<std::uint64_t> reconciles_{0};
  std::atomic<std::uint64_t> pending_answers_{0};
  LatencyHistogram publish_latency_;
};

}  // namespace paradym::webhooks

#endif  // PARADYM_WEBHOOKS_SERVER_STORE_OUTBOX_FORWARDER_H_
