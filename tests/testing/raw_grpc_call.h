// Calls a gRPC method with request bytes of our own making, as a client with
// its own (or a broken) encoder would, and returns the status.
//
//   grpc::Status status = CallWithBytes(
//       channel, "/paradym.webhooks.v1.WebhookService/Ingest", "\x0a\x7f");

#ifndef PARADYM_WEBHOOKS_TESTS_TESTING_RAW_GRPC_CALL_H_
#define PARADYM_WEBHOOKS_TESTS_TESTING_RAW_GRPC_CALL_H_

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include <chrono>
#include <memory>
#include <string>
#include <utility>

#include "absl/synchronization/notification.h"

namespace paradym::webhooks::testing {

inline grpc::Status CallWithBytes(const std::shared_ptr<grpc::Channel>& channel,
                                  const std::string& method,
                                  const std::string& bytes) {
  grpc::GenericStub stub(channel);
  grpc::Slice slice(bytes);
  grpc::ByteBuffer request(&slice, 1);
  grpc::ByteBuffer response;
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(10));
  absl::Notification done;
  grpc::Status status;
  stub.UnaryCall(&context, method, grpc::StubOptions(), &request, &response,
                 [&](grpc::Status s) {
                   status = std::move(s);
                   done.Notify();
                 });
  done.WaitForNotification();
  return status;
}

}  // namespace paradym::webhooks::testing

#endif  // PARADYM_WEBHOOKS_TESTS_TESTING_RAW_GRPC_CALL_H_
