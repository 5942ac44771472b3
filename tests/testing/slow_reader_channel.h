// A gRPC channel whose transport buffers little (no BDP probing, a 16 KiB
// stream window), so a client that stops reading makes the server's writes
// wait soon: how tests make a subscriber fall behind.
//
//   auto stub = v1::WebhookService::NewStub(SlowReaderChannel(address));

#ifndef PARADYM_WEBHOOKS_TESTS_TESTING_SLOW_READER_CHANNEL_H_
#define PARADYM_WEBHOOKS_TESTS_TESTING_SLOW_READER_CHANNEL_H_

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

namespace paradym::webhooks::testing {

inline std::shared_ptr<grpc::Channel> SlowReaderChannel(
    const std::string& address) {
  grpc::ChannelArguments args;
  args.SetInt("grpc.http2.bdp_probe", 0);
  args.SetInt("grpc.http2.lookahead_bytes", 16 * 1024);
  return grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(),
                                   args);
}

}  // namespace paradym::webhooks::testing

#endif  // PARADYM_WEBHOOKS_TESTS_TESTING_SLOW_READER_CHANNEL_H_
