// Microbenchmarks of the core's per-webhook path, in-process (no sockets):
// what one accepted webhook costs in CPU, piece by piece. Run:
//   build/bench/core_bench --benchmark_min_time=0.5
// Report ratios between these, not absolute figures: the machine is shared.

#include <benchmark/benchmark.h>

#include <cstdlib>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "server/core/clock.h"
#include "server/core/event_normalizer.h"
#include "server/core/memory_event_log.h"
#include "server/core/signature_verifier.h"
#include "server/core/stored_event.h"
#include "server/core/strict_json_parser.h"
#include "server/core/subscription_hub.h"
#include "server/core/webhook_ingestor.h"

namespace paradym::webhooks {
namespace {

constexpr char kSecret[] = "bench-secret";

const std::string& Body() {
  static const std::string* body = [] {
    const char* dir = std::getenv("PARADYM_BENCH_DIR");
    std::ifstream in(std::string(dir ? dir : "bench") + "/event.json",
                     std::ios::binary);
    std::ostringstream contents;
    contents << in.rdbuf();
    if (contents.str().empty()) std::abort();
    return new std::string(contents.str());
  }();
  return *body;
}

void BM_ComputeDigest(benchmark::State& state) {
  for (auto _ : state) {
    benchmark::DoNotOptimize(ComputeDigest(kSecret, Body()));
  }
}
BENCHMARK(BM_ComputeDigest);

void BM_HmacKeySign(benchmark::State& state) {
  const HmacKey key(kSecret);
  for (auto _ : state) benchmark::DoNotOptimize(key.Sign(Body()));
}
BENCHMARK(BM_HmacKeySign);

void BM_ParseJsonObject(benchmark::State& state) {
  for (auto _ : state) {
    google::protobuf::Struct object;
    benchmark::DoNotOptimize(ParseJsonObject(Body(), 64, object));
  }
}
BENCHMARK(BM_ParseJsonObject);

void BM_ParseJsonObjectOnArena(benchmark::State& state) {
  google::protobuf::ArenaOptions options;
  options.start_block_size = 4096;
  for (auto _ : state) {
    google::protobuf::Arena arena(options);
    auto* object =
        google::protobuf::Arena::CreateMessage<google::protobuf::Struct>(
            &arena);
    benchmark::DoNotOptimize(ParseJsonObject(Body(), 64, *object));
  }
}
BENCHMARK(BM_ParseJsonObjectOnArena);

void BM_EventByteSize(benchmark::State& state) {
  v1::Event event;
  if (!EventNormalizer().Normalize(Body(), event).ok()) std::abort();
  for (auto _ : state) benchmark::DoNotOptimize(event.ByteSizeLong());
}
BENCHMARK(BM_EventByteSize);

void BM_Normalize(benchmark::State& state) {
  EventNormalizer normalizer;
  for (auto _ : state) {
    v1::Event event;
    benchmark::DoNotOptimize(normalizer.Normalize(Body(), event));
  }
}
BENCHMARK(BM_Normalize);

// What the server does: the encoding straight from the parser.
void BM_Encode(benchmark::State& state) {
  EventNormalizer normalizer;
  EventNormalizer::EncodedEvent encoded;
  const absl::Time now = absl::Now();
  for (auto _ : state) {
    benchmark::DoNotOptimize(
        normalizer.Encode(Body(), {"default", now}, encoded));
  }
}
BENCHMARK(BM_Encode);

// What reading an event back from a store's lean row costs: the event
// derived again from its body, endpoint and receive time.
void BM_StoredEventFromBody(benchmark::State& state) {
  const absl::Time received = absl::Now();
  for (auto _ : state) {
    benchmark::DoNotOptimize(
        StoredEvent::FromBody(1, received, "default", Body()));
  }
}
BENCHMARK(BM_StoredEventFromBody);

struct Pipeline {
  explicit Pipeline(std::size_t queue = 1 << 20)
      : log({100000, std::size_t{512} << 20}),
        hub(log, {queue}),
        ingestor({},
                 SignatureVerifier(
                     std::vector<EndpointSecrets>{{"default", {kSecret}}}),
                 log, hub, clock) {}
  RealClock clock;
  MemoryEventLog log;
  SubscriptionHub hub;
  WebhookIngestor ingestor;
};

void BM_VerifyAndParse(benchmark::State& state) {
  Pipeline pipeline;
  const std::string signature = SignBody(kSecret, Body());
  for (auto _ : state) {
    benchmark::DoNotOptimize(
        pipeline.ingestor.VerifyAndParse({Body(), signature, ""}));
  }
}
BENCHMARK(BM_VerifyAndParse);

void BM_VerifyAndEncode(benchmark::State& state) {
  Pipeline pipeline;
  const std::string signature = SignBody(kSecret, Body());
  EventNormalizer::EncodedEvent encoded;
  absl::Time receive_time;
  for (auto _ : state) {
    benchmark::DoNotOptimize(pipeline.ingestor.VerifyAndEncode(
        {Body(), signature, ""}, encoded, receive_time));
  }
}
BENCHMARK(BM_VerifyAndEncode);

// Distinct signed webhooks: Body() with its webhookId made unique. More
// than the memory log holds, so that by the time one comes round again the
// log has dropped it and it is stored anew rather than answered as a replay.
struct SignedBodies {
  std::vector<std::string> bodies;
  std::vector<std::string> signatures;
};
const SignedBodies& DistinctBodies() {
  static const SignedBodies* pool = [] {
    constexpr int kCount = 1 << 17;
    const std::string id = "5b0c9b64-2f0e-4a4c-9d7e-0a1b2c3d4e5f";
    const std::size_t at = Body().find(id);
    if (at == std::string::npos) std::abort();
    auto* made = new SignedBodies;
    for (int i = 0; i < kCount; ++i) {
      std::string body = Body();
      // The id's last 12 characters, as a 12-digit number.
      const std::string unique = std::to_string(i);
      body.replace(at + id.size() - 12, 12,
                   std::string(12 - unique.size(), '0') + unique);
      made->signatures.push_back(SignBody(kSecret, body));
      made->bodies.push_back(std::move(body));
    }
    return made;
  }();
  return *pool;
}

// Ingest distinct webhooks into the in-memory log; `state.range(0)`
// subscribers drain it.
void BM_Ingest(benchmark::State& state) {
  Pipeline pipeline;
  const SignedBodies& pool = DistinctBodies();
  std::vector<std::shared_ptr<Subscription>> subscriptions;
  for (int i = 0; i < state.range(0); ++i) {
    subscriptions.push_back(*pipeline.hub.Subscribe({}, std::nullopt, [] {}));
  }
  std::vector<EventPtr> batch;
  std::size_t next = 0;
  for (auto _ : state) {
    pipeline.ingestor.Ingest({pool.bodies[next], pool.signatures[next], ""},
                             [](absl::StatusOr<EventPtr> stored) {
                               if (!stored.ok()) std::abort();
                             });
    next = (next + 1) % pool.bodies.size();
    for (auto& subscription : subscriptions) {
      if (!subscription->Next(256, 1 << 20, batch).ok()) std::abort();
    }
  }
  if (pipeline.ingestor.duplicates().value() != 0) {
    state.SkipWithError("a webhook was answered as a replay");
  }
  for (auto& subscription : subscriptions) {
    pipeline.hub.Unsubscribe(*subscription);
  }
}
BENCHMARK(BM_Ingest)->Arg(0)->Arg(1)->Arg(8);

// The same signed webhook again and again: every one after the first is a
// replay, answered with the stored original and not stored.
void BM_IngestReplay(benchmark::State& state) {
  Pipeline pipeline;
  const std::string signature = SignBody(kSecret, Body());
  for (auto _ : state) {
    pipeline.ingestor.Ingest({Body(), signature, ""},
                             [](absl::StatusOr<EventPtr> stored) {
                               if (!stored.ok()) std::abort();
                             });
  }
  if (pipeline.log.Range().last != 1) {
    state.SkipWithError("a replay was stored");
  }
}
BENCHMARK(BM_IngestReplay);

}  // namespace
}  // namespace paradym::webhooks

BENCHMARK_MAIN();
