#include "server/grpc/write_pacer.h"

#include <pthread.h>

#include <algorithm>
#include <utility>

#include "absl/time/clock.h"

namespace paradym::webhooks {
namespace {

// The millisecond at or after `at`.
std::int64_t Millisecond(absl::Time at) {
  return absl::ToInt64Milliseconds(
      absl::Ceil(at - absl::UnixEpoch(), absl::Milliseconds(1)));
}

}  // namespace

WritePacer::WritePacer(Options options)
    : options_(options), thread_([this] { Run(); }) {}

WritePacer::~WritePacer() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    wake_.Signal();
  }
  thread_.join();
}

absl::Duration WritePacer::Interval() const {
  const absl::Duration max_interval =
      std::max(options_.min_interval, options_.max_interval);
  if (options_.writes_per_second <= 0) return max_interval;
  const int busy = busy_.load(std::memory_order_relaxed);
  return std::clamp(absl::Seconds(busy / options_.writes_per_second),
                    options_.min_interval, max_interval);
}

void WritePacer::Schedule(Stream& stream, absl::Time at) {
  const std::int64_t turn = Millisecond(at);
  absl::MutexLock lock(&mu_);
  if (!waiting_.try_emplace(&stream, turn).second) return;
  // Only a turn before every other needs the thread to wake sooner.
  if (turns_.empty() || turn < turns_.begin()->first) wake_.Signal();
  turns_[turn].push_back(&stream);
}

void WritePacer::Cancel(Stream& stream) {
  absl::MutexLock lock(&mu_);
  if (auto waiting = waiting_.find(&stream); waiting != waiting_.end()) {
    // Run() may have taken its millisecond's streams already: then it skips
    // those no longer waiting.
    if (auto turn = turns_.find(waiting->second); turn != turns_.end()) {
      std::vector<Stream*>& streams = turn->second;
      streams.erase(std::remove(streams.begin(), streams.end(), &stream),
                    streams.end());
      if (streams.empty()) turns_.erase(turn);
    }
    waiting_.erase(waiting);
  }
  struct Args {
    WritePacer* pacer;
    Stream* stream;
  } args{this, &stream};
  mu_.Await(absl::Condition(
      +[](Args* a) ABSL_NO_THREAD_SAFETY_ANALYSIS {  // Await holds mu_
        return a->pacer->running_ != a->stream;
      },
      &args));
}

void WritePacer::Run() {
  pthread_setname_np(pthread_self(), "write_pacer");
  mu_.Lock();
  while (!stopping_) {
    if (turns_.empty()) {
      wake_.Wait(&mu_);
      continue;
    }
    const absl::Time at =
        absl::UnixEpoch() + absl::Milliseconds(turns_.begin()->first);
    if (absl::Now() < at) {
      wake_.WaitWithDeadline(&mu_, at);
      continue;
    }
    std::vector<Stream*> due = std::move(turns_.begin()->second);
    turns_.erase(turns_.begin());
    for (Stream* stream : due) {
      if (waiting_.erase(stream) == 0) continue;  // cancelled meanwhile
      running_ = stream;
      mu_.Unlock();
      stream->OnTurn();
      mu_.Lock();
      running_ = nullptr;
    }
  }
  mu_.Unlock();
}

}  // namespace paradym::webhooks
