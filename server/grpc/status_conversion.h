// The one place where a core absl::Status becomes a grpc::Status.
//
// The code and message carry over unchanged; every status payload (the
// google.rpc.ErrorInfo and google.rpc.BadRequest the core attaches) becomes a
// google.protobuf.Any in a google.rpc.Status, sent as the binary error
// details (`grpc-status-details-bin`) that every gRPC language can decode.
//
//   reactor->Finish(ToGrpcStatus(status));

#ifndef PARADYM_WEBHOOKS_SERVER_GRPC_STATUS_CONVERSION_H_
#define PARADYM_WEBHOOKS_SERVER_GRPC_STATUS_CONVERSION_H_

#include <grpcpp/support/status.h>

#include "absl/status/status.h"

namespace paradym::webhooks {

grpc::Status ToGrpcStatus(const absl::Status& status);

}  // namespace paradym::webhooks

#endif  // PARADYM_WEBHOOKS_SERVER_GRPC_STATUS_CONVERSION_H_
