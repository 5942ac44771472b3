#include "server/grpc/reflection_v1_service.h"

#include <grpcpp/impl/server_builder_option.h>
#include <grpcpp/impl/server_builder_plugin.h>
#include <grpcpp/impl/server_initializer.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "google/protobuf/descriptor.pb.h"

namespace paradym::webhooks {
namespace {

namespace v1 = ::grpc::reflection::v1;
using ::google::protobuf::Descriptor;
using ::google::protobuf::FieldDescriptor;
using ::google::protobuf::FileDescriptor;

// Adds `file`, then depth first the files it imports, each once per answer,
// so that a client can build the descriptors from the answer alone. The order
// and the encoding (FileDescriptor::CopyTo, no source info) are v1alpha's.
void AddFileAndImports(const FileDescriptor& file,
                       absl::flat_hash_set<const FileDescriptor*>& added,
                       v1::FileDescriptorResponse& response) {
  if (!added.insert(&file).second) return;
  google::protobuf::FileDescriptorProto proto;
  file.CopyTo(&proto);
  proto.SerializeToString(response.add_file_descriptor_proto());
  for (int i = 0; i < file.dependency_count(); ++i) {
    AddFileAndImports(*file.dependency(i), added, response);
  }
}

absl::Status AnswerWithFile(const FileDescriptor* file,
                            absl::string_view not_found,
                            v1::ServerReflectionResponse& response) {
  if (file == nullptr) return absl::NotFoundError(not_found);
  absl::flat_hash_set<const FileDescriptor*> added;
  AddFileAndImports(*file, added, *response.mutable_file_descriptor_response());
  return absl::OkStatus();
}

// Captures the server's list of services for the service once the builder
// has created the server; the builder owns the plugin.
class ServiceListPlugin final : public grpc::ServerBuilderPlugin {
 public:
  explicit ServiceListPlugin(const std::vector<std::string>*& services)
      : services_(services) {}

  std::string name() override { return "paradym_reflection_v1"; }
  void InitServer(grpc::ServerInitializer* initializer) override {
    services_ = initializer->GetServiceList();
  }
  void Finish(grpc::ServerInitializer* /*initializer*/) override {}
  void ChangeArguments(const std::string& /*name*/, void* /*value*/) override {}

 private:
  const std::vector<std::string>*& services_;
};

// A builder option is the one way to give a single builder a plugin (gRPC's
// own reflection plugin is installed for every builder in the process).
class ServiceListOption final : public grpc::ServerBuilderOption {
 public:
  explicit ServiceListOption(const std::vector<std::string>*& services)
      : services_(services) {}

  void UpdateArguments(grpc::ChannelArguments* /*args*/) override {}
  void UpdatePlugins(std::vector<std::unique_ptr<grpc::ServerBuilderPlugin>>*
                         plugins) override {
    plugins->push_back(std::make_unique<ServiceListPlugin>(services_));
  }

 private:
  const std::vector<std::string>*& services_;
};

// One ServerReflectionInfo call: read a question, write its answer, repeat
// until the client stops asking. One operation is in flight at a time, so
// the request and response members need no lock.
class ReflectionReactor final
    : public grpc::ServerBidiReactor<v1::ServerReflectionRequest,
                                     v1::ServerReflectionResponse> {
 public:
  explicit ReflectionReactor(const ReflectionV1Service& service)
      : service_(service) {
    StartRead(&request_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {
      // The client closed its side (or went away): every question has its
      // answer.
      Finish(grpc::Status::OK);
      return;
    }
    response_.Clear();
    const absl::Status status = service_.Answer(request_, response_);
    if (!status.ok()) {
      // absl::StatusCode and grpc::StatusCode share their numbering.
      v1::ErrorResponse& error = *response_.mutable_error_response();
      error.set_error_code(static_cast<int>(status.code()));
      error.set_error_message(std::string(status.message()));
    }
    response_.set_valid_host(request_.host());
    *response_.mutable_original_request() = request_;
    StartWrite(&response_);
  }

  void OnWriteDone(bool ok) override {
    if (!ok) {
      // The client went away; nobody reads this status.
      Finish(grpc::Status(grpc::StatusCode::CANCELLED, "the client went away"));
      return;
    }
    StartRead(&request_);
  }

  void OnDone() override { delete this; }

 private:
  const ReflectionV1Service& service_;
  v1::ServerReflectionRequest request_;
  v1::ServerReflectionResponse response_;
};

}  // namespace

void ReflectionV1Service::AddTo(grpc::ServerBuilder& builder) {
  // Registered like any service, so that the builder sees a callback service
  // and sets up what callback services need.
  builder.RegisterService(this);
  builder.SetOption(std::make_unique<ServiceListOption>(services_));
}

grpc::ServerBidiReactor<v1::ServerReflectionRequest,
                        v1::ServerReflectionResponse>*
ReflectionV1Service::ServerReflectionInfo(
    grpc::CallbackServerContext* /*context*/) {
  return new ReflectionReactor(*this);
}

// The error messages are v1alpha's, word for word, so that a client gets the
// same answer from either version.
absl::Status ReflectionV1Service::Answer(
    const v1::ServerReflectionRequest& request,
    v1::ServerReflectionResponse& response) const {
  switch (request.message_request_case()) {
    case v1::ServerReflectionRequest::kFileByFilename:
      return AnswerWithFile(pool_.FindFileByName(request.file_by_filename()),
                            "File not found.", response);
    case v1::ServerReflectionRequest::kFileContainingSymbol:
      return AnswerWithFile(
          pool_.FindFileContainingSymbol(request.file_containing_symbol()),
          "Symbol not found.", response);
    case v1::ServerReflectionRequest::kFileContainingExtension: {
      const v1::ExtensionRequest& extension =
          request.file_containing_extension();
      const Descriptor* type =
          pool_.FindMessageTypeByName(extension.containing_type());
      if (type == nullptr) return absl::NotFoundError("Type not found.");
      const FieldDescriptor* field =
          pool_.FindExtensionByNumber(type, extension.extension_number());
      return AnswerWithFile(field != nullptr ? field->file() : nullptr,
                            "Extension not found.", response);
    }
    case v1::ServerReflectionRequest::kAllExtensionNumbersOfType: {
      const Descriptor* type =
          pool_.FindMessageTypeByName(request.all_extension_numbers_of_type());
      if (type == nullptr) return absl::NotFoundError("Type not found.");
      std::vector<const FieldDescriptor*> extensions;
      pool_.FindAllExtensions(type, &extensions);
      v1::ExtensionNumberResponse& numbers =
          *response.mutable_all_extension_numbers_response();
      numbers.set_base_type_name(type->full_name());
      for (const FieldDescriptor* extension : extensions) {
        numbers.add_extension_number(extension->number());
      }
      return absl::OkStatus();
    }
    case v1::ServerReflectionRequest::kListServices: {
      if (services_ == nullptr) {
        return absl::NotFoundError("Services not found.");
      }
      v1::ListServiceResponse& list =
          *response.mutable_list_services_response();
      for (const std::string& name : *services_) {
        list.add_service()->set_name(name);
      }
      return absl::OkStatus();
    }
    case v1::ServerReflectionRequest::MESSAGE_REQUEST_NOT_SET:
      break;
  }
  // A question this version of the protocol does not know.
  return absl::UnimplementedError("");
}

}  // namespace paradym::webhooks
