// Spaces the writes of many streams, and gives each its turn on one thread.
//
// A write to a stream costs far more than its bytes: a hand-off between
// threads, a system call, the peer's acknowledgements. A stream that writes
// at most every Interval() sends the events that arrive meanwhile together.
// The interval grows with the number of streams that have events to send, so
// that together they start about `writes_per_second` writes a second, from
// `min_interval` (a lone busy stream, or light load) to `max_interval` (the
// longest pacing holds an event back).
//
// A stream that must wait for its next write asks for a turn at a time;
// turns are rounded up to whole milliseconds and run on the pacer's own
// thread, so that one wake-up serves every stream due in that millisecond
// (instead of a timer and a thread hop for each write).
//
//   WritePacer pacer({absl::Milliseconds(1), absl::Milliseconds(25), 4000});
//   pacer.Busy();                      // a stream has events to send
//   pacer.Schedule(stream, absl::Now() + pacer.Interval());
//   ...                                // stream.OnTurn() runs on the thread
//   pacer.Cancel(stream);              // before the stream goes away
//   pacer.Idle();                      // nothing left to send
//
// Thread-safe.

#ifndef PARADYM_WEBHOOKS_SERVER_GRPC_WRITE_PACER_H_
#define PARADYM_WEBHOOKS_SERVER_GRPC_WRITE_PACER_H_

#include <atomic>
#include <cstdint>
#include <map>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace paradym::webhooks {

class WritePacer {
 public:
  struct Options {
    absl::Duration min_interval = absl::Milliseconds(1);
    absl::Duration max_interval = absl::Milliseconds(25);
    double writes_per_second = 4000;
  };

  // What gets turns.
  class Stream {
   public:
    virtual ~Stream() = default;
    // Its turn has come. Runs on the pacer's thread.
    virtual void OnTurn() = 0;
  };

  explicit WritePacer(Options options);
  // Every stream must have been cancelled.
  ~WritePacer();

  WritePacer(const WritePacer&) = delete;
  WritePacer& operator=(const WritePacer&) = delete;

  // A stream has events to send, or has none any more.
  void Busy() { busy_.fetch_add(1, std::memory_order_relaxed); }
  void Idle() { busy_.fetch_sub(1, std::memory_order_relaxed); }

  // How long a stream that starts a write now waits before its next one.
  absl::Duration Interval() const;

  // Runs stream.OnTurn() once, at `at` or within the millisecond after. A
  // stream already waiting for its turn keeps it.
  void Schedule(Stream& stream, absl::Time at);

  // Takes back `stream`'s turn: when this returns, its OnTurn is not running
  // and will not run. Must not be called from its own OnTurn.
  void Cancel(Stream& stream);

 private:
  void Run();

  const Options options_;
  std::atomic<int> busy_{0};
  absl::Mutex mu_;
  absl::CondVar wake_;
  // Streams by the millisecond (since the Unix epoch) of their turn.
  std::map<std::int64_t, std::vector<Stream*>> turns_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<Stream*, std::int64_t> waiting_ ABSL_GUARDED_BY(mu_);
  Stream* running_ ABSL_GUARDED_BY(mu_) = nullptr;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace paradym::webhooks

#endif  // PARADYM_WEBHOOKS_SERVER_GRPC_WRITE_PACER_H_
