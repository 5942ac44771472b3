#include "client/grpc_subscribe_stub.h"

#include <chrono>

namespace paradym::webhooks::cli {
namespace {

namespace v1 = ::paradym::webhooks::v1;

class GrpcSubscribeStream final : public SubscribeStream {
 public:
  GrpcSubscribeStream(Connection& connection,
                      const v1::SubscribeRequest& request) {
    connection.Prepare(context_);
    reader_ = connection.stub().Subscribe(&context_, request);
  }

  ~GrpcSubscribeStream() override {
    if (!finished_) context_.TryCancel();
  }

  bool Read(v1::SubscribeResponse& response) override {
    return reader_->Read(&response);
  }

  grpc::Status Finish() override {
    finished_ = true;
    return reader_->Finish();
  }

 private:
  grpc::ClientContext context_;
  std::unique_ptr<grpc::ClientReader<v1::SubscribeResponse>> reader_;
  bool finished_ = false;
};

}  // namespace

std::optional<std::uint64_t> GrpcSubscribeStub::LastSequence() {
  grpc::ClientContext context;
  connection_.Prepare(context);
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(10));
  v1::ListEventsRequest probe;
  probe.set_page_size(1);
  v1::ListEventsResponse now;
  if (!connection_.stub().ListEvents(&context, probe, &now).ok()) {
    return std::nullopt;
  }
  return now.last_sequence();
}

std::unique_ptr<SubscribeStream> GrpcSubscribeStub::Subscribe(
    const v1::SubscribeRequest& request) {
  return std::make_unique<GrpcSubscribeStream>(connection_, request);
}

void GrpcSubscribeStub::Reconnect() { connection_.Reset(); }

}  // namespace paradym::webhooks::cli
