// The durable EventLog: SQLite in WAL mode, in one file under a data
// directory (`events.db`, with its `-wal` and `-shm` companions).
//
// Appends are group-committed by two threads:
//   - the writer takes every event waiting, gives them the next sequences,
//     commits them in one transaction (SQLite's synchronous=NORMAL: the WAL
//     is written, not fsynced), fsyncs the WAL once for the group
//     (Sync::kFull) and runs their callbacks in sequence order; what arrives
//     meanwhile forms the next group, so one fsync serves every request that
//     waited for it, with no hand-off between threads;
//   - the checkpointer copies the WAL into the database file in the
//     background every few hundred frames (SQLite would otherwise do it
//     inside a commit, stalling every request for milliseconds); under
//     steady load the writer completes a checkpoint now and then, between
//     groups, so that the WAL starts over and stays small.
// A group that fails to commit is rolled back whole and its sequences are
// given again to the next group, so the stored sequences stay gap-free.
// Readers use connections of their own, which WAL lets read while the writer
// commits, and see an event only once it is durable (and it is announced to
// the listener then, just before its callback runs). Retention deletes the
// oldest events on the writer thread, in small transactions between groups,
// so that ingestion never waits long behind it.
//
// A row keeps what its event is derived from when StoredEvent says it can
// be (derived_from_body(): receive time, endpoint and body; the event, its
// filter fields and its replay digest are derived again by
// StoredEvent::FromBody when read, and the replay index at open), else the
// event's whole encoding.
//
// The same machinery serves JetStreamEventLog twice: as a replica's outbox
// (sequences assigned here, events released once the stream has them) and as
// its read copy of the stream (Options::assign_sequences = false: the events
// come with the stream's sequences).
//
//   absl::StatusOr<std::unique_ptr<SqliteEventLog>> log =
//       SqliteEventLog::Open({.directory = "./data"}, clock);
//   (*log)->Append(std::move(event), [](absl::StatusOr<EventPtr> stored) {});
//   (*log)->Close();  // commits what is waiting, then stops the writer
//
// One process at a time: Open takes a lock on the directory.
//
// The pieces: sqlite_connection.h wraps SQLite's calls and maps its errors;
// sqlite_schema.h makes the checks at open (directory, lock, file mode, WAL,
// format and migrations); this file is the log itself.

#ifndef PARADYM_WEBHOOKS_SERVER_STORE_SQLITE_EVENT_LOG_H_
#define PARADYM_WEBHOOKS_SERVER_STORE_SQLITE_EVENT_LOG_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/core/clock.h"
#include "server/core/event_log.h"
#include "server/core/metrics.h"
#include "server/core/replay_index.h"

struct sqlite3;

namespace paradym::webhooks {
namespace sqlite {
class Connection;
}  // namespace sqlite

// Thread-safe, as every EventLog; its writer and checkpointer threads are
// its own.
class SqliteEventLog final : public EventLog {
 public:
  // What "committed" means before an append's callback runs.
  enum class Sync {
    // The WAL is fsynced at every commit: a committed event survives a crash
    // of the process and of the machine (power loss).
    kFull,
    // No fsync at commit: a committed event survives a crash of the process
    // (kill -9), but the last commits may be lost if the machine loses power.
    kNormal,
  };

  struct Options {
    // Created if missing. The store is `events.db` in it.
    std::string directory = "./data";
    Sync sync = Sync::kFull;
    // Events received longer ago than this are deleted; InfiniteDuration()
    // keeps them.
    absl::Duration retention = absl::Hours(7 * 24);
    // When more events than this are held, the oldest are deleted; 0 keeps
    // any number.
    std::uint64_t max_events = 0;
    // True: Append gives events the next sequences. False: events come with
    // their sequences set (a copy of another log), each the next one, but
    // for a jump announced with SkipTo.
    bool assign_sequences = true;
    // The most events, and bytes of them, committed in one transaction.
    std::size_t max_batch_events = 1024;
    std::size_t max_batch_bytes = std::size_t{16} << 20;
    // How often retention looks for events to delete, and how many it
    // deletes in one transaction.
    absl::Duration retention_interval = absl::Seconds(1);
    std::size_t retention_chunk = 2000;
  };

  // Counters for /metrics.
  struct Stats {
    std::atomic<std::uint64_t> commits{0};
    std::atomic<std::uint64_t> committed_events{0};
    std::atomic<std::uint64_t> failed_commits{0};
    std::atomic<std::uint64_t> deleted_events{0};
    // Time from the start of a group's transaction to its commit.
    LatencyHistogram commit_latency;
    // Time to fsync the WAL (Sync::kFull).
    LatencyHistogram sync_latency;
    std::atomic<std::uint64_t> checkpoints{0};
  };

  // Opens or creates the store in `options.directory`, recovering from a
  // crash on its own (SQLite replays or discards the WAL). Errors name the
  // problem and the path: FAILED_PRECONDITION when the directory cannot be
  // created or written, is locked by another process or holds something else
  // or a newer format; DATA_LOSS when the store is corrupt. `clock` must
  // outlive the log.
  static absl::StatusOr<std::unique_ptr<SqliteEventLog>> Open(
      Options options, const Clock& clock);

  ~SqliteEventLog() override;  // Close()s

  void Append(std::shared_ptr<StoredEvent> event, AppendCallback done) override;
  absl::Status ReadAfter(std::uint64_t after, std::uint64_t up_to,
                         std::size_t max_events,
                         std::vector<EventPtr>& out) const override;
  SequenceRange Range() const override;
  // From an index in memory, rebuilt from the store at open; it forgets the
  // events retention deletes.
  std::optional<std::uint64_t> FindReplay(
      const ReplayDigest& digest) const override;
  void AddMetrics(PrometheusText& text) const override;

  // Retained events whose replay digest the index holds.
  std::size_t replay_digests() const { return replays_.size(); }

  // Deletes what retention allows now, and returns when that is done.
  absl::Status EnforceRetentionForTest();

  // For a copy: the next event may have `sequence` although that leaves a
  // gap, because the source no longer has what is before it; every event
  // before it is dropped here too, in the transaction that stores it. A jump
  // that was not announced is refused (FAILED_PRECONDITION).
  void SkipTo(std::uint64_t sequence);

  // What the owner released, and the number it keeps with that.
  struct Released {
    std::uint64_t through = 0;
    std::uint64_t bookmark = 0;
  };
  // Marks the events through `through` as no longer needed: retention deletes
  // them soon. `bookmark` is an opaque number kept with the release; both are
  // written in the background, in a transaction of their own, and read back
  // by released() after a restart (a crash may lose the last release, never
  // tear it). `through` must not decrease.
  void Release(std::uint64_t through, std::uint64_t bookmark = 0);
  Released released() const;

  // Refuses further appends (UNAVAILABLE, SHUTTING_DOWN), commits those
  // waiting, runs their callbacks and stops the writer. Reads keep working.
  // Idempotent.
  void Close();

  const Stats& stats() const { return stats_; }
  const std::string& path() const { return path_; }

 private:
  struct Pending {
    std::shared_ptr<StoredEvent> event;
    AppendCallback done;
  };
  // A group the writer committed (sequences set), or refused with `status`.
  struct Written {
    std::vector<Pending> events;
    absl::Status status;
  };
  // What the writer does next.
  enum class Turn { kCommit, kRetention, kWait, kStop };
  // The writer's retention schedule.
  struct RetentionTurns {
    absl::Time next;    // when retention looks again
    bool more = false;  // the last step left more to delete
    // Under a backlog that never empties, retention and groups take turns,
    // so that neither waits for the other for long.
    bool last_was_retention = false;
  };

  SqliteEventLog(Options options, const Clock& clock);

  absl::Status OpenWriter();
  // Reads what the store holds (at open): its range, replay index and
  // release.
  absl::Status ReadState();
  absl::Status OpenCheckpointer();
  absl::Status OpenWal();

  void WriterLoop();
  bool WriterHasWork() const ABSL_SHARED_LOCKS_REQUIRED(mu_);
  // Waits for work and says which; fills `batch` for kCommit, and sets
  // `requested` to the retention passes asked for so far.
  Turn AwaitTurn(const RetentionTurns& retention, std::vector<Pending>& batch,
                 std::uint64_t& requested);
  // Moves the next group from pending_ into `batch` (empty).
  void TakeBatchLocked(std::vector<Pending>& batch)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // One retention step; a pass that ends answers EnforceRetentionForTest's
  // `requested` callers.
  void RunRetention(RetentionTurns& retention, std::uint64_t requested);
  // Writes the last release and answers the last EnforceRetentionForTest
  // callers.
  void StopWriter();

  Written CommitBatch(std::vector<Pending> batch);
  // For a copy (!assign_sequences): whether a group from `first` may follow
  // the last stored; sets `drop_before` for an announced jump.
  absl::Status CheckCopySequence(std::uint64_t first,
                                 std::uint64_t& drop_before);
  // After a failed commit: counts it and continues from what the store
  // holds.
  void RecoverFromFailedCommit(const Written& written);
  // Fsyncs the WAL for a committed group (Sync::kFull), shows it to readers
  // and runs its callbacks; or runs them with the refusal.
  void Finish(Written written);
  // Fsyncs the WAL (Sync::kFull) for a group of `events`.
  absl::Status SyncWal(std::size_t events);

  void CheckpointerLoop();
  // Copies what is left of the WAL into the database file, on the writer
  // thread, so that the next commit starts the WAL over.
  void CompleteCheckpoint();
  // Counts a checkpoint's success or logs its failure.
  void CountCheckpoint(int rc, sqlite3* db);
  // Called by SQLite on the writer thread after each commit.
  static int OnWalCommit(void* self, sqlite3* db, const char* name, int frames);

  // Inserts `batch` with sequences from `first_sequence` on (events with
  // their own sequences when !assign_sequences), after deleting every event
  // before `drop_before` when that is not 0, in one transaction.
  absl::Status InsertBatch(const std::vector<Pending>& batch,
                           std::uint64_t first_sequence,
                           std::uint64_t drop_before);
  // InsertBatch's statements, inside its transaction.
  absl::Status WriteBatch(const std::vector<Pending>& batch,
                          std::uint64_t first_sequence,
                          std::uint64_t drop_before);
  // Deletes the events before `end` and remembers that it did (no
  // transaction of its own); returns SQLite's result code.
  int DropBefore(std::uint64_t end);
  // Writes the release asked for last, if it is not written yet.
  absl::Status WriteRelease();
  // Deletes one chunk of what retention allows. Sets `more` when another
  // chunk is due.
  absl::Status RetentionStep(bool& more);
  // Where the next retention step ends: the first sequence of `range` it
  // keeps, at most `chunk_end`.
  absl::StatusOr<std::uint64_t> RetentionEnd(const SequenceRange& range,
                                             std::uint64_t chunk_end);
  // The range the store holds, read from the file (at open, and after a
  // failure).
  absl::StatusOr<SequenceRange> ReadRange();
  absl::StatusOr<Released> ReadReleased();
  // Fills replays_ from the store (at open).
  absl::Status ReadReplayIndex();

  // A reader connection from the pool, or a new one.
  absl::StatusOr<std::unique_ptr<sqlite::Connection>> AcquireReader() const;
  void ReleaseReader(std::unique_ptr<sqlite::Connection> reader) const;
  // ReadAfter's query on `reader`, for (after, last].
  absl::Status ReadRows(sqlite::Connection& reader, std::uint64_t after,
                        std::uint64_t last, std::size_t max_events,
                        std::vector<EventPtr>& out) const;

  const Options options_;
  const Clock& clock_;
  const std::string path_;
  int lock_fd_ = -1;
  int wal_fd_ = -1;  // the WAL, for the writer's fsync

  // Used by the writer thread only (and by Open before it starts).
  std::unique_ptr<sqlite::Connection> writer_;
  // The insert statement for the table's layout (new, or migrated).
  const char* insert_ = nullptr;
  std::uint64_t last_written_ = 0;  // the last sequence committed
  // WAL frames after the last commit, set by OnWalCommit.
  int wal_frames_ = 0;
  // The WAL's frames when the writer last asked for a background checkpoint.
  int checkpoint_asked_at_ = 0;
  // Used by the checkpointer thread only.
  std::unique_ptr<sqlite::Connection> checkpointer_;

  mutable absl::Mutex mu_;
  std::deque<Pending> pending_ ABSL_GUARDED_BY(mu_);
  bool closing_ ABSL_GUARDED_BY(mu_) = false;
  // EnforceRetentionForTest requests and the passes completed, so callers can
  // wait.
  std::uint64_t retention_requested_ ABSL_GUARDED_BY(mu_) = 0;
  std::uint64_t retention_done_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Status retention_status_ ABSL_GUARDED_BY(mu_);
  // The jump SkipTo allows, 0 for none.
  std::uint64_t skip_to_ ABSL_GUARDED_BY(mu_) = 0;
  // The release asked for, and whether the writer has yet to write it.
  Released released_ ABSL_GUARDED_BY(mu_);
  bool release_unwritten_ ABSL_GUARDED_BY(mu_) = false;
  std::thread writer_thread_;
  absl::Mutex close_mu_;  // serializes Close

  absl::Mutex checkpoint_mu_;
  bool checkpoint_wanted_ ABSL_GUARDED_BY(checkpoint_mu_) = false;
  bool checkpoint_running_ ABSL_GUARDED_BY(checkpoint_mu_) = false;
  bool checkpointer_done_ ABSL_GUARDED_BY(checkpoint_mu_) = false;
  std::thread checkpointer_thread_;

  // What readers may see: durable events only.
  mutable absl::Mutex range_mu_;
  SequenceRange range_ ABSL_GUARDED_BY(range_mu_);

  mutable absl::Mutex readers_mu_;
  mutable std::vector<std::unique_ptr<sqlite::Connection>> idle_readers_
      ABSL_GUARDED_BY(readers_mu_);

  // The replay digests of the events readers can see.
  ReplayIndex replays_;

  Stats stats_;
};

}  // namespace paradym::webhooks

#endif  // PARADYM_WEBHOOKS_SERVER_STORE_SQLITE_EVENT_LOG_H_
