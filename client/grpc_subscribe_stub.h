// The SubscribeStub of a ResumableSubscription over a real Connection:
// Subscribe calls, the ListEvents probe that tells where "live" starts, and
// a fresh channel for each new attempt.
//
//   GrpcSubscribeStub stub(*connection);
//   ResumableSubscription subscription(stub, request, std::move(options));
//
// Thread-compatible, like the Connection it uses.

#ifndef PARADYM_WEBHOOKS_CLIENT_GRPC_SUBSCRIBE_STUB_H_
#define PARADYM_WEBHOOKS_CLIENT_GRPC_SUBSCRIBE_STUB_H_

#include <cstdint>
#include <memory>
#include <optional>

#include "client/connection.h"
#include "client/resumable_subscription.h"

namespace paradym::webhooks::cli {

class GrpcSubscribeStub final : public SubscribeStub {
 public:
  // `connection` outlives the stub.
  explicit GrpcSubscribeStub(Connection& connection)
      : connection_(connection) {}

  std::optional<std::uint64_t> LastSequence() override;
  std::unique_ptr<SubscribeStream> Subscribe(
      const ::paradym::webhooks::v1::SubscribeRequest& request) override;
  void Reconnect() override;

 private:
  Connection& connection_;
};

}  // namespace paradym::webhooks::cli

#endif  // PARADYM_WEBHOOKS_CLIENT_GRPC_SUBSCRIBE_STUB_H_
