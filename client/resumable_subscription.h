// A Subscribe call that outlives the streams it reads. When a stream ends
// with a status worth resuming (IsResumable), it waits as its backoff policy
// says, opens a new stream after the last sequence it handed out, and reads
// on: its reader never misses or repeats an event. The shape of
// google-cloud-cpp's ResumableStreamingReadRpc: a stub that opens streams, a
// backoff policy and an injected sleeper, so that tests need no real time.
//
//   GrpcSubscribeStub stub(connection);
//   ResumableSubscription subscription(stub, request, std::move(options));
//   for (;;) {
//     auto next = subscription.Read();
//     if (auto* end = std::get_if<SubscriptionEnd>(&next)) return Report(*end);
//     Print(std::get<v1::SubscribeResponse>(next));
//   }
//
// Thread-compatible: one thread reads a subscription.

#ifndef PARADYM_WEBHOOKS_CLIENT_RESUMABLE_SUBSCRIPTION_H_
#define PARADYM_WEBHOOKS_CLIENT_RESUMABLE_SUBSCRIPTION_H_

#include <grpcpp/support/status.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <variant>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "client/backoff_policy.h"
#include "paradym/webhooks/v1/webhook_service.pb.h"

namespace paradym::webhooks::cli {

// One Subscribe call. Destroying it before Finish cancels the call.
class SubscribeStream {
 public:
  virtual ~SubscribeStream() = default;

  // The next response; false when the stream has ended.
  virtual bool Read(::paradym::webhooks::v1::SubscribeResponse& response) = 0;

  // How the stream ended; once, after Read returned false.
  virtual grpc::Status Finish() = 0;
};

// What a ResumableSubscription needs of the server.
class SubscribeStub {
 public:
  virtual ~SubscribeStub() = default;

  // The last sequence the server has accepted, where a live subscription
  // starts so that it can be resumed; nullopt when the server does not say.
  virtual std::optional<std::uint64_t> LastSequence() = 0;

  virtual std::unique_ptr<SubscribeStream> Subscribe(
      const ::paradym::webhooks::v1::SubscribeRequest& request) = 0;

  // Called after a wait, before the next attempt: drop the connection for a
  // new one.
  virtual void Reconnect() = 0;
};

// Whether a stream that ended with `status` is worth resuming.
bool IsResumable(const grpc::Status& status);

// How a subscription ended: the status of its last stream, and whether that
// stream delivered any event.
struct SubscriptionEnd {
  grpc::Status status;
  bool received = false;
};

class ResumableSubscription {
 public:
  struct Options {
    // False: the first stream's end is the subscription's end.
    bool resume = true;
    // The wait before each new stream; required when `resume`. Reset when a
    // stream delivered events.
    std::unique_ptr<BackoffPolicy> backoff;
    // Waits out a delay; tests record it instead.
    std::function<void(absl::Duration)> sleep = absl::SleepFor;
    // Told before each wait: the status that ended a stream, the delay, and
    // the sequence the next stream starts after (nullopt: live).
    std::function<void(const grpc::Status&, absl::Duration,
                       std::optional<std::uint64_t>)>
        on_resume = [](const grpc::Status&, absl::Duration,
                       std::optional<std::uint64_t>) {};
  };

  // The first stream starts after `request.start_after_sequence` when it is
  // set, else live, after the stub's LastSequence().
  ResumableSubscription(SubscribeStub& stub,
                        ::paradym::webhooks::v1::SubscribeRequest request,
                        Options options);

  // The next response, or how the subscription ended. Not called again after
  // an end.
  std::variant<::paradym::webhooks::v1::SubscribeResponse, SubscriptionEnd>
  Read();

  // The last sequence handed out (or the start); nullopt while live and the
  // server has not said where it is.
  std::optional<std::uint64_t> resume_after() const { return resume_after_; }

 private:
  // Opens the next stream after resume_after_.
  void Open();

  SubscribeStub& stub_;
  ::paradym::webhooks::v1::SubscribeRequest request_;
  Options options_;
  std::unique_ptr<SubscribeStream> stream_;
  std::optional<std::uint64_t> resume_after_;
  bool received_ = false;  // whether stream_ delivered an event
};

}  // namespace paradym::webhooks::cli

#endif  // PARADYM_WEBHOOKS_CLIENT_RESUMABLE_SUBSCRIPTION_H_
