// Reading a Subscribe stream as a client does, for the tests of the gRPC
// adapter and of the real binary.
//
//   auto reader = stub->Subscribe(&context, request);
//   std::vector<v1::Event> events = ReadEvents(*reader, 3);
//   grpc::Status status = EndOf(*reader);  // after the server ends it

#ifndef PARADYM_WEBHOOKS_TESTS_TESTING_SUBSCRIBE_STREAM_H_
#define PARADYM_WEBHOOKS_TESTS_TESTING_SUBSCRIBE_STREAM_H_

#include <grpcpp/grpcpp.h>

#include <cstddef>
#include <vector>

#include "paradym/webhooks/v1/webhook_service.grpc.pb.h"

namespace paradym::webhooks::testing {

using SubscribeReader =
    grpc::ClientReaderInterface<::paradym::webhooks::v1::SubscribeResponse>;

// The events of the next responses, until `count` arrived or the stream
// ended (then fewer).
inline std::vector<::paradym::webhooks::v1::Event> ReadEvents(
    SubscribeReader& reader, std::size_t count) {
  std::vector<::paradym::webhooks::v1::Event> events;
  ::paradym::webhooks::v1::SubscribeResponse response;
  while (events.size() < count && reader.Read(&response)) {
    for (const auto& event : response.events()) events.push_back(event);
  }
  return events;
}

// The stream's final status, after reading and dropping what is left.
inline grpc::Status EndOf(SubscribeReader& reader) {
  ::paradym::webhooks::v1::SubscribeResponse response;
  while (reader.Read(&response)) {
  }
  return reader.Finish();
}

}  // namespace paradym::webhooks::testing

#endif  // PARADYM_WEBHOOKS_TESTS_TESTING_SUBSCRIBE_STREAM_H_
