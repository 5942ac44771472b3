// The subscribers of the HTTP benchmark: opens one or more Subscribe streams
// to paradym-webhooksd, each on its own connection (as separate clients
// would), checks that sequences arrive in order without a gap or a repeat,
// measures how long each event took from its `receive_time` to its receipt
// here (the same machine's clock), and on SIGTERM/SIGINT (or when every
// stream has ended) prints one JSON line:
//   {"streams":1,"events":N,"responses":R,"bytes":B,"last_sequence":S,
//    "gaps":0,"cut_off":0,"ended":0,"latency_ms":{"p50":0.4,"p99":2.1,"max":3.0},
//    "stream":"open","per_stream":[...]}
// (`responses`: the SubscribeResponse messages, the server's writes; `bytes`:
// theirs)
// `gaps` counts every sequence that is not the previous one plus one (with a
// filter that some events do not match, jumps are expected: compare with
// `events`); `cut_off` the streams ended with RESOURCE_EXHAUSTED (a
// subscriber too slow); `ended` those ended any other way; `stream` is
// "open" when every stream was still open when we stopped, else the first
// error. The exit status is 0 only for no gap and every stream open.
//
//   bench_subscriber --address=127.0.0.1:50051
//   # 99 streams; stream i filters on project other-i:
//   bench_subscriber --streams=99 --project_id=other-{i}
//
// It reads the responses as bytes and decodes only each event's `sequence`
// and `receive_time`, so that a hundred streams at thousands of events a
// second cost this process little of the CPU it shares with the server.

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <signal.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "paradym/webhooks/v1/webhook_service.grpc.pb.h"

namespace {

namespace v1 = ::paradym::webhooks::v1;

std::atomic<bool> stop{false};

void OnSignal(int) { stop.store(true); }

std::int64_t NowMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Latencies in microseconds, in buckets about 3% wide: exact below 64 µs,
// then 32 buckets per power of two.
class Histogram {
 public:
  void Add(std::int64_t micros) {
    ++counts_[Bucket(micros < 0 ? 0 : static_cast<std::uint64_t>(micros))];
  }
  void Merge(const Histogram& other) {
    for (std::size_t i = 0; i < counts_.size(); ++i) {
      counts_[i] += other.counts_[i];
    }
  }
  std::uint64_t count() const {
    std::uint64_t n = 0;
    for (std::uint64_t c : counts_) n += c;
    return n;
  }
  // The smallest bucket value at or above the fraction `q` of the samples.
  double QuantileMillis(double q) const {
    const std::uint64_t n = count();
    if (n == 0) return 0;
    const std::uint64_t rank =
        std::max<std::uint64_t>(1, static_cast<std::uint64_t>(q * n + 0.5));
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < counts_.size(); ++i) {
      seen += counts_[i];
      if (seen >= rank) return UpperBound(i) / 1000.0;
    }
    return UpperBound(counts_.size() - 1) / 1000.0;
  }

 private:
  static constexpr int kSubBits = 5;  // 32 buckets per power of two
  static constexpr std::size_t kBuckets = 64 * 32;

  static std::size_t Bucket(std::uint64_t v) {
    if (v < 64) return v;
    const int exponent = 63 - __builtin_clzll(v);  // >= 6
    const std::uint64_t mantissa =
        (v >> (exponent - kSubBits)) & ((1u << kSubBits) - 1);
    const std::size_t bucket =
        64 + (exponent - 6) * (std::size_t{1} << kSubBits) + mantissa;
    return std::min(bucket, kBuckets - 1);
  }
  static double UpperBound(std::size_t bucket) {
    if (bucket < 64) return static_cast<double>(bucket);
    const int exponent = static_cast<int>((bucket - 64) >> kSubBits) + 6;
    const std::uint64_t mantissa = (bucket - 64) & ((1u << kSubBits) - 1);
    return static_cast<double>(((std::uint64_t{1} << kSubBits) + mantissa + 1)
                               << (exponent - kSubBits));
  }

  std::array<std::uint64_t, kBuckets> counts_{};
};

// A minimal protobuf wire reader over one contiguous buffer.
class WireReader {
 public:
  WireReader(const std::uint8_t* data, std::size_t size)
      : p_(data), end_(data + size) {}

  bool done() const { return p_ == end_; }

  bool Varint(std::uint64_t& value) {
    value = 0;
    for (int shift = 0; shift < 64 && p_ < end_; shift += 7) {
      const std::uint8_t byte = *p_++;
      value |= static_cast<std::uint64_t>(byte & 0x7f) << shift;
      if ((byte & 0x80) == 0) return true;
    }
    return false;
  }
  // Reads a tag; on a length-delimited field also its bytes.
  bool Field(std::uint32_t& number, std::uint32_t& wire_type,
             std::uint64_t& varint, const std::uint8_t*& bytes,
             std::size_t& size) {
    std::uint64_t tag;
    if (!Varint(tag)) return false;
    number = static_cast<std::uint32_t>(tag >> 3);
    wire_type = static_cast<std::uint32_t>(tag & 7);
    switch (wire_type) {
      case 0:
        return Varint(varint);
      case 1:
        return Skip(8);
      case 5:
        return Skip(4);
      case 2: {
        std::uint64_t length;
        if (!Varint(length) || length > static_cast<std::uint64_t>(end_ - p_)) {
          return false;
        }
        bytes = p_;
        size = static_cast<std::size_t>(length);
        p_ += length;
        return true;
      }
      default:
        return false;
    }
  }

 private:
  bool Skip(std::size_t n) {
    if (static_cast<std::size_t>(end_ - p_) < n) return false;
    p_ += n;
    return true;
  }

  const std::uint8_t* p_;
  const std::uint8_t* end_;
};

// What one stream saw.
struct StreamStats {
  std::uint64_t responses = 0;
  std::uint64_t bytes = 0;
  std::uint64_t events = 0;
  std::uint64_t last = 0;
  std::uint64_t gaps = 0;
  bool undecodable = false;
  Histogram latency;
};

// One Subscribe stream on its own channel, read as bytes.
class Stream final
    : public grpc::ClientBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer> {
 public:
  Stream(const std::string& address, const v1::SubscribeRequest& request) {
    grpc::ChannelArguments args;
    // Its own connection: channels with the same arguments would share one.
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    channel_ = grpc::CreateCustomChannel(
        address, grpc::InsecureChannelCredentials(), args);
    std::string bytes = request.SerializeAsString();
    grpc::Slice slice(bytes);
    request_ = grpc::ByteBuffer(&slice, 1);
    grpc::GenericStub stub(channel_);
    stub.PrepareBidiStreamingCall(
        &context_, "/paradym.webhooks.v1.WebhookService/Subscribe",
        grpc::StubOptions(), this);
    StartWriteLast(&request_, grpc::WriteOptions());
    StartRead(&response_);
    StartCall();
  }

  void OnReadDone(bool ok) override {
    if (!ok) return;  // OnDone follows with the status
    const std::int64_t now = NowMicros();
    ++stats_.responses;
    stats_.bytes += response_.Length();
    grpc::Slice slice;
    if (!response_.DumpToSingleSlice(&slice).ok()) {
      stats_.undecodable = true;
    } else {
      Decode(slice.begin(), slice.size(), now);
    }
    response_.Clear();
    StartRead(&response_);
  }

  void OnDone(const grpc::Status& status) override {
    std::lock_guard<std::mutex> lock(mu_);
    status_ = status;
    done_ = true;
  }

  void Cancel() { context_.TryCancel(); }

  bool done() {
    std::lock_guard<std::mutex> lock(mu_);
    return done_;
  }
  // After done().
  const grpc::Status& status() const { return status_; }
  const StreamStats& stats() const { return stats_; }

 private:
  void Decode(const std::uint8_t* data, std::size_t size, std::int64_t now) {
    WireReader response(data, size);
    while (!response.done()) {
      std::uint32_t number, wire_type;
      std::uint64_t varint = 0;
      const std::uint8_t* event_bytes = nullptr;
      std::size_t event_size = 0;
      if (!response.Field(number, wire_type, varint, event_bytes, event_size)) {
        stats_.undecodable = true;
        return;
      }
      if (number != 1 || wire_type != 2) continue;
      std::uint64_t sequence = 0;
      std::int64_t received_micros = 0;
      WireReader event(event_bytes, event_size);
      while (!event.done()) {
        const std::uint8_t* bytes = nullptr;
        std::size_t length = 0;
        if (!event.Field(number, wire_type, varint, bytes, length)) {
          stats_.undecodable = true;
          return;
        }
        if (number == 1 && wire_type == 0) sequence = varint;
        if (number == 7 && wire_type == 2) {
          received_micros = TimestampMicros(bytes, length);
        }
      }
      if (stats_.last != 0 && sequence != stats_.last + 1) ++stats_.gaps;
      stats_.last = sequence;
      ++stats_.events;
      if (received_micros != 0) stats_.latency.Add(now - received_micros);
    }
  }

  static std::int64_t TimestampMicros(const std::uint8_t* data,
                                      std::size_t size) {
    WireReader timestamp(data, size);
    std::int64_t seconds = 0, nanos = 0;
    while (!timestamp.done()) {
      std::uint32_t number, wire_type;
      std::uint64_t varint = 0;
      const std::uint8_t* bytes;
      std::size_t length;
      if (!timestamp.Field(number, wire_type, varint, bytes, length)) break;
      if (number == 1) seconds = static_cast<std::int64_t>(varint);
      if (number == 2) nanos = static_cast<std::int64_t>(varint);
    }
    return seconds * 1000000 + nanos / 1000;
  }

  std::shared_ptr<grpc::Channel> channel_;
  grpc::ClientContext context_;
  grpc::ByteBuffer request_;
  grpc::ByteBuffer response_;
  StreamStats stats_;  // only the read callbacks touch it until done
  std::mutex mu_;
  bool done_ = false;
  grpc::Status status_;
};

// Replaces every "{i}" in `pattern` with `i`.
std::string Expand(std::string pattern, int i) {
  const std::string index = std::to_string(i);
  for (std::size_t at = pattern.find("{i}"); at != std::string::npos;
       at = pattern.find("{i}", at + index.size())) {
    pattern.replace(at, 3, index);
  }
  return pattern;
}

std::string JsonEscape(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c == '"' || c == '\\') out += '\\';
    if (static_cast<unsigned char>(c) < 0x20) {
      out += ' ';
      continue;
    }
    out += c;
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  std::string address = "127.0.0.1:50051";
  std::string project_id;
  int streams = 1;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg.rfind("--address=", 0) == 0) {
      address = arg.substr(10);
    } else if (arg.rfind("--streams=", 0) == 0) {
      streams = std::atoi(arg.c_str() + 10);
    } else if (arg.rfind("--project_id=", 0) == 0) {
      project_id = arg.substr(13);
    } else {
      std::fprintf(stderr,
                   "usage: bench_subscriber [--address=HOST:PORT] "
                   "[--streams=N] [--project_id=ID, {i}: the stream index]\n");
      return 2;
    }
  }
  if (streams < 1 || streams > 10000) {
    std::fprintf(stderr, "bench_subscriber: --streams must be 1 to 10000\n");
    return 2;
  }
  ::signal(SIGTERM, OnSignal);
  ::signal(SIGINT, OnSignal);

  std::vector<std::unique_ptr<Stream>> all;
  for (int i = 0; i < streams; ++i) {
    v1::SubscribeRequest request;
    if (!project_id.empty()) request.add_project_ids(Expand(project_id, i));
    all.push_back(std::make_unique<Stream>(address, request));
  }
  auto all_done = [&] {
    for (auto& stream : all) {
      if (!stream->done()) return false;
    }
    return true;
  };
  while (!stop.load() && !all_done()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  const bool stopped_by_us = stop.load();
  for (auto& stream : all) stream->Cancel();
  while (!all_done()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }

  StreamStats total;
  std::uint64_t cut_off = 0, ended = 0;
  std::string first_error, per_stream;
  for (const auto& stream : all) {
    const StreamStats& stats = stream->stats();
    const grpc::Status& status = stream->status();
    const bool open =
        stopped_by_us && status.error_code() == grpc::StatusCode::CANCELLED;
    if (!open) {
      if (status.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED) {
        ++cut_off;
      } else {
        ++ended;
      }
      if (first_error.empty()) {
        first_error =
            status.error_message().empty() ? "ended" : status.error_message();
      }
    }
    total.responses += stats.responses;
    total.bytes += stats.bytes;
    total.events += stats.events;
    total.gaps += stats.gaps;
    total.last = std::max(total.last, stats.last);
    total.undecodable |= stats.undecodable;
    total.latency.Merge(stats.latency);
    char line[256];
    std::snprintf(line, sizeof(line),
                  "%s{\"events\":%llu,\"last_sequence\":%llu,\"gaps\":%llu,"
                  "\"stream\":\"%s\"}",
                  per_stream.empty() ? "" : ",",
                  static_cast<unsigned long long>(stats.events),
                  static_cast<unsigned long long>(stats.last),
                  static_cast<unsigned long long>(stats.gaps),
                  open ? "open"
                  : status.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED
                      ? "cut off"
                      : "ended");
    per_stream += line;
  }
  if (total.undecodable && first_error.empty()) {
    first_error = "undecodable response";
  }
  std::printf(
      "{\"streams\":%d,\"events\":%llu,\"responses\":%llu,\"bytes\":%llu,"
      "\"last_sequence\":%llu,\"gaps\":%llu,"
      "\"cut_off\":%llu,\"ended\":%llu,\"latency_ms\":{\"p50\":%.3f,"
      "\"p99\":%.3f,\"max\":%.3f},\"stream\":\"%s\",\"per_stream\":[%s]}\n",
      streams, static_cast<unsigned long long>(total.events),
      static_cast<unsigned long long>(total.responses),
      static_cast<unsigned long long>(total.bytes),
      static_cast<unsigned long long>(total.last),
      static_cast<unsigned long long>(total.gaps),
      static_cast<unsigned long long>(cut_off),
      static_cast<unsigned long long>(ended), total.latency.QuantileMillis(0.5),
      total.latency.QuantileMillis(0.99), total.latency.QuantileMillis(1.0),
      first_error.empty() ? "open" : JsonEscape(first_error).c_str(),
      per_stream.c_str());
  return first_error.empty() && total.gaps == 0 ? 0 : 1;
}
