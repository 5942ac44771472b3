// The replay benchmark's client (bench/run.sh; bench_subscriber is the live
// one, with many streams). It has three modes.
//
// Live (the default): streams every event from paradym-webhooksd, checks
// that sequences arrive without a gap or a repeat, and on SIGTERM/SIGINT (or
// when the stream ends) prints one JSON line:
//   {"events":N,"last_sequence":S,"gaps":0,"stream":"open"}
//
// Replay (--replay_events=N): the rate at which stored events come back
// from the store. Subscribes from the oldest event (start_after_sequence =
// 0) and stops after N events; or pages through ListEvents (--list, pages
// of 1000) until N events. Prints one JSON line and exits 0 when all N
// arrived in order within --timeout_seconds (default 120):
//   {"mode":"subscribe","events":N,"seconds":T,"events_per_second":R,"gaps":0}
//
//   bench_subscriber --address=127.0.0.1:50051
//   bench_replay --address=127.0.0.1:50051 --replay_events=500000
//   bench_replay --address=127.0.0.1:50051 --replay_events=500000 --list

#include <grpcpp/grpcpp.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>

#include "google/protobuf/arena.h"
#include "paradym/webhooks/v1/webhook_service.grpc.pb.h"

namespace {

namespace v1 = ::paradym::webhooks::v1;

std::atomic<bool> stop{false};

void OnSignal(int) { stop.store(true); }

// Counts events and gaps between consecutive sequences.
struct Tally {
  std::uint64_t events = 0;
  std::uint64_t last = 0;
  std::uint64_t gaps = 0;

  void Add(std::uint64_t sequence) {
    if (last != 0 && sequence != last + 1) ++gaps;
    last = sequence;
    ++events;
  }
};

int Live(v1::WebhookService::Stub& stub) {
  grpc::ClientContext context;
  auto reader = stub.Subscribe(&context, {});
  std::thread watcher([&] {
    while (!stop.load())
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    context.TryCancel();
  });
  Tally tally;
  v1::SubscribeResponse response;
  while (reader->Read(&response)) {
    for (const auto& event : response.events()) tally.Add(event.sequence());
  }
  const grpc::Status status = reader->Finish();
  const bool cancelled_by_us =
      stop.load() && status.error_code() == grpc::StatusCode::CANCELLED;
  stop.store(true);
  watcher.join();
  std::printf(
      "{\"events\":%llu,\"last_sequence\":%llu,\"gaps\":%llu,\"stream\":\"%s\"}"
      "\n",
      static_cast<unsigned long long>(tally.events),
      static_cast<unsigned long long>(tally.last),
      static_cast<unsigned long long>(tally.gaps),
      cancelled_by_us ? "open" : status.error_message().c_str());
  return cancelled_by_us && tally.gaps == 0 ? 0 : 1;
}

// Subscribe from the oldest event until `wanted` events arrived.
grpc::Status ReplaySubscribe(v1::WebhookService::Stub& stub,
                             std::uint64_t wanted,
                             std::chrono::system_clock::time_point deadline,
                             Tally& tally) {
  grpc::ClientContext context;
  context.set_deadline(deadline);
  v1::SubscribeRequest request;
  request.set_start_after_sequence(0);
  auto reader = stub.Subscribe(&context, request);
  v1::SubscribeResponse response;
  while (tally.events < wanted && reader->Read(&response)) {
    for (const auto& event : response.events()) tally.Add(event.sequence());
  }
  if (tally.events >= wanted) {
    context.TryCancel();
    reader->Finish();
    return grpc::Status::OK;
  }
  return reader->Finish();
}

// ListEvents from the oldest event, pages of 1000, until `wanted` events
// arrived or the last page. Each page is decoded into an arena, as a client
// that reads many pages would: a page is a thousand events of nested
// messages, and freeing them one by one would cost this client more than
// the server spends on the page, measuring the client instead.
grpc::Status ReplayList(v1::WebhookService::Stub& stub, std::uint64_t wanted,
                        std::chrono::system_clock::time_point deadline,
                        Tally& tally) {
  v1::ListEventsRequest request;
  request.set_page_size(1000);
  while (tally.events < wanted) {
    google::protobuf::Arena arena;
    auto* response =
        google::protobuf::Arena::CreateMessage<v1::ListEventsResponse>(&arena);
    grpc::ClientContext context;
    context.set_deadline(deadline);
    if (grpc::Status status = stub.ListEvents(&context, request, response);
        !status.ok()) {
      return status;
    }
    for (const auto& event : response->events()) tally.Add(event.sequence());
    if (response->next_page_token().empty()) break;
    request.set_page_token(response->next_page_token());
  }
  return grpc::Status::OK;
}

int Replay(v1::WebhookService::Stub& stub, std::uint64_t wanted, bool list,
           int timeout_seconds) {
  const auto start = std::chrono::steady_clock::now();
  const auto deadline =
      std::chrono::system_clock::now() + std::chrono::seconds(timeout_seconds);
  Tally tally;
  const grpc::Status status =
      list ? ReplayList(stub, wanted, deadline, tally)
           : ReplaySubscribe(stub, wanted, deadline, tally);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();
  std::printf(
      "{\"mode\":\"%s\",\"events\":%llu,\"seconds\":%.3f,"
      "\"events_per_second\":%.0f,\"gaps\":%llu,\"status\":\"%s\"}\n",
      list ? "list" : "subscribe",
      static_cast<unsigned long long>(tally.events), seconds,
      seconds > 0 ? static_cast<double>(tally.events) / seconds : 0.0,
      static_cast<unsigned long long>(tally.gaps),
      status.ok() ? "ok" : status.error_message().c_str());
  return status.ok() && tally.events >= wanted && tally.gaps == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  std::string address = "127.0.0.1:50051";
  std::uint64_t replay_events = 0;
  bool list = false;
  int timeout_seconds = 120;
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], "--address=", 10) == 0) {
      address = argv[i] + 10;
    } else if (std::strncmp(argv[i], "--replay_events=", 16) == 0) {
      replay_events = std::strtoull(argv[i] + 16, nullptr, 10);
    } else if (std::strcmp(argv[i], "--list") == 0) {
      list = true;
    } else if (std::strncmp(argv[i], "--timeout_seconds=", 18) == 0) {
      timeout_seconds = std::atoi(argv[i] + 18);
    } else {
      std::fprintf(stderr, "bench_subscriber: unknown flag %s\n", argv[i]);
      return 2;
    }
  }
  grpc::ChannelArguments arguments;
  arguments.SetMaxReceiveMessageSize(-1);
  auto stub = v1::WebhookService::NewStub(grpc::CreateCustomChannel(
      address, grpc::InsecureChannelCredentials(), arguments));
  if (replay_events > 0) {
    return Replay(*stub, replay_events, list, timeout_seconds);
  }
  ::signal(SIGTERM, OnSignal);
  ::signal(SIGINT, OnSignal);
  return Live(*stub);
}
