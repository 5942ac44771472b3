// grpc.reflection.v1.ServerReflection on the callback API: server reflection
// in the version buf curl and grpcurl ask for first.
//
// Debian's gRPC 1.51 reflection plugin serves only
// grpc.reflection.v1alpha.ServerReflection. This service answers v1 from the
// same descriptor pool and the same list of services, with the same answers
// byte for byte (v1 and v1alpha are wire-identical), with one deliberate
// difference: every question gets a fresh answer, whereas 1.51's v1alpha
// reuses one response per stream, so that a second file question on a stream
// repeats the files of the first.
//
// TODO(grpc/grpc#34599): drop this once the gRPC we build on serves v1
// itself (that change came after 1.51): both would claim the same method,
// and the two copies of reflection.proto the same symbols.
//
//   ReflectionV1Service reflection;  // must outlive the server
//   grpc::ServerBuilder builder;
//   reflection.AddTo(builder);  // registers it; lists the server's services
//   std::unique_ptr<grpc::Server> server = builder.BuildAndStart();

#ifndef PARADYM_WEBHOOKS_SERVER_GRPC_REFLECTION_V1_SERVICE_H_
#define PARADYM_WEBHOOKS_SERVER_GRPC_REFLECTION_V1_SERVICE_H_

#include <grpcpp/grpcpp.h>

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "google/protobuf/descriptor.h"
#include "grpc/reflection/v1/reflection.grpc.pb.h"

namespace paradym::webhooks {

// Thread-safe: each call's reactor is its own; the service only reads the
// descriptor pool and the server's list of services.
class ReflectionV1Service final
    : public ::grpc::reflection::v1::ServerReflection::CallbackService {
 public:
  // Describes the files in `pool`, which must outlive the service: by
  // default every message and service linked into the binary, as v1alpha.
  explicit ReflectionV1Service(
      const google::protobuf::DescriptorPool& pool =
          *google::protobuf::DescriptorPool::generated_pool())
      : pool_(pool) {}

  // Registers the service with `builder` and, when the builder creates the
  // server, takes that server's list of services for list_services (until
  // then list_services is NOT_FOUND, as in v1alpha). Call once, before
  // BuildAndStart.
  void AddTo(grpc::ServerBuilder& builder);

  grpc::ServerBidiReactor<::grpc::reflection::v1::ServerReflectionRequest,
                          ::grpc::reflection::v1::ServerReflectionResponse>*
  ServerReflectionInfo(grpc::CallbackServerContext* context) override;

  // The answer to one question, without valid_host and original_request.
  // An error becomes the answer's error_response.
  absl::Status Answer(
      const ::grpc::reflection::v1::ServerReflectionRequest& request,
      ::grpc::reflection::v1::ServerReflectionResponse& response) const;

 private:
  const google::protobuf::DescriptorPool& pool_;
  // The server's own list (grpc::ServerInitializer::GetServiceList), set
  // before the server starts and complete by the time it takes calls: the
  // default health service joins it at start.
  const std::vector<std::string>* services_ = nullptr;
};

}  // namespace paradym::webhooks

#endif  // PARADYM_WEBHOOKS_SERVER_GRPC_REFLECTION_V1_SERVICE_H_
