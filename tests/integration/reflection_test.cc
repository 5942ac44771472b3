// Server reflection as grpcurl and buf curl see it: the real binary on a free
// port, asked through both protocol versions, v1alpha (gRPC's own plugin) and
// v1 (server/grpc/reflection_v1_service). The two are wire-identical, so one
// set of messages talks to both; only the method name differs.

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/descriptor.pb.h"
#include "google/protobuf/descriptor_database.h"
#include "google/protobuf/util/message_differencer.h"
#include "grpc/reflection/v1/reflection.grpc.pb.h"
#include "gtest/gtest.h"
#include "tests/testing/grpc_status.h"
#include "tests/testing/reflection_requests.h"
#include "tests/testing/server_process.h"
#include "tests/testing/status_matchers.h"

namespace paradym::webhooks {
namespace {

namespace v1 = ::grpc::reflection::v1;
using ::google::protobuf::FileDescriptorProto;
using ::google::protobuf::util::MessageDifferencer;
using ::paradym::webhooks::testing::AllExtensionNumbersOfType;
using ::paradym::webhooks::testing::ChildProcess;
using ::paradym::webhooks::testing::FileByFilename;
using ::paradym::webhooks::testing::FileContainingExtension;
using ::paradym::webhooks::testing::FileContainingSymbol;
using ::paradym::webhooks::testing::IsOk;
using ::paradym::webhooks::testing::ListServices;
using ::paradym::webhooks::testing::StartServer;
using ::testing::ElementsAre;
using ::testing::UnorderedElementsAre;
using ::testing::Values;

constexpr char kV1alpha[] =
    "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo";
constexpr char kV1[] =
    "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo";

class ReflectionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto server = StartServer({"--store=memory"},
                              {{"PARADYM_WEBHOOK_SECRET", "reflection-test"}});
    ASSERT_THAT(server, IsOk());
    server_ = std::move(server).value();
    channel_ = grpc::CreateChannel(server_->grpc_address(),
                                   grpc::InsecureChannelCredentials());
  }

  // Asks every question on one ServerReflectionInfo stream of `method`; one
  // answer per question, in order. Every wait ends at the call's deadline.
  std::vector<v1::ServerReflectionResponse> Ask(
      const char* method,
      const std::vector<v1::ServerReflectionRequest>& requests) {
    grpc::TemplatedGenericStub<v1::ServerReflectionRequest,
                               v1::ServerReflectionResponse>
        stub(channel_);
    grpc::CompletionQueue cq;
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(30));
    // Each step waits for its own tag; false when the call has failed.
    auto step = [&cq](void* expected) {
      void* tag = nullptr;
      bool ok = false;
      EXPECT_TRUE(cq.Next(&tag, &ok));
      EXPECT_EQ(tag, expected);
      return ok;
    };
    int start, write, read, writes_done, finish;
    std::vector<v1::ServerReflectionResponse> responses;
    auto call = stub.PrepareCall(&context, method, &cq);
    call->StartCall(&start);
    if (step(&start)) {
      for (const auto& request : requests) {
        call->Write(request, &write);
        if (!step(&write)) break;
        v1::ServerReflectionResponse response;
        call->Read(&response, &read);
        if (!step(&read)) break;
        responses.push_back(std::move(response));
      }
      call->WritesDone(&writes_done);
      step(&writes_done);
    }
    grpc::Status status;
    call->Finish(&status, &finish);
    step(&finish);
    EXPECT_THAT(status, IsOk()) << method;
    EXPECT_EQ(responses.size(), requests.size()) << method;
    cq.Shutdown();
    void* tag;
    bool ok;
    while (cq.Next(&tag, &ok)) {
    }
    return responses;
  }

  v1::ServerReflectionResponse AskOne(
      const char* method, const v1::ServerReflectionRequest& request) {
    std::vector<v1::ServerReflectionResponse> responses =
        Ask(method, {request});
    return responses.empty() ? v1::ServerReflectionResponse() : responses[0];
  }

  std::unique_ptr<ChildProcess> server_;
  std::shared_ptr<grpc::Channel> channel_;
};

class BothVersionsTest : public ReflectionTest,
                         public ::testing::WithParamInterface<const char*> {};

INSTANTIATE_TEST_SUITE_P(Reflection, BothVersionsTest, Values(kV1alpha, kV1),
                         [](const auto& info) {
                           return std::string(info.param == kV1 ? "V1"
                                                                : "V1alpha");
                         });

TEST_P(BothVersionsTest, ListsEveryServiceTheServerOffers) {
  const v1::ServerReflectionResponse response =
      AskOne(GetParam(), ListServices());
  ASSERT_TRUE(response.has_list_services_response()) << response.DebugString();
  std::vector<std::string> names;
  for (const auto& service : response.list_services_response().service()) {
    names.push_back(service.name());
  }
  EXPECT_THAT(names,
              UnorderedElementsAre("paradym.webhooks.v1.WebhookService",
                                   "grpc.health.v1.Health",
                                   "grpc.reflection.v1alpha.ServerReflection",
                                   "grpc.reflection.v1.ServerReflection"));
}

TEST_P(BothVersionsTest, DescribesTheWebhookServiceWithEveryFileItNeeds) {
  const v1::ServerReflectionResponse response = AskOne(
      GetParam(), FileContainingSymbol("paradym.webhooks.v1.WebhookService"));
  ASSERT_TRUE(response.has_file_descriptor_response())
      << response.DebugString();
  EXPECT_EQ(response.original_request().file_containing_symbol(),
            "paradym.webhooks.v1.WebhookService");

  // The files alone are enough to build the service's descriptors.
  google::protobuf::SimpleDescriptorDatabase files;
  std::vector<std::string> names;
  for (const std::string& bytes :
       response.file_descriptor_response().file_descriptor_proto()) {
    FileDescriptorProto file;
    ASSERT_TRUE(file.ParseFromString(bytes));
    names.push_back(file.name());
    ASSERT_TRUE(files.Add(file));
  }
  EXPECT_THAT(names, ElementsAre("paradym/webhooks/v1/webhook_service.proto",
                                 "paradym/webhooks/v1/event.proto",
                                 "google/protobuf/struct.proto",
                                 "google/protobuf/timestamp.proto"));
  google::protobuf::DescriptorPool pool(&files);
  const google::protobuf::ServiceDescriptor* service =
      pool.FindServiceByName("paradym.webhooks.v1.WebhookService");
  ASSERT_NE(service, nullptr);
  EXPECT_EQ(service->file()->name(),
            "paradym/webhooks/v1/webhook_service.proto");
  std::vector<std::string> methods;
  for (int i = 0; i < service->method_count(); ++i) {
    methods.push_back(service->method(i)->name());
  }
  EXPECT_THAT(methods, ElementsAre("VerifyAndParse", "Ingest", "Subscribe",
                                   "ListEvents"));
  const google::protobuf::MethodDescriptor* subscribe =
      service->FindMethodByName("Subscribe");
  EXPECT_TRUE(subscribe->server_streaming());
  EXPECT_FALSE(subscribe->client_streaming());
  EXPECT_EQ(subscribe->input_type()->full_name(),
            "paradym.webhooks.v1.SubscribeRequest");
  EXPECT_EQ(subscribe->output_type()->full_name(),
            "paradym.webhooks.v1.SubscribeResponse");
}

TEST_P(BothVersionsTest, AnUnknownSymbolIsNotFound) {
  const v1::ServerReflectionResponse response =
      AskOne(GetParam(), FileContainingSymbol("paradym.webhooks.v1.NoService"));
  ASSERT_TRUE(response.has_error_response()) << response.DebugString();
  EXPECT_EQ(response.error_response().error_code(), 5);  // NOT_FOUND
  EXPECT_EQ(response.error_response().error_message(), "Symbol not found.");
  EXPECT_EQ(response.original_request().file_containing_symbol(),
            "paradym.webhooks.v1.NoService");
}

// v1 answers every question exactly as v1alpha does, byte for byte. Each
// question goes on a fresh stream: gRPC 1.51's v1alpha reuses its response
// within a stream, which v1 deliberately does not.
TEST_F(ReflectionTest, V1AnswersExactlyAsV1alpha) {
  v1::ServerReflectionRequest with_host = ListServices();
  with_host.set_host("example.test");
  const struct {
    const char* name;
    v1::ServerReflectionRequest request;
  } kCases[] = {
      {"list_services", ListServices()},
      {"list_services with a host", with_host},
      {"a service", FileContainingSymbol("paradym.webhooks.v1.WebhookService")},
      {"a method",
       FileContainingSymbol("paradym.webhooks.v1.WebhookService.Subscribe")},
      {"a message", FileContainingSymbol("paradym.webhooks.v1.Event")},
      {"the health service", FileContainingSymbol("grpc.health.v1.Health")},
      {"reflection v1",
       FileContainingSymbol("grpc.reflection.v1.ServerReflection")},
      {"reflection v1alpha",
       FileContainingSymbol("grpc.reflection.v1alpha.ServerReflection")},
      {"an unknown symbol", FileContainingSymbol("no.Such")},
      {"a file", FileByFilename("paradym/webhooks/v1/event.proto")},
      {"a well-known file", FileByFilename("google/protobuf/descriptor.proto")},
      {"an unknown file", FileByFilename("no/such.proto")},
      {"extension numbers",
       AllExtensionNumbersOfType("google.protobuf.FieldOptions")},
      {"extension numbers of an unknown type",
       AllExtensionNumbersOfType("no.Such")},
      {"an unknown extension",
       FileContainingExtension("google.protobuf.FieldOptions", 50000)},
      {"an extension of an unknown type",
       FileContainingExtension("no.Such", 1)},
      {"no question", v1::ServerReflectionRequest()},
  };
  for (const auto& c : kCases) {
    SCOPED_TRACE(c.name);
    const v1::ServerReflectionResponse v1alpha = AskOne(kV1alpha, c.request);
    const v1::ServerReflectionResponse v1 = AskOne(kV1, c.request);
    EXPECT_NE(v1alpha.message_response_case(),
              v1::ServerReflectionResponse::MESSAGE_RESPONSE_NOT_SET);
    EXPECT_TRUE(MessageDifferencer::Equals(v1, v1alpha))
        << "v1: " << v1.ShortDebugString()
        << "\nv1alpha: " << v1alpha.ShortDebugString();
  }
}

TEST_F(ReflectionTest, V1AnswersARepeatedQuestionTheSameWay) {
  const v1::ServerReflectionRequest request =
      FileByFilename("paradym/webhooks/v1/event.proto");
  const std::vector<v1::ServerReflectionResponse> responses =
      Ask(kV1, {request, ListServices(), request});
  ASSERT_EQ(responses.size(), 3u);
  EXPECT_TRUE(MessageDifferencer::Equals(responses[0], responses[2]));
  EXPECT_TRUE(
      MessageDifferencer::Equals(responses[0], AskOne(kV1alpha, request)));
}

}  // namespace
}  // namespace paradym::webhooks
