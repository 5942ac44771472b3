// The live subscriber of the HTTP benchmark: streams every event from
// paradym-webhooksd, checks that sequences arrive without a gap or a repeat,
// and on SIGTERM/SIGINT (or when the stream ends) prints one JSON line:
//   {"events":N,"last_sequence":S,"gaps":0,"stream":"open"}
//
//   bench_subscriber --address=127.0.0.1:50051

#include <grpcpp/grpcpp.h>
#include <signal.h>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>

#include "paradym/webhooks/v1/webhook_service.grpc.pb.h"

namespace {

std::atomic<bool> stop{false};

void OnSignal(int) { stop.store(true); }

}  // namespace

int main(int argc, char** argv) {
  std::string address = "127.0.0.1:50051";
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], "--address=", 10) == 0) address = argv[i] + 10;
  }
  ::signal(SIGTERM, OnSignal);
  ::signal(SIGINT, OnSignal);
  auto stub = paradym::webhooks::v1::WebhookService::NewStub(
      grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  auto reader = stub->Subscribe(&context, {});
  std::thread watcher([&] {
    while (!stop.load())
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    context.TryCancel();
  });
  std::uint64_t events = 0, last = 0, gaps = 0;
  paradym::webhooks::v1::SubscribeResponse response;
  while (reader->Read(&response)) {
    for (const auto& event : response.events()) {
      if (last != 0 && event.sequence() != last + 1) ++gaps;
      last = event.sequence();
      ++events;
    }
  }
  const grpc::Status status = reader->Finish();
  const bool cancelled_by_us =
      stop.load() && status.error_code() == grpc::StatusCode::CANCELLED;
  stop.store(true);
  watcher.join();
  std::printf(
      "{\"events\":%llu,\"last_sequence\":%llu,\"gaps\":%llu,\"stream\":\"%s\"}"
      "\n",
      static_cast<unsigned long long>(events),
      static_cast<unsigned long long>(last),
      static_cast<unsigned long long>(gaps),
      cancelled_by_us ? "open" : status.error_message().c_str());
  return cancelled_by_us && gaps == 0 ? 0 : 1;
}
