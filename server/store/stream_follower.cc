#include "server/store/stream_follower.h"

#include <algorithm>
#include <memory>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "server/core/errors.h"
#include "server/core/structured_log.h"

namespace paradym::webhooks {
namespace {

constexpr std::int64_t kNextMessageMillis = 200;
constexpr absl::Duration kRetry = absl::Milliseconds(500);
constexpr absl::Duration kReadTimeout = absl::Seconds(2);

// cnats 3.4 may crash destroying a subscription that messages still arrive
// on: unsubscribe first.
void Unsubscribe(natsSubscription*& subscription) {
  if (subscription == nullptr) return;
  natsSubscription_Unsubscribe(subscription);
  natsSubscription_Destroy(subscription);
  subscription = nullptr;
}

}  // namespace

StreamFollower::StreamFollower(Options options, NatsClient& client,
                               SqliteEventLog& copy)
    : options_(std::move(options)), client_(client), copy_(copy) {}

StreamFollower::~StreamFollower() { Stop(); }

absl::Status StreamFollower::CheckCopy() const {
  const std::uint64_t last = copy_.Range().last;
  if (last == 0) return absl::OkStatus();
  absl::StatusOr<StreamMessage> message =
      ReadStreamMessage(client_, options_.stream.name, last, "", kReadTimeout);
  if (absl::IsNotFound(message.status())) {
    return MakeError(
        absl::StatusCode::kFailedPrecondition, kStreamError,
        absl::StrCat("this replica's copy of the stream holds sequence ", last,
                     " but the stream ", options_.stream.name,
                     " has nothing from there on: the stream was recreated"));
  }
  if (!message.ok()) return message.status();
  if (message->sequence != last) {
    return absl::OkStatus();  // retention removed it there: nothing to compare
  }
  std::vector<EventPtr> held;
  if (absl::Status status = copy_.ReadAfter(last - 1, last, 1, held);
      !status.ok()) {
    return status.code() == absl::StatusCode::kOutOfRange ? absl::OkStatus()
                                                          : status;
  }
  if (held.empty() || !held.front()->SameEventAs(message->data)) {
    return MakeError(
        absl::StatusCode::kFailedPrecondition, kStreamError,
        absl::StrCat(
            "this replica's copy of the stream differs from the stream ",
            options_.stream.name, " at sequence ", last,
            ": the stream was recreated"));
  }
  return absl::OkStatus();
}

void StreamFollower::Start() {
  fed_ = copy_.Range().last;
  {
    absl::MutexLock lock(&mu_);
    horizon_ = fed_;
  }
  thread_ = std::thread([this] { Loop(); });
}

void StreamFollower::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

bool StreamFollower::SleepFor(absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  mu_.AwaitWithTimeout(absl::Condition(&stopping_), timeout);
  return !stopping_;
}

absl::StatusOr<natsSubscription*> StreamFollower::Subscribe() const {
  jsOptions js_options;
  jsOptions_Init(&js_options);
  js_options.Wait = 5000;
  jsSubOptions options;
  jsSubOptions_Init(&options);
  options.Stream = options_.stream.name.c_str();
  options.Ordered = true;
  options.Config.Heartbeat = absl::ToInt64Nanoseconds(options_.heartbeat);
  if (fed_ > 0) {
    options.Config.DeliverPolicy = js_DeliverByStartSequence;
    options.Config.OptStartSeq = fed_ + 1;
  } else {
    options.Config.DeliverPolicy = js_DeliverAll;
  }
  natsSubscription* subscription = nullptr;
  jsErrCode error_code = static_cast<jsErrCode>(0);
  const std::string subjects = StreamSubjects(options_.stream);
  const natsStatus s =
      js_SubscribeSync(&subscription, client_.jetstream(), subjects.c_str(),
                       &js_options, &options, &error_code);
  if (s != NATS_OK) {
    return NatsError(s, absl::StrCat("follow the stream ", options_.stream.name,
                                     " from sequence ", fed_ + 1));
  }
  return subscription;
}

void StreamFollower::Refresh() {
  absl::StatusOr<StreamState> state =
      ReadStreamState(client_, options_.stream.name);
  if (!state.ok()) return;
  absl::MutexLock lock(&mu_);
  horizon_ = std::max(horizon_, state->last_sequence);
  // The copy keeps what the stream keeps.
  if (state->first_sequence > released_ + 1) {
    released_ = state->first_sequence - 1;
    copy_.Release(released_);
  }
}

void StreamFollower::Feed(natsMsg* msg, std::uint64_t sequence) {
  const absl::string_view data(natsMsg_GetData(msg),
                               natsMsg_GetDataLength(msg));
  absl::StatusOr<std::shared_ptr<StoredEvent>> event =
      StoredEvent::FromEncoding(sequence, data);
  if (!event.ok()) {
    // Somebody else published on the stream's subjects. Keep it, so that
    // sequences stay gap-free; consumers see an event they cannot decode.
    Log(LogLevel::kError, "the stream holds a message that is not an event",
        {{"sequence", sequence}, {"error", event.status().message()}});
    StoredEvent::Parts parts;
    parts.sequence = sequence;
    parts.encoding_without_sequence = data;
    event = StoredEvent::FromParts(parts);
  }
  {
    absl::MutexLock lock(&mu_);
    ++outstanding_;
  }
  copy_.Append(std::move(event).value(),
               [this](absl::StatusOr<EventPtr> stored) {
                 absl::MutexLock lock(&mu_);
                 --outstanding_;
                 if (!stored.ok() && !copy_failed_) {
                   copy_failed_ = true;
                   Log(LogLevel::kError,
                       "this replica's copy of the stream cannot store; "
                       "retrying",
                       {{"error", stored.status().message()}});
                 }
               });
  fed_ = sequence;
}

void StreamFollower::Loop() {
  natsSubscription* subscription = nullptr;
  // Whether the next message is the first of a new subscription.
  bool fresh = false;
  absl::Time next_refresh = absl::InfinitePast();
  for (;;) {
    {
      absl::MutexLock lock(&mu_);
      if (stopping_) break;
    }
    if (absl::Now() >= next_refresh && client_.connected()) {
      Refresh();
      next_refresh = absl::Now() + options_.refresh_interval;
    }
    if (TakeCopyFailure()) {
      // Continue from what the copy really stored.
      Unsubscribe(subscription);
      fed_ = copy_.Range().last;
      if (!SleepFor(kRetry)) break;
      continue;
    }
    if (subscription == nullptr) {
      const Followed followed = Follow(subscription);
      if (followed == Followed::kStop) break;
      if (followed == Followed::kRetry) continue;
      fresh = true;
    }
    ReceiveNext(subscription, fresh);
  }
  Unsubscribe(subscription);
}

bool StreamFollower::TakeCopyFailure() {
  absl::MutexLock lock(&mu_);
  if (!copy_failed_) return false;
  // Once the copy has answered everything it was given.
  mu_.Await(absl::Condition(
      +[](StreamFollower* f)
           ABSL_NO_THREAD_SAFETY_ANALYSIS { return f->outstanding_ == 0; },
      this));
  copy_failed_ = false;
  return true;
}

StreamFollower::Followed StreamFollower::Follow(
    natsSubscription*& subscription) {
  if (!client_.connected()) {
    return SleepFor(kRetry) ? Followed::kRetry : Followed::kStop;
  }
  absl::Status status = CheckCopy();
  if (status.code() == absl::StatusCode::kFailedPrecondition) {
    Log(LogLevel::kError,
        "stopped following the stream; restart this replica to rebuild "
        "its copy",
        {{"error", status.message()}});
    absl::MutexLock lock(&mu_);
    broken_ = MakeError(absl::StatusCode::kUnavailable, kReplicationStalled,
                        status.message());
    return Followed::kStop;
  }
  absl::StatusOr<natsSubscription*> subscribed =
      status.ok() ? Subscribe() : status;
  if (!subscribed.ok()) {
    Log(LogLevel::kDebug, "cannot follow the stream yet",
        {{"error", subscribed.status().message()}});
    return SleepFor(kRetry) ? Followed::kRetry : Followed::kStop;
  }
  subscription = *subscribed;
  return Followed::kFollowing;
}

void StreamFollower::ReceiveNext(natsSubscription*& subscription, bool& fresh) {
  natsMsg* received = nullptr;
  const natsStatus s =
      natsSubscription_NextMsg(&received, subscription, kNextMessageMillis);
  NatsMsgPtr msg(received);
  if (s == NATS_TIMEOUT) return;
  jsMsgMetaData* found = nullptr;
  if (s != NATS_OK || natsMsg_GetMetaData(&found, msg.get()) != NATS_OK) {
    Log(LogLevel::kWarning, "following the stream failed; following again",
        {{"error", natsStatus_GetText(s)}});
    Unsubscribe(subscription);
    return;
  }
  std::unique_ptr<jsMsgMetaData, NatsDeleter> meta(found);
  const std::uint64_t sequence = meta->Sequence.Stream;
  {
    absl::MutexLock lock(&mu_);
    horizon_ = std::max(horizon_, sequence + meta->NumPending);
  }
  if (sequence <= fed_) return;
  if (sequence != fed_ + 1) {
    if (!fresh) {
      // The stream deleted what came next while we were reading: follow
      // again from where it starts now.
      Unsubscribe(subscription);
      return;
    }
    // A subscription from fed_ + 1 starts later only when the stream no
    // longer has what is between.
    Log(LogLevel::kInfo,
        "the stream no longer holds the events after this replica's copy; "
        "continuing where it starts",
        {{"copy_last", fed_}, {"stream_first", sequence}});
    copy_.SkipTo(sequence);
  }
  fresh = false;
  Feed(msg.get(), sequence);
  absl::MutexLock lock(&mu_);
  mu_.Await(absl::Condition(
      +[](StreamFollower* f) ABSL_NO_THREAD_SAFETY_ANALYSIS {
        return f->outstanding_ < f->options_.max_outstanding || f->stopping_;
      },
      this));
}

std::uint64_t StreamFollower::horizon() const {
  absl::MutexLock lock(&mu_);
  return horizon_;
}

absl::Status StreamFollower::CheckReady() const {
  absl::MutexLock lock(&mu_);
  return broken_;
}

}  // namespace paradym::webhooks
