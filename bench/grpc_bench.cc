// The unary gRPC benchmark: how many VerifyAndParse calls per second a
// paradym-webhooksd answers, against its own grpc.health.v1.Health/Check
// under the same load, in one run. Health/Check is the cheapest call a gRPC
// server answers (a map lookup), so the ratio says how much of a call our
// work adds to gRPC's own cost per call.
//
// One client thread keeps --concurrency calls in flight on one channel
// (generic stub, raw bytes, so both methods cost the client the same), for
// --duration seconds per method, the methods alternating for --rounds
// rounds (which goes first alternates too, so that a drift in the machine's
// load favours neither). Prints one JSON line with the median calls/s of
// each and the median of the rounds' ratios (each round's two runs are
// back to back, so their ratio is the steadiest figure on a noisy machine);
// exits 1 if any call failed.
//
//   grpc_bench --address=127.0.0.1:50051 --request=FILE
//       --concurrency=32 --duration=5 --rounds=3
//
// The request file holds one line as bench/signed_bodies.py writes it: the
// hex signature, a tab, the body.

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include "paradym/webhooks/v1/webhook_service.pb.h"

namespace {

struct Flags {
  std::string address = "127.0.0.1:50051";
  std::string request_file;
  int concurrency = 32;
  double duration_seconds = 5;
  int rounds = 3;
};

bool ParseFlags(int argc, char** argv, Flags& flags) {
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const auto value = [&](const char* name) -> const char* {
      const std::size_t n = std::strlen(name);
      return arg.compare(0, n, name) == 0 ? argv[i] + n : nullptr;
    };
    if (const char* v = value("--address=")) {
      flags.address = v;
    } else if (const char* v = value("--request=")) {
      flags.request_file = v;
    } else if (const char* v = value("--concurrency=")) {
      flags.concurrency = std::max(1, std::atoi(v));
    } else if (const char* v = value("--duration=")) {
      flags.duration_seconds = std::max(0.1, std::atof(v));
    } else if (const char* v = value("--rounds=")) {
      flags.rounds = std::max(1, std::atoi(v));
    } else {
      std::fprintf(stderr, "grpc_bench: unknown flag %s\n", argv[i]);
      return false;
    }
  }
  if (flags.request_file.empty()) {
    std::fprintf(stderr, "grpc_bench: --request=FILE is required\n");
    return false;
  }
  return true;
}

// One call in flight; its tag is itself.
struct Call {
  grpc::ClientContext context;
  grpc::ByteBuffer response;
  grpc::Status status;
  std::unique_ptr<grpc::GenericClientAsyncResponseReader> reader;
};

struct Result {
  double calls_per_second = 0;
  std::uint64_t failed = 0;
  std::string first_error;
};

// Calls `method` with `request` for `seconds`, `concurrency` at a time.
Result Run(grpc::GenericStub& stub, const std::string& method,
           const grpc::ByteBuffer& request, int concurrency, double seconds) {
  grpc::CompletionQueue queue;
  Result result;
  std::uint64_t completed = 0;
  const auto start = std::chrono::steady_clock::now();
  const auto deadline =
      start + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                  std::chrono::duration<double>(seconds));
  const auto start_call = [&] {
    auto* call = new Call;
    call->reader =
        stub.PrepareUnaryCall(&call->context, method, request, &queue);
    call->reader->StartCall();
    call->reader->Finish(&call->response, &call->status, call);
  };
  for (int i = 0; i < concurrency; ++i) start_call();
  int in_flight = concurrency;
  void* tag = nullptr;
  bool ok = false;
  while (in_flight > 0 && queue.Next(&tag, &ok)) {
    std::unique_ptr<Call> call(static_cast<Call*>(tag));
    --in_flight;
    if (ok && call->status.ok()) {
      ++completed;
    } else {
      if (result.failed++ == 0) {
        result.first_error = call->status.error_message();
      }
    }
    if (std::chrono::steady_clock::now() < deadline) {
      start_call();
      ++in_flight;
    }
  }
  queue.Shutdown();
  while (queue.Next(&tag, &ok)) {
  }
  const double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();
  result.calls_per_second = static_cast<double>(completed) / elapsed;
  return result;
}

grpc::ByteBuffer ToByteBuffer(const std::string& bytes) {
  grpc::Slice slice(bytes);
  return grpc::ByteBuffer(&slice, 1);
}

double Median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values[(values.size() - 1) / 2];
}

}  // namespace

int main(int argc, char** argv) {
  Flags flags;
  if (!ParseFlags(argc, argv, flags)) return 2;
  std::ifstream file(flags.request_file, std::ios::binary);
  std::string line;
  if (!std::getline(file, line) || line.find('\t') == std::string::npos) {
    std::fprintf(stderr, "grpc_bench: %s holds no SIGNATURE<TAB>BODY line\n",
                 flags.request_file.c_str());
    return 2;
  }
  paradym::webhooks::v1::VerifyAndParseRequest verify;
  verify.set_signature(line.substr(0, line.find('\t')));
  verify.set_body(line.substr(line.find('\t') + 1));
  const grpc::ByteBuffer verify_request =
      ToByteBuffer(verify.SerializeAsString());
  // HealthCheckRequest{service: ""}: the server's overall status.
  const grpc::ByteBuffer health_request = ToByteBuffer("");

  grpc::ChannelArguments arguments;
  // One connection for all calls, as one client process has.
  arguments.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  grpc::GenericStub stub(grpc::CreateCustomChannel(
      flags.address, grpc::InsecureChannelCredentials(), arguments));
  const std::string health_method = "/grpc.health.v1.Health/Check";
  const std::string verify_method =
      "/paradym.webhooks.v1.WebhookService/VerifyAndParse";

  // A short warm-up of both: connection, server threads, caches.
  Run(stub, health_method, health_request, flags.concurrency, 0.5);
  Run(stub, verify_method, verify_request, flags.concurrency, 0.5);
  std::vector<double> health, verify_rates, ratios;
  std::uint64_t failed = 0;
  std::string first_error;
  for (int round = 0; round < flags.rounds; ++round) {
    for (int which = 0; which < 2; ++which) {
      const bool is_health = (which + round) % 2 == 0;
      const Result result = Run(stub, is_health ? health_method : verify_method,
                                is_health ? health_request : verify_request,
                                flags.concurrency, flags.duration_seconds);
      (is_health ? health : verify_rates).push_back(result.calls_per_second);
      if (result.failed > 0 && failed == 0) first_error = result.first_error;
      failed += result.failed;
      std::fprintf(stderr, "  round %d %-14s %10.0f calls/s\n", round + 1,
                   is_health ? "Health/Check" : "VerifyAndParse",
                   result.calls_per_second);
    }
    ratios.push_back(verify_rates.back() / health.back());
  }
  const double health_median = Median(health);
  const double verify_median = Median(verify_rates);
  std::printf(
      "{\"health_check_per_second\":%.0f,\"verify_and_parse_per_second\":%.0f,"
      "\"ratio\":%.2f,\"failed\":%llu}\n",
      health_median, verify_median, Median(ratios),
      static_cast<unsigned long long>(failed));
  if (failed > 0) {
    std::fprintf(stderr, "grpc_bench: %llu calls failed; the first: %s\n",
                 static_cast<unsigned long long>(failed), first_error.c_str());
    return 1;
  }
  return 0;
}
