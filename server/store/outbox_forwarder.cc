#include "server/store/outbox_forwarder.h"

#include <algorithm>
#include <limits>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "rapidjson/document.h"
#include "server/core/errors.h"
#include "server/core/status_macros.h"
#include "server/core/structured_log.h"

namespace paradym::webhooks {
namespace {

// Recently tracked events kept for sending without a read of the outbox.
constexpr std::size_t kCacheEvents = 4096;
// The loop looks at timeouts and the connection at least this often.
constexpr absl::Duration kTick = absl::Milliseconds(50);
// Confirmed events are released from the outbox at most this often.
constexpr absl::Duration kReleaseInterval = absl::Milliseconds(100);
constexpr absl::Duration kMinBackoff = absl::Milliseconds(100);
constexpr absl::Duration kMaxBackoff = absl::Seconds(2);
// One read of the stream while reconciling.
constexpr absl::Duration kReadTimeout = absl::Seconds(2);

// The answer to one publish, from the reply's data: the stream sequence, or
// why it failed.
void ParsePubAck(natsMsg* msg, std::uint64_t& sequence, std::string& error) {
  if (natsMsg_IsNoResponders(msg)) {
    error = "no responders (the stream has no leader now)";
    return;
  }
  rapidjson::Document reply;
  reply.Parse(natsMsg_GetData(msg), natsMsg_GetDataLength(msg));
  if (reply.HasParseError() || !reply.IsObject()) {
    error = "an acknowledgement that is not JSON";
    return;
  }
  if (const auto e = reply.FindMember("error");
      e != reply.MemberEnd() && e->value.IsObject()) {
    const auto description = e->value.FindMember("description");
    error = description != e->value.MemberEnd() && description->value.IsString()
                ? description->value.GetString()
                : "the stream refused the event";
    return;
  }
  const auto seq = reply.FindMember("seq");
  if (seq == reply.MemberEnd() || !seq->value.IsUint64() ||
      seq->value.GetUint64() == 0) {
    // A duplicate of a publish not stored yet also answers seq 0.
    error = "an acknowledgement without a sequence";
    return;
  }
  sequence = seq->value.GetUint64();
}

}  // namespace

OutboxForwarder::OutboxForwarder(Options options, NatsClient& client,
                                 SqliteEventLog& outbox)
    : options_(std::move(options)),
      client_(client),
      outbox_(outbox),
      subject_(ReplicaSubject(options_.stream, options_.replica)),
      backoff_(kMinBackoff) {}

OutboxForwarder::~OutboxForwarder() { Stop(absl::ZeroDuration()); }

std::string OutboxForwarder::MessageId(std::uint64_t id) const {
  return absl::StrCat(options_.replica, ":", id);
}

absl::Status OutboxForwarder::Start() {
  const SqliteEventLog::Released released = outbox_.released();
  const SequenceRange range = outbox_.Range();
  {
    absl::MutexLock lock(&mu_);
    confirmed_through_ = released.through;
    released_ = released.through;
    next_ = released.through + 1;
    sendable_through_ = std::max(range.last, released.through);
    horizon_ = released.bookmark;
    // What the outbox holds beyond its release may be in the stream
    // already: an acknowledgement lost in a crash.
    need_reconcile_ = range.last > released.through;
    reconcile_from_ = released.bookmark;
  }
  natsInbox* inbox = nullptr;
  natsStatus s = natsInbox_Create(&inbox);
  if (s != NATS_OK) return NatsError(s, "create an inbox");
  reply_prefix_ = inbox;
  natsInbox_Destroy(inbox);
  s = natsConnection_Subscribe(&ack_subscription_, client_.connection(),
                               absl::StrCat(reply_prefix_, ".>").c_str(),
                               &OutboxForwarder::OnAck, this);
  if (s == NATS_OK) {
    s = natsSubscription_SetPendingLimits(ack_subscription_, -1, -1);
  }
  if (s == NATS_OK) {
    s = natsSubscription_SetOnCompleteCB(
        ack_subscription_, &OutboxForwarder::OnAckSubscriptionDone, this);
  }
  if (s != NATS_OK) return NatsError(s, "subscribe for acknowledgements");
  thread_ = std::thread([this] { Loop(); });
  answer_thread_ = std::thread([this] { AnswerLoop(); });
  return absl::OkStatus();
}

void OutboxForwarder::OnAck(natsConnection* /*nc*/, natsSubscription* /*sub*/,
                            natsMsg* msg, void* self) {
  NatsMsgPtr owned(msg);
  auto* forwarder = static_cast<OutboxForwarder*>(self);
  // The reply subject is <prefix>.<outbox sequence>.<attempt>.
  absl::string_view subject = natsMsg_GetSubject(msg);
  if (!absl::ConsumePrefix(&subject, forwarder->reply_prefix_) ||
      !absl::ConsumePrefix(&subject, ".")) {
    return;
  }
  std::pair<absl::string_view, absl::string_view> parts =
      absl::StrSplit(subject, absl::MaxSplits('.', 1));
  Ack ack;
  if (!absl::SimpleAtoi(parts.first, &ack.id) ||
      !absl::SimpleAtoi(parts.second, &ack.attempt)) {
    return;
  }
  ParsePubAck(msg, ack.sequence, ack.error);
  std::vector<Answer> answers;
  {
    absl::MutexLock lock(&forwarder->mu_);
    forwarder->HandleAck(ack, answers);
  }
  Run(answers);
}

void OutboxForwarder::Run(std::vector<Answer>& answers) {
  for (Answer& answer : answers) {
    std::move(answer.waiter.done)(
        answer.waiter.event->WithSequence(answer.sequence));
  }
  answers.clear();
}

void OutboxForwarder::OnAckSubscriptionDone(void* self) {
  auto* forwarder = static_cast<OutboxForwarder*>(self);
  absl::MutexLock lock(&forwarder->mu_);
  forwarder->ack_subscription_done_ = true;
}

void OutboxForwarder::Track(EventPtr outboxed, EventLog::AppendCallback done) {
  const std::uint64_t id = outboxed->sequence();
  absl::MutexLock lock(&mu_);
  sendable_through_ = std::max(sendable_through_, id);
  if (cache_.empty() || id != cache_first_ + cache_.size()) {
    cache_.clear();
    cache_first_ = id;
  }
  cache_.push_back(outboxed);
  if (cache_.size() > kCacheEvents) {
    cache_.pop_front();
    ++cache_first_;
  }
  waiters_.emplace(id, Waiter{std::move(outboxed), std::move(done),
                              absl::Now() + options_.replication_wait});
}

bool OutboxForwarder::CanSend() const {
  return broken_.ok() && stream_ready_ && !failing_ && !need_reconcile_ &&
         next_ <= sendable_through_ &&
         in_flight_.size() < options_.max_in_flight && client_.connected();
}

void OutboxForwarder::AnswerLoop() {
  std::vector<Answer> answers;
  for (bool stop = false; !stop;) {
    {
      absl::MutexLock lock(&mu_);
      struct Wait {
        const OutboxForwarder* forwarder;
        absl::Time until;  // the first deadline, when the wait began
      } wait{this, waiters_.empty() ? absl::InfiniteFuture()
                                    : waiters_.begin()->second.deadline};
      mu_.AwaitWithDeadline(
          absl::Condition(
              +[](Wait* w) ABSL_NO_THREAD_SAFETY_ANALYSIS {
                const OutboxForwarder& f = *w->forwarder;
                return f.answering_done_ ||
                       (!f.waiters_.empty() &&
                        f.waiters_.begin()->second.deadline < w->until);
              },
              &wait),
          wait.until);
      stop = answering_done_;
      ExpireLocked(stop ? absl::InfiniteFuture() : absl::Now(), answers);
    }
    Run(answers);
  }
}

void OutboxForwarder::Loop() {
  for (;;) {
    Work work = Work::kNone;
    {
      absl::MutexLock lock(&mu_);
      work = NextWorkLocked();
    }
    switch (work) {
      case Work::kStop:
        return;
      case Work::kEnsure:
        AfterStreamCall(true, EnsureStream(client_, options_.stream));
        break;
      case Work::kReconcile:
        AfterStreamCall(false, Reconcile());
        break;
      case Work::kSend:
        SendMore();
        break;
      case Work::kNone:
        break;
    }
  }
}

OutboxForwarder::Work OutboxForwarder::NextWorkLocked() {
  mu_.AwaitWithDeadline(
      absl::Condition(
          +[](OutboxForwarder* f) ABSL_NO_THREAD_SAFETY_ANALYSIS {
            return f->CanSend() || (f->stopping_ && f->DepthLocked() == 0 &&
                                    f->in_flight_.empty());
          },
          this),
      std::min(absl::Now() + kTick, stop_deadline_));
  const absl::Time now = absl::Now();
  for (auto& [id, in_flight] : in_flight_) {
    if (!in_flight.failed && now - in_flight.sent >= options_.publish_timeout) {
      FailLocked(id, in_flight, "no acknowledgement in time");
    }
  }
  const bool stop = stopping_ && (now >= stop_deadline_ ||
                                  (DepthLocked() == 0 && in_flight_.empty()));
  if (stop || now >= release_at_) ReleaseConfirmed();
  if (stop) return Work::kStop;
  if (!broken_.ok() || now < retry_at_ || !client_.connected()) {
    return Work::kNone;
  }
  if (!stream_ready_) return Work::kEnsure;
  if (failing_ || need_reconcile_) {
    return UnresolvedLocked() ? Work::kNone : Work::kReconcile;
  }
  return Work::kSend;
}

void OutboxForwarder::AfterStreamCall(bool ensure, const absl::Status& status) {
  absl::MutexLock lock(&mu_);
  if (status.ok()) {
    if (ensure) stream_ready_ = true;
    backoff_ = kMinBackoff;
  } else if (status.code() == absl::StatusCode::kFailedPrecondition) {
    broken_ = MakeError(absl::StatusCode::kUnavailable, kReplicationStalled,
                        status.message());
    Log(LogLevel::kError,
        "forwarding to the stream stopped; webhooks stay in the outbox",
        {{"error", status.message()}});
  } else {
    if (backoff_ == kMinBackoff) {
      Log(LogLevel::kWarning, "the stream cannot be reached; retrying",
          {{"error", status.message()}});
    }
    retry_at_ = absl::Now() + backoff_;
    backoff_ = std::min(backoff_ * 2, kMaxBackoff);
  }
}

void OutboxForwarder::HandleAck(const Ack& ack, std::vector<Answer>& answers) {
  auto it = in_flight_.find(ack.id);
  const bool current =
      it != in_flight_.end() && it->second.attempt == ack.attempt;
  if (ack.sequence != 0) {
    // Whichever attempt it answers, the event is in the stream there.
    if (current) publish_latency_.Observe(absl::Now() - it->second.sent);
    horizon_ = std::max(horizon_, ack.sequence);
    Confirm(ack.id, ack.sequence, answers);
    return;
  }
  if (!current || it->second.failed) return;
  FailLocked(ack.id, it->second, ack.error);
}

void OutboxForwarder::FailLocked(std::uint64_t id, InFlight& in_flight,
                                 absl::string_view error) {
  in_flight.failed = true;
  failed_publishes_.fetch_add(1, std::memory_order_relaxed);
  if (!failing_) {
    Log(LogLevel::kWarning,
        "a publish to the stream failed; reading the stream back before "
        "sending again",
        {{"outbox_sequence", id}, {"error", error}});
  }
  failing_ = true;
}

void OutboxForwarder::Confirm(std::uint64_t id, std::uint64_t sequence,
                              std::vector<Answer>& answers) {
  in_flight_.erase(id);
  if (id <= confirmed_through_ || confirmed_ahead_.count(id) != 0) return;
  published_.fetch_add(1, std::memory_order_relaxed);
  if (id == confirmed_through_ + 1) {
    ++confirmed_through_;
    while (confirmed_ahead_.erase(confirmed_through_ + 1) != 0) {
      ++confirmed_through_;
    }
  } else {
    confirmed_ahead_.insert(id);
  }
  if (auto waiter = waiters_.find(id); waiter != waiters_.end()) {
    answers.push_back({std::move(waiter->second), sequence});
    waiters_.erase(waiter);
  }
}

void OutboxForwarder::ExpireLocked(absl::Time now,
                                   std::vector<Answer>& answers) {
  // Waiters are tracked in order with the same wait, so their deadlines
  // increase with their outbox sequence.
  while (!waiters_.empty() && waiters_.begin()->second.deadline <= now) {
    answers.push_back({std::move(waiters_.begin()->second), 0});
    waiters_.erase(waiters_.begin());
    pending_answers_.fetch_add(1, std::memory_order_relaxed);
  }
}

bool OutboxForwarder::UnresolvedLocked() const {
  for (const auto& [id, in_flight] : in_flight_) {
    if (!in_flight.failed) return true;
  }
  return false;
}

void OutboxForwarder::SendMore() {
  std::vector<Send> sends;
  {
    absl::MutexLock lock(&mu_);
    if (failing_ || need_reconcile_ || !client_.connected()) return;
    sends = ClaimSendsLocked();
  }
  if (sends.empty()) return;
  std::vector<EventPtr> events;
  absl::Status status =
      ReadOutbox(sends.front().id - 1, sends.back().id,
                 sends.back().id - sends.front().id + 1, events);
  std::size_t sent = 0;
  natsStatus s = NATS_OK;
  for (const EventPtr& event : events) {
    if (!status.ok() || s != NATS_OK || sent == sends.size()) break;
    if (event->sequence() != sends[sent].id) continue;  // confirmed already
    s = Publish(*event, sends[sent]);
    if (s == NATS_OK) ++sent;
  }
  if (sent == sends.size()) return;
  // What was not handed to the connection is not in flight; the one that
  // failed may or may not have gone out, and is read back.
  absl::MutexLock lock(&mu_);
  if (status.ok() && s != NATS_OK) {
    status = NatsError(s, "publish to the stream");
  } else if (status.ok()) {
    status = MakeError(absl::StatusCode::kInternal, kInternalError,
                       "the outbox lacks an event it tracked");
  }
  FailLocked(sends[sent].id, in_flight_[sends[sent].id], status.message());
  for (std::size_t i = sent + 1; i < sends.size(); ++i) {
    in_flight_.erase(sends[i].id);
  }
}

std::vector<OutboxForwarder::Send> OutboxForwarder::ClaimSendsLocked() {
  std::vector<Send> sends;
  const absl::Time now = absl::Now();
  while (next_ <= sendable_through_ &&
         in_flight_.size() < options_.max_in_flight) {
    const std::uint64_t id = next_++;
    if (id <= confirmed_through_ || confirmed_ahead_.count(id) != 0) continue;
    InFlight& in_flight = in_flight_[id];
    in_flight = {now, horizon_, ++attempts_, false};
    sends.push_back({id, in_flight.attempt});
  }
  return sends;
}

natsStatus OutboxForwarder::Publish(const StoredEvent& event,
                                    const Send& send) {
  const absl::string_view data = event.encoding_without_sequence();
  const std::string reply =
      absl::StrCat(reply_prefix_, ".", send.id, ".", send.attempt);
  natsMsg* msg = nullptr;
  natsStatus s = natsMsg_Create(&msg, subject_.c_str(), reply.c_str(),
                                data.data(), static_cast<int>(data.size()));
  NatsMsgPtr owned(msg);
  if (s == NATS_OK) {
    s = natsMsgHeader_Set(msg, "Nats-Msg-Id", MessageId(send.id).c_str());
  }
  if (s == NATS_OK) {
    s = natsMsgHeader_Set(msg, "Nats-Expected-Stream",
                          options_.stream.name.c_str());
  }
  if (s == NATS_OK) s = natsConnection_PublishMsg(client_.connection(), msg);
  return s;
}

absl::Status OutboxForwarder::ReadOutbox(std::uint64_t after,
                                         std::uint64_t through,
                                         std::size_t max_events,
                                         std::vector<EventPtr>& out) {
  {
    absl::MutexLock lock(&mu_);
    if (!cache_.empty() && after + 1 >= cache_first_ &&
        through < cache_first_ + cache_.size()) {
      for (std::uint64_t id = after + 1;
           id <= through && out.size() < max_events; ++id) {
        out.push_back(cache_[id - cache_first_]);
      }
      return absl::OkStatus();
    }
  }
  while (after < through && out.size() < max_events) {
    const std::size_t before = out.size();
    RETURN_IF_ERROR(
        outbox_.ReadAfter(after, through, max_events - out.size(), out));
    if (out.size() == before) break;
    after = out.back()->sequence();
  }
  return absl::OkStatus();
}

absl::Status OutboxForwarder::Reconcile() {
  ReadBack scan;
  {
    absl::MutexLock lock(&mu_);
    scan.lowest = confirmed_through_ + 1;
    if (need_reconcile_) {
      scan.from = reconcile_from_;
      scan.highest = sendable_through_;
    }
    for (const auto& [id, in_flight] : in_flight_) {
      scan.from = std::min(scan.from, in_flight.bound);
      scan.highest = std::max(scan.highest, id);
    }
  }
  const bool reading = scan.from != kNothingToRead;
  if (reading) {
    reconciles_.fetch_add(1, std::memory_order_relaxed);
    RETURN_IF_ERROR(ReadBackFromStream(scan));
  }
  std::vector<Answer> answers;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [id, sequence] : scan.found) {
      Confirm(id, sequence, answers);
    }
    horizon_ = std::max(horizon_, scan.last_seen);
    // Whatever was not found is sent again, at once.
    in_flight_.clear();
    next_ = confirmed_through_ + 1;
    failing_ = false;
    need_reconcile_ = false;
    if (!scan.found.empty() || reading) {
      Log(LogLevel::kInfo, "read this replica's events back from the stream",
          {{"confirmed", scan.found.size()},
           {"to_send", DepthLocked()},
           {"from_sequence", scan.from + 1}});
    }
  }
  Run(answers);
  return absl::OkStatus();
}

absl::Status OutboxForwarder::ReadBackFromStream(ReadBack& scan) {
  const std::uint64_t outbox_last = outbox_.Range().last;
  const std::string prefix = absl::StrCat(options_.replica, ":");
  for (std::uint64_t at = scan.from + 1;;) {
    absl::StatusOr<StreamMessage> message = ReadStreamMessage(
        client_, options_.stream.name, at, subject_, kReadTimeout);
    if (absl::IsNotFound(message.status())) break;
    if (!message.ok()) return message.status();
    at = message->sequence + 1;
    scan.last_seen = message->sequence;
    absl::string_view id_text = message->message_id;
    std::uint64_t id = 0;
    if (!absl::ConsumePrefix(&id_text, prefix) ||
        !absl::SimpleAtoi(id_text, &id)) {
      continue;  // not one of ours
    }
    if (id > outbox_last) {
      return MakeError(
          absl::StatusCode::kFailedPrecondition, kStreamError,
          absl::StrCat("the stream holds event ", id, " of replica ",
                       options_.replica, " but its outbox ends at ",
                       outbox_last,
                       ": was this data directory restored from a backup or "
                       "copied from another replica? Start this replica with "
                       "an empty data directory"));
    }
    if (id < scan.lowest || id > scan.highest) continue;
    RETURN_IF_ERROR(CheckOutboxHolds(*message, id));
    scan.found.emplace_back(id, message->sequence);
  }
  return absl::OkStatus();
}

absl::Status OutboxForwarder::CheckOutboxHolds(const StreamMessage& message,
                                               std::uint64_t id) {
  std::vector<EventPtr> event;
  RETURN_IF_ERROR(ReadOutbox(id - 1, id, 1, event));
  if (event.empty() || !event.front()->SameEventAs(message.data)) {
    return MakeError(
        absl::StatusCode::kFailedPrecondition, kStreamError,
        absl::StrCat("the stream's event ", id, " of replica ",
                     options_.replica, " (sequence ", message.sequence,
                     ") differs from the outbox's: two replicas share the id ",
                     options_.replica, "; give each its own data directory"));
  }
  return absl::OkStatus();
}

std::uint64_t OutboxForwarder::BookmarkLocked() const {
  std::uint64_t bookmark = horizon_;
  if (need_reconcile_) bookmark = std::min(bookmark, reconcile_from_);
  for (const auto& [id, in_flight] : in_flight_) {
    bookmark = std::min(bookmark, in_flight.bound);
  }
  return bookmark;
}

void OutboxForwarder::ReleaseConfirmed() {
  release_at_ = absl::Now() + kReleaseInterval;
  if (confirmed_through_ <= released_) return;
  outbox_.Release(confirmed_through_, BookmarkLocked());
  released_ = confirmed_through_;
  while (!cache_.empty() && cache_first_ <= confirmed_through_) {
    cache_.pop_front();
    ++cache_first_;
  }
}

std::uint64_t OutboxForwarder::DepthLocked() const {
  return std::max(sendable_through_, confirmed_through_) - confirmed_through_ -
         confirmed_ahead_.size();
}

void OutboxForwarder::Stop(absl::Duration grace) {
  absl::MutexLock stop_lock(&stop_mu_);
  {
    absl::MutexLock lock(&mu_);
    if (!stopping_) {
      stopping_ = true;
      stop_deadline_ = absl::Now() + grace;
    }
  }
  if (thread_.joinable()) thread_.join();
  // What still waits is answered: in the stream later.
  {
    absl::MutexLock lock(&mu_);
    answering_done_ = true;
  }
  if (answer_thread_.joinable()) answer_thread_.join();
  if (ack_subscription_ != nullptr) {
    // cnats 3.4 may crash destroying a subscription that messages still
    // arrive on: unsubscribe, wait for its delivery to end, then destroy.
    natsSubscription_Unsubscribe(ack_subscription_);
    {
      absl::MutexLock lock(&mu_);
      mu_.AwaitWithTimeout(absl::Condition(&ack_subscription_done_),
                           absl::Seconds(2));
    }
    natsSubscription_Destroy(ack_subscription_);
    ack_subscription_ = nullptr;
  }
}

std::uint64_t OutboxForwarder::horizon() const {
  absl::MutexLock lock(&mu_);
  return horizon_;
}

std::uint64_t OutboxForwarder::depth() const {
  absl::MutexLock lock(&mu_);
  return DepthLocked();
}

absl::Status OutboxForwarder::CheckReady() const {
  absl::MutexLock lock(&mu_);
  if (!broken_.ok()) return broken_;
  const bool reaching =
      stream_ready_ && !failing_ && !need_reconcile_ && client_.connected();
  const std::uint64_t depth = DepthLocked();
  if (!reaching && depth > options_.ready_outbox_limit) {
    return MakeError(
        absl::StatusCode::kUnavailable, kReplicationStalled,
        absl::StrCat("the stream cannot be reached and ", depth,
                     " events wait in this replica's outbox (more than ",
                     options_.ready_outbox_limit, ")"));
  }
  return absl::OkStatus();
}

void OutboxForwarder::AddMetrics(PrometheusText& text) const {
  text.AddGauge("paradym_webhooks_outbox_events",
                "Accepted events in this replica's outbox that the stream has "
                "not confirmed yet.",
                static_cast<double>(depth()));
  text.AddCounter("paradym_webhooks_replication_published_total",
                  "Events the stream confirmed.",
                  published_.load(std::memory_order_relaxed));
  text.AddCounter("paradym_webhooks_replication_failed_publishes_total",
                  "Publishes the stream refused or did not acknowledge in "
                  "time (each then read back before sending again).",
                  failed_publishes_.load(std::memory_order_relaxed));
  text.AddCounter("paradym_webhooks_replication_reconciles_total",
                  "Times this replica read its events back from the stream.",
                  reconciles_.load(std::memory_order_relaxed));
  text.AddCounter("paradym_webhooks_replication_pending_answers_total",
                  "Webhooks answered 200 before the stream had them (durable "
                  "on this replica, forwarded later).",
                  pending_answers_.load(std::memory_order_relaxed));
  text.AddHistogram("paradym_webhooks_replication_publish_duration_seconds",
                    "Time from publishing an event to the stream's "
                    "acknowledgement.",
                    publish_latency_);
}

}  // namespace paradym::webhooks
