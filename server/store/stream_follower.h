// Keeps a replica's read copy of the shared stream: one ordered consumer
// from the copy's last sequence on, each message stored in the copy (a
// SqliteEventLog in copy mode) with its stream sequence, in order. The copy
// announces what it stores, so every replica's subscribers see every
// replica's events, in the stream's order.
//
// The copy is not authoritative: it follows the stream's retention (the
// stream's first sequence, read every few seconds), and a copy that does not
// match the stream (CheckCopy) is rebuilt from it by its owner.
//
//   StreamFollower follower(options, client, copy);
//   if (!follower.CheckCopy().ok()) { /* rebuild the copy */ }
//   follower.Start();
//   ...
//   follower.Stop();
//
// Thread-safe; one thread of its own reads the stream.

#ifndef PARADYM_WEBHOOKS_SERVER_STORE_STREAM_FOLLOWER_H_
#define PARADYM_WEBHOOKS_SERVER_STORE_STREAM_FOLLOWER_H_

#include <cstddef>
#include <cstdint>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/store/jetstream_stream.h"
#include "server/store/nats_client.h"
#include "server/store/sqlite_event_log.h"

namespace paradym::webhooks {

class StreamFollower {
 public:
  struct Options {
    StreamSpec stream;
    // The ordered consumer's idle heartbeat: a consumer lost with its server
    // is noticed (and recreated) after a few of them.
    absl::Duration heartbeat = absl::Seconds(1);
    // How often the stream's first and last sequences are read.
    absl::Duration refresh_interval = absl::Seconds(2);
    // Events handed to the copy and not yet stored, at most.
    std::size_t max_outstanding = 8192;
  };

  // `client` and `copy` must outlive the follower.
  StreamFollower(Options options, NatsClient& client, SqliteEventLog& copy);
  ~StreamFollower();  // Stop()
  StreamFollower(const StreamFollower&) = delete;
  StreamFollower& operator=(const StreamFollower&) = delete;

  // OK when the copy's newest event is the stream's (or the stream no
  // longer holds it). FAILED_PRECONDITION when the copy holds what the
  // stream does not: the stream was recreated. UNAVAILABLE when the stream
  // cannot be asked.
  absl::Status CheckCopy() const;

  void Start();
  // Stops reading; the copy keeps what it stored. Idempotent.
  void Stop();

  // The highest stream sequence known to exist.
  std::uint64_t horizon() const;
  // OK, or UNAVAILABLE (REPLICATION_STALLED) once the copy turned out not to
  // match the stream while running: a restart rebuilds it.
  absl::Status CheckReady() const;

 private:
  // What Follow did.
  enum class Followed {
    kFollowing,  // subscribed
    kRetry,      // waited a moment: go around again
    kStop,       // stopping, or the copy does not match the stream
  };

  void Loop();
  // Whether the copy failed to store an event; if so, waits until it has
  // answered every event it was given.
  bool TakeCopyFailure();
  // Checks the copy against the stream and subscribes from its next
  // sequence.
  Followed Follow(natsSubscription*& subscription);
  // Takes the next message from the stream, if any, and feeds it to the
  // copy; unsubscribes when it cannot. `fresh`: the subscription is new.
  void ReceiveNext(natsSubscription*& subscription, bool& fresh);
  // Subscribes from the copy's next sequence.
  absl::StatusOr<natsSubscription*> Subscribe() const;
  // Reads the stream's first and last sequences: the copy releases what the
  // stream deleted, and the horizon moves up.
  void Refresh();
  // Waits up to `timeout` or until Stop; false once stopping.
  bool SleepFor(absl::Duration timeout);
  void Feed(natsMsg* msg, std::uint64_t sequence);

  const Options options_;
  NatsClient& client_;
  SqliteEventLog& copy_;
  std::thread thread_;

  mutable absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::uint64_t horizon_ ABSL_GUARDED_BY(mu_) = 0;
  // Events handed to the copy and not stored yet, and whether one failed.
  std::size_t outstanding_ ABSL_GUARDED_BY(mu_) = 0;
  bool copy_failed_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status broken_ ABSL_GUARDED_BY(mu_);
  std::uint64_t released_ ABSL_GUARDED_BY(mu_) = 0;

  // Used by the follower's thread only.
  std::uint64_t fed_ = 0;  // the last sequence handed to the copy
};

}  // namespace paradym::webhooks

#endif  // PARADYM_WEBHOOKS_SERVER_STORE_STREAM_FOLLOWER_H_
