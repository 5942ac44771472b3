#include "server/grpc/webhook_service_adapter.h"

#include <algorithm>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/match.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "server/core/errors.h"
#include "server/core/event_listing.h"
#include "server/core/structured_log.h"
#include "server/grpc/message_codec.h"
#include "server/grpc/status_conversion.h"

namespace paradym::webhooks {
namespace {

namespace v1 = ::paradym::webhooks::v1;

WebhookRequest ToWebhookRequest(const std::string& body,
                                const std::string& signature,
                                const std::string& endpoint) {
  return {body, signature, endpoint};
}

// SubscribeRequest and ListEventsRequest share their filter fields.
template <typename Request>
EventFilter::Spec ToFilterSpec(const Request& request) {
  return {{request.event_types().begin(), request.event_types().end()},
          {request.project_ids().begin(), request.project_ids().end()},
          {request.workflow_ids().begin(), request.workflow_ids().end()},
          {request.workflow_execution_ids().begin(),
           request.workflow_execution_ids().end()}};
}

// How a Subscribe stream the client cancelled ends (the client never sees
// it).
absl::Status ClientCancelledError() {
  return MakeError(absl::StatusCode::kCancelled, kCancelled,
                   "the client cancelled the stream");
}

// Frees a chunk's share held by a gRPC slice.
void ReleaseChunk(void* share) {
  delete static_cast<std::shared_ptr<const EncodedChunk>*>(share);
}

// Moves `batch` into `out` as slices that hold the batch's chunks: gRPC sends
// the bytes where the hub framed them, shared by every stream that sends
// them, with no copy. `slices` is scratch.
void ToByteBuffer(EncodedBatch& batch, std::vector<grpc::Slice>& slices,
                  grpc::ByteBuffer& out) {
  slices.clear();
  for (EncodedBatch::Piece& piece : batch.pieces) {
    // grpc::Slice takes a non-const pointer; gRPC never writes through it.
    char* bytes = const_cast<char*>(piece.chunk->data()) + piece.offset;
    slices.emplace_back(
        bytes, piece.size, &ReleaseChunk,
        new std::shared_ptr<const EncodedChunk>(std::move(piece.chunk)));
  }
  grpc::ByteBuffer buffer(slices.data(), slices.size());
  out.Swap(&buffer);
  slices.clear();
  batch.Clear();
}

// One Subscribe call.
//
// The write loop: whoever sets `writing_` owns the writer and pulls the next
// batch; with nothing to send it releases ownership, unless a wake arrived
// meanwhile (`wake_pending_`), in which case it pulls again.
//
// Pacing: after a write starts, the next waits the WritePacer's interval
// (from `min_write_interval` for a lone busy stream to `max_write_interval`
// when many are), unless the batch was full. Every write costs far more than
// its bytes; under load events therefore wait (at most the interval) and go
// out together, while an idle stream still sends the next event within a
// millisecond. A finished write whose successor is not due yet, and every
// wake from the hub, ask the pacer for a turn.
//
// Lifetime: created by Subscribe(); deleted by OnDone() once the
// subscription has left the hub (so no wake can reach it) and the pacer has
// taken back its turn (so none is pending or running).
//
// Thread-safe: gRPC's callbacks, the hub's wakes (on a publishing thread) and
// the pacer's turns (on its thread) come at once; `mu_` guards what they
// share, and the batch and its buffers belong to whoever owns the writer.
class SubscribeReactor final
    : public grpc::ServerWriteReactor<grpc::ByteBuffer>,
      private WritePacer::Stream {
 public:
  // Finishes at once with `admission` unless it is OK.
  SubscribeReactor(SubscriptionHub& hub, WritePacer& pacer,
                   const absl::Status& admission,
                   const v1::SubscribeRequest& request,
                   const WebhookServiceAdapter::Options& options)
      : hub_(hub), pacer_(pacer), options_(options) {
    if (!admission.ok()) {
      FinishOnce(admission);
      return;
    }
    absl::StatusOr<EventFilter> filter =
        EventFilter::Create(ToFilterSpec(request));
    if (!filter.ok()) {
      FinishOnce(filter.status());
      return;
    }
    std::optional<std::uint64_t> start_after;
    if (request.has_start_after_sequence()) {
      start_after = request.start_after_sequence();
    }
    absl::StatusOr<std::shared_ptr<Subscription>> subscription = hub_.Subscribe(
        std::move(filter).value(), start_after, [this] { OnWake(); });
    if (!subscription.ok()) {
      FinishOnce(subscription.status());
      return;
    }
    subscription_ = std::move(subscription).value();
    // Tell the client the subscription is in place before any event flows.
    StartSendInitialMetadata();
    {
      absl::MutexLock lock(&mu_);
      writing_ = true;
    }
    Pump();
  }

  void OnWriteDone(bool ok) override {
    ReleaseBatch();
    if (!ok) {
      // The client went away; OnCancel follows or already ran.
      FinishOnce(ClientCancelledError());
      return;
    }
    {
      absl::MutexLock lock(&mu_);
      writing_ = false;
    }
    OnReady();
  }

  void OnCancel() override {
    {
      absl::MutexLock lock(&mu_);
      cancelled_ = true;
      // The writer finishes when its write fails or it runs out of events.
      if (writing_) return;
      writing_ = true;
    }
    FinishOnce(ClientCancelledError());
  }

  void OnDone() override {
    // After these, no wake and no turn can reach this reactor.
    if (subscription_ != nullptr) hub_.Unsubscribe(*subscription_);
    pacer_.Cancel(*this);
    ReleaseBatch();
    {
      absl::MutexLock lock(&mu_);
      SetBusyLocked(false);
    }
    delete this;
  }

 private:
  // The hub has events for a stream that found none: on a publishing thread,
  // which must not wait on gRPC (it may hold the event log's locks), so the
  // pacer's thread writes them, within a millisecond or when pacing allows.
  void OnWake() {
    absl::MutexLock lock(&mu_);
    if (!MayPullLocked()) return;
    turn_pending_ = true;
    pacer_.Schedule(*this, std::max(absl::Now(), next_write_));
  }

  // There may be something to send: a finished write, or the pacer's turn.
  void OnReady() {
    {
      absl::MutexLock lock(&mu_);
      if (!MayPullLocked()) return;
      if (absl::Now() < next_write_) {
        turn_pending_ = true;
        pacer_.Schedule(*this, next_write_);
        return;
      }
      writing_ = true;
    }
    Pump();
  }

  // The checks OnWake and OnReady start with: whether they may go on to
  // pull. Not when the stream is finished; not while the writer is busy
  // (which is told to pull again when it is done); not while a turn is
  // pending (the turn will pull).
  bool MayPullLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (finished_) return false;
    if (writing_) {
      wake_pending_ = true;
      return false;
    }
    return !turn_pending_;
  }

  void OnTurn() override {
    {
      absl::MutexLock lock(&mu_);
      turn_pending_ = false;
      next_write_ = absl::InfinitePast();
    }
    OnReady();
  }

  // Requires ownership of the writer (`writing_`). Nothing may touch `this`
  // after StartWrite or Finish: the reactor may already be gone.
  void Pump() {
    for (;;) {
      absl::Status status = subscription_->Next(
          options_.max_batch_events, options_.max_batch_bytes, batch_);
      if (!status.ok()) {
        FinishOnce(status);
        return;
      }
      if (!batch_.empty()) {
        // A full batch may have more behind it: the next write need not wait.
        const bool full = batch_.events >= options_.max_batch_events ||
                          4 * batch_.size() >= 3 * options_.max_batch_bytes;
        ToByteBuffer(batch_, slices_, encoded_);
        {
          absl::MutexLock lock(&mu_);
          SetBusyLocked(true);
          next_write_ =
              full ? absl::InfinitePast() : absl::Now() + pacer_.Interval();
        }
        StartWrite(&encoded_);
        return;
      }
      {
        absl::MutexLock lock(&mu_);
        SetBusyLocked(false);
        if (wake_pending_) {
          wake_pending_ = false;
          continue;
        }
        if (!cancelled_) {
          writing_ = false;
          return;
        }
      }
      FinishOnce(ClientCancelledError());
      return;
    }
  }

  void ReleaseBatch() {
    encoded_.Clear();
    batch_.Clear();
  }

  // Tells the pacer whether this stream has events to send.
  void SetBusyLocked(bool busy) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (busy == busy_) return;
    busy_ = busy;
    if (busy) {
      pacer_.Busy();
    } else {
      pacer_.Idle();
    }
  }

  void FinishOnce(const absl::Status& status) {
    {
      absl::MutexLock lock(&mu_);
      if (finished_) return;
      finished_ = true;
    }
    Finish(ToGrpcStatus(status));
  }

  SubscriptionHub& hub_;
  WritePacer& pacer_;
  const WebhookServiceAdapter::Options options_;
  std::shared_ptr<Subscription> subscription_;
  // Owned by the writer: the next batch, its slices, the bytes in flight.
  EncodedBatch batch_;
  std::vector<grpc::Slice> slices_;
  grpc::ByteBuffer encoded_;
  absl::Mutex mu_;
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool busy_ ABSL_GUARDED_BY(mu_) = false;  // counted by the pacer
  bool wake_pending_ ABSL_GUARDED_BY(mu_) = false;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  bool turn_pending_ ABSL_GUARDED_BY(mu_) = false;
  absl::Time next_write_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
};

}  // namespace

bool IsLoopbackPeer(absl::string_view peer) {
  if (absl::ConsumePrefix(&peer, "ipv4:")) {
    return absl::StartsWith(peer, "127.");
  }
  if (absl::ConsumePrefix(&peer, "ipv6:")) {
    return absl::StartsWith(peer, "[::1]:") ||
           absl::StartsWith(peer, "[::ffff:127.");
  }
  return false;
}

absl::StatusOr<std::string> WebhookServiceAdapter::Authorize(
    grpc::CallbackServerContext& context, Scope scope) const {
  Caller caller;
  const auto& metadata = context.client_metadata();
  if (auto it = metadata.find("authorization"); it != metadata.end()) {
    caller.authorization =
        absl::string_view(it->second.data(), it->second.size());
  }
  caller.loopback = IsLoopbackPeer(context.peer());
  const std::shared_ptr<const grpc::AuthContext> auth = context.auth_context();
  caller.verified_client_certificate =
      auth != nullptr && auth->IsPeerAuthenticated();
  return access_.Authorize(caller, scope);
}

grpc::ServerUnaryReactor* WebhookServiceAdapter::VerifyAndParse(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request_bytes,
    grpc::ByteBuffer* response_bytes) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  v1::VerifyAndParseRequest request;
  absl::Status status = Authorize(*context, Scope::kVerify).status();
  if (status.ok()) status = DecodeMessage(*request_bytes, request);
  if (status.ok()) {
    // Reused by every call this thread answers.
    thread_local EventNormalizer::EncodedEvent event;
    absl::Time receive_time;
    status = ingestor_.VerifyAndEncode(
        ToWebhookRequest(request.body(), request.signature(),
                         request.endpoint()),
        event, receive_time);
    // VerifyAndParseResponse is its one field, `event` (1): written around
    // the encoding as it is, not decoded and encoded again.
    if (status.ok()) EncodeEventResponse(event.encoding, *response_bytes);
  }
  reactor->Finish(ToGrpcStatus(status));
  return reactor;
}

grpc::ServerUnaryReactor* WebhookServiceAdapter::Ingest(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request_bytes,
    grpc::ByteBuffer* response_bytes) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  v1::IngestRequest request;
  absl::Status status = Authorize(*context, Scope::kIngest).status();
  if (status.ok()) status = DecodeMessage(*request_bytes, request);
  if (!status.ok()) {
    reactor->Finish(ToGrpcStatus(status));
    return reactor;
  }
  ingestor_.Ingest(
      ToWebhookRequest(request.body(), request.signature(), request.endpoint()),
      [reactor, response_bytes](absl::StatusOr<EventPtr> stored) {
        if (stored.ok()) {
          // IngestResponse: the stored event as the log holds it, encoded
          // once; then pending_replication (2) when it has no sequence yet.
          std::string event;
          (*stored)->AppendEncoded(event);
          constexpr char kPendingReplication[] = {0x10, 0x01};
          EncodeEventResponse(event, *response_bytes,
                              (*stored)->sequence() == 0
                                  ? absl::string_view(kPendingReplication, 2)
                                  : absl::string_view());
        }
        reactor->Finish(ToGrpcStatus(stored.status()));
      });
  return reactor;
}

grpc::ServerWriteReactor<grpc::ByteBuffer>* WebhookServiceAdapter::Subscribe(
    grpc::CallbackServerContext* context,
    const grpc::ByteBuffer* request_bytes) {
  v1::SubscribeRequest request;
  absl::StatusOr<std::string> caller = Authorize(*context, Scope::kRead);
  absl::Status status = caller.status();
  if (status.ok()) status = DecodeMessage(*request_bytes, request);
  if (status.ok()) {
    Log(LogLevel::kInfo, "subscriber connected",
        {{"caller", *caller}, {"peer", context->peer()}});
  }
  return new SubscribeReactor(hub_, pacer_, status, request, options_);
}

grpc::ServerUnaryReactor* WebhookServiceAdapter::ListEvents(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request_bytes,
    grpc::ByteBuffer* response_bytes) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  v1::ListEventsRequest request;
  absl::Status status = Authorize(*context, Scope::kRead).status();
  if (status.ok()) status = DecodeMessage(*request_bytes, request);
  absl::StatusOr<EventFilter> filter =
      status.ok() ? EventFilter::Create(ToFilterSpec(request))
                  : absl::StatusOr<EventFilter>(status);
  if (!filter.ok()) {
    reactor->Finish(ToGrpcStatus(filter.status()));
    return reactor;
  }
  EventQuery query;
  query.filter = std::move(filter).value();
  query.start_after_sequence = request.start_after_sequence();
  query.page_size = request.page_size();
  query.page_token = request.page_token();
  absl::StatusOr<EventPage> page = paradym::webhooks::ListEvents(log_, query);
  if (page.ok()) {
    // The events go out as the log keeps them; the rest of the response
    // is a message of its own, appended.
    v1::ListEventsResponse rest;
    rest.set_next_page_token(std::move(page->next_page_token));
    rest.set_oldest_sequence(page->range.oldest);
    rest.set_last_sequence(page->range.last);
    EncodeEventsResponse(page->events, *response_bytes,
                         rest.SerializeAsString());
  }
  reactor->Finish(ToGrpcStatus(page.status()));
  return reactor;
}

}  // namespace paradym::webhooks
