// grpc.reflection.v1 in-process: a real server on a free port answering from
// a small descriptor pool of its own, with extensions and a diamond of imports
// (the binary's generated pool has neither).

#include "server/grpc/reflection_v1_service.h"

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "google/protobuf/descriptor.pb.h"
#include "google/protobuf/text_format.h"
#include "gtest/gtest.h"
#include "tests/testing/grpc_status.h"
#include "tests/testing/reflection_requests.h"
#include "tests/testing/status_matchers.h"

namespace paradym::webhooks {
namespace {

namespace v1 = ::grpc::reflection::v1;
using ::google::protobuf::FileDescriptorProto;
using ::paradym::webhooks::testing::AllExtensionNumbersOfType;
using ::paradym::webhooks::testing::FileByFilename;
using ::paradym::webhooks::testing::FileContainingExtension;
using ::paradym::webhooks::testing::FileContainingSymbol;
using ::paradym::webhooks::testing::IsOk;
using ::paradym::webhooks::testing::ListServices;
using ::testing::ElementsAre;
using ::testing::UnorderedElementsAre;

// test/all.proto imports ext_a and ext_b, which both import base: a diamond.
constexpr const char* kFiles[] = {
    R"pb(
      name: "test/base.proto"
      package: "test"
      message_type {
        name: "Base"
        extension_range { start: 100 end: 200 }
      }
      service {
        name: "Echo"
        method {
          name: "Say"
          input_type: ".test.Base"
          output_type: ".test.Base"
        }
      }
    )pb",
    R"pb(
      name: "test/ext_a.proto"
      package: "test"
      dependency: "test/base.proto"
      message_type { name: "A" }
      extension {
        name: "a"
        number: 100
        label: LABEL_OPTIONAL
        type: TYPE_INT32
        extendee: ".test.Base"
      }
    )pb",
    R"pb(
      name: "test/ext_b.proto"
      package: "test"
      dependency: "test/base.proto"
      extension {
        name: "b"
        number: 150
        label: LABEL_OPTIONAL
        type: TYPE_STRING
        extendee: ".test.Base"
      }
    )pb",
    R"pb(
      name: "test/all.proto"
      package: "test"
      dependency: "test/ext_a.proto"
      dependency: "test/ext_b.proto"
      message_type {
        name: "All"
        field {
          name: "a"
          number: 1
          label: LABEL_OPTIONAL
          type: TYPE_MESSAGE
          type_name: ".test.A"
        }
      }
    )pb",
};

// The names of the files in a file_descriptor_response, in order.
std::vector<std::string> FileNames(
    const v1::ServerReflectionResponse& response) {
  std::vector<std::string> names;
  for (const std::string& bytes :
       response.file_descriptor_response().file_descriptor_proto()) {
    FileDescriptorProto file;
    EXPECT_TRUE(file.ParseFromString(bytes));
    names.push_back(file.name());
  }
  return names;
}

std::vector<std::string> ServiceNames(
    const v1::ServerReflectionResponse& response) {
  std::vector<std::string> names;
  for (const auto& service : response.list_services_response().service()) {
    names.push_back(service.name());
  }
  return names;
}

class ReflectionV1ServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* text : kFiles) {
      FileDescriptorProto file;
      ASSERT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &file));
      ASSERT_NE(pool_.BuildFile(file), nullptr) << file.name();
    }
  }

  void Start(bool list_services = true) {
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                             &port_);
    if (list_services) {
      service_.AddTo(builder);
    } else {
      builder.RegisterService(&service_);
    }
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    stub_ = v1::ServerReflection::NewStub(grpc::CreateChannel(
        absl::StrCat("127.0.0.1:", port_), grpc::InsecureChannelCredentials()));
  }

  void TearDown() override {
    if (server_ != nullptr) {
      server_->Shutdown(std::chrono::system_clock::now() +
                        std::chrono::seconds(5));
    }
  }

  // Asks every question on one stream; one answer per question, in order.
  std::vector<v1::ServerReflectionResponse> Ask(
      const std::vector<v1::ServerReflectionRequest>& requests) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(30));
    auto stream = stub_->ServerReflectionInfo(&context);
    std::vector<v1::ServerReflectionResponse> responses;
    for (const auto& request : requests) {
      EXPECT_TRUE(stream->Write(request));
      v1::ServerReflectionResponse response;
      if (!stream->Read(&response)) break;
      responses.push_back(std::move(response));
    }
    stream->WritesDone();
    const grpc::Status status = stream->Finish();
    EXPECT_THAT(status, IsOk());
    EXPECT_EQ(responses.size(), requests.size());
    return responses;
  }

  v1::ServerReflectionResponse AskOne(
      const v1::ServerReflectionRequest& request) {
    std::vector<v1::ServerReflectionResponse> responses = Ask({request});
    return responses.empty() ? v1::ServerReflectionResponse() : responses[0];
  }

  google::protobuf::DescriptorPool pool_;
  ReflectionV1Service service_{pool_};
  int port_ = 0;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<v1::ServerReflection::Stub> stub_;
};

TEST_F(ReflectionV1ServiceTest, FileComesWithItsImportsEachOnceDepthFirst) {
  Start();
  const v1::ServerReflectionResponse response =
      AskOne(FileByFilename("test/all.proto"));
  ASSERT_TRUE(response.has_file_descriptor_response());
  EXPECT_THAT(FileNames(response),
              ElementsAre("test/all.proto", "test/ext_a.proto",
                          "test/base.proto", "test/ext_b.proto"));
  // Each file exactly as the pool has it.
  FileDescriptorProto expected;
  pool_.FindFileByName("test/all.proto")->CopyTo(&expected);
  EXPECT_EQ(response.file_descriptor_response().file_descriptor_proto(0),
            expected.SerializeAsString());
}

TEST_F(ReflectionV1ServiceTest, SymbolsFindTheFileThatDefinesThem) {
  Start();
  const struct {
    const char* symbol;
    const char* file;
  } kCases[] = {
      {"test.Echo", "test/base.proto"}, {"test.Echo.Say", "test/base.proto"},
      {"test.Base", "test/base.proto"}, {"test.All", "test/all.proto"},
      {"test.All.a", "test/all.proto"}, {"test.A", "test/ext_a.proto"},
      {"test.b", "test/ext_b.proto"},
  };
  for (const auto& c : kCases) {
    SCOPED_TRACE(c.symbol);
    const std::vector<std::string> files =
        FileNames(AskOne(FileContainingSymbol(c.symbol)));
    ASSERT_FALSE(files.empty());
    EXPECT_EQ(files[0], c.file);
  }
}

TEST_F(ReflectionV1ServiceTest, ExtensionsAreFoundByTypeAndNumber) {
  Start();
  EXPECT_THAT(FileNames(AskOne(FileContainingExtension("test.Base", 150))),
              ElementsAre("test/ext_b.proto", "test/base.proto"));

  const v1::ServerReflectionResponse numbers =
      AskOne(AllExtensionNumbersOfType("test.Base"));
  ASSERT_TRUE(numbers.has_all_extension_numbers_response());
  EXPECT_EQ(numbers.all_extension_numbers_response().base_type_name(),
            "test.Base");
  EXPECT_THAT(numbers.all_extension_numbers_response().extension_number(),
              UnorderedElementsAre(100, 150));

  // A type without extensions has none.
  const v1::ServerReflectionResponse none =
      AskOne(AllExtensionNumbersOfType("test.All"));
  ASSERT_TRUE(none.has_all_extension_numbers_response());
  EXPECT_EQ(none.all_extension_numbers_response().base_type_name(), "test.All");
  EXPECT_THAT(none.all_extension_numbers_response().extension_number(),
              ElementsAre());
}

TEST_F(ReflectionV1ServiceTest, UnanswerableQuestionsGetAnErrorResponse) {
  Start();
  const struct {
    const char* name;
    v1::ServerReflectionRequest request;
    int code;
    const char* message;
  } kCases[] = {
      {"unknown file", FileByFilename("test/none.proto"), 5, "File not found."},
      {"unknown symbol", FileContainingSymbol("test.None"), 5,
       "Symbol not found."},
      {"extension of an unknown type", FileContainingExtension("test.None", 1),
       5, "Type not found."},
      {"unknown extension number", FileContainingExtension("test.Base", 199), 5,
       "Extension not found."},
      {"extension numbers of an unknown type",
       AllExtensionNumbersOfType("test.None"), 5, "Type not found."},
      {"no question", v1::ServerReflectionRequest(), 12, ""},
  };
  for (const auto& c : kCases) {
    SCOPED_TRACE(c.name);
    const v1::ServerReflectionResponse response = AskOne(c.request);
    ASSERT_TRUE(response.has_error_response());
    EXPECT_EQ(response.error_response().error_code(), c.code);
    EXPECT_EQ(response.error_response().error_message(), c.message);
  }
}

TEST_F(ReflectionV1ServiceTest, ListsTheServicesOfItsServer) {
  Start();
  EXPECT_THAT(ServiceNames(AskOne(ListServices(""))),
              ElementsAre("grpc.reflection.v1.ServerReflection"));
}

TEST_F(ReflectionV1ServiceTest, WithoutAServerListListServicesIsNotFound) {
  Start(/*list_services=*/false);
  const v1::ServerReflectionResponse response = AskOne(ListServices(""));
  ASSERT_TRUE(response.has_error_response());
  EXPECT_EQ(response.error_response().error_code(), 5);
  EXPECT_EQ(response.error_response().error_message(), "Services not found.");
}

TEST_F(ReflectionV1ServiceTest, EveryQuestionOnAStreamGetsItsOwnAnswer) {
  Start();
  std::vector<v1::ServerReflectionRequest> requests = {
      FileByFilename("test/ext_a.proto"),
      FileByFilename("test/ext_a.proto"),
      ListServices(""),
      ListServices(""),
      FileContainingSymbol("test.None"),
      FileByFilename("test/base.proto")};
  requests[1].set_host("example.test");
  const std::vector<v1::ServerReflectionResponse> responses = Ask(requests);
  ASSERT_EQ(responses.size(), requests.size());
  for (std::size_t i = 0; i < responses.size(); ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(responses[i].valid_host(), requests[i].host());
    EXPECT_EQ(responses[i].original_request().SerializeAsString(),
              requests[i].SerializeAsString());
  }
  // A repeated question gets the same answer, not the files twice.
  EXPECT_THAT(FileNames(responses[0]),
              ElementsAre("test/ext_a.proto", "test/base.proto"));
  EXPECT_THAT(FileNames(responses[1]),
              ElementsAre("test/ext_a.proto", "test/base.proto"));
  EXPECT_THAT(ServiceNames(responses[3]),
              ElementsAre("grpc.reflection.v1.ServerReflection"));
  EXPECT_TRUE(responses[4].has_error_response());
  EXPECT_THAT(FileNames(responses[5]), ElementsAre("test/base.proto"));
}

}  // namespace
}  // namespace paradym::webhooks
