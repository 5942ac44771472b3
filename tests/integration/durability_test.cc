// What a 200 promises, checked against the real binary with its default
// durable store: events survive kill -9, subscribers resume without gap or
// duplicate, retention, and a store that is corrupt, read-only or full.

#include <grpcpp/grpcpp.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "paradym/webhooks/v1/webhook_service.grpc.pb.h"
#include "server/core/signature_verifier.h"
#include "tests/testing/grpc_status.h"
#include "tests/testing/http_client.h"
#include "tests/testing/list_all_events.h"
#include "tests/testing/server_process.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_data.h"
#include "tests/testing/wait_for.h"

namespace paradym::webhooks {
namespace {

namespace v1 = ::paradym::webhooks::v1;
using ::paradym::webhooks::testing::ChildProcess;
using ::paradym::webhooks::testing::Env;
using ::paradym::webhooks::testing::ErrorReasonOf;
using ::paradym::webhooks::testing::GrpcErrorMetadata;
using ::paradym::webhooks::testing::HasReason;
using ::paradym::webhooks::testing::HttpReply;
using ::paradym::webhooks::testing::IsOk;
using ::paradym::webhooks::testing::MakeTempDir;
using ::paradym::webhooks::testing::PostRequest;
using ::paradym::webhooks::testing::RawHttpConnection;
using ::paradym::webhooks::testing::ReadTestData;
using ::paradym::webhooks::testing::SequenceOf;
using ::paradym::webhooks::testing::ServerOptions;
using ::paradym::webhooks::testing::StartServer;
using ::paradym::webhooks::testing::StatusIs;
using ::paradym::webhooks::testing::UniqueBody;
using ::paradym::webhooks::testing::WaitFor;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kSecret[] = "durability-secret-51d0";
constexpr absl::Duration kTimeout = absl::Seconds(30);

std::chrono::system_clock::time_point Deadline(int seconds = 30) {
  return std::chrono::system_clock::now() + std::chrono::seconds(seconds);
}

std::string SignedPost(const std::string& body) {
  return PostRequest("/webhook", body, SignBody(kSecret, body));
}

class DurabilityTest : public ::testing::Test {
 protected:
  void Start(std::vector<std::string> args = {},
             ChildProcess::Options limits = {}) {
    args.push_back("--data_dir=" + data_dir_);
    auto server = StartServer(std::move(args), SecretEnv(), std::move(limits));
    ASSERT_THAT(server, IsOk());
    server_ = std::move(server).value();
    stub_ = v1::WebhookService::NewStub(grpc::CreateChannel(
        server_->grpc_address(), grpc::InsecureChannelCredentials()));
  }

  void TearDown() override {
    if (server_ != nullptr) {
      EXPECT_THAT(server_->Stderr(), Not(HasSubstr(kSecret)));
    }
  }

  static Env SecretEnv() { return {{"PARADYM_WEBHOOK_SECRET", kSecret}}; }

  HttpReply Post(const std::string& body) {
    absl::StatusOr<HttpReply> reply =
        testing::HttpExchange(server_->http_port(), SignedPost(body), kTimeout);
    EXPECT_THAT(reply, IsOk());
    return reply.ok() ? *reply : HttpReply{};
  }

  // Every stored event, through ListEvents pages.
  std::vector<v1::Event> ListAll(std::uint64_t* oldest = nullptr) {
    return testing::ListAllEvents(*stub_, oldest);
  }

  // Runs the server binary to its exit with `args`; returns the exit code.
  int RunToExit(std::vector<std::string> args, bool honor_permissions,
                std::string& stderr_out) {
    ChildProcess::Options options = ServerOptions(std::move(args), SecretEnv());
    options.honor_file_permissions = honor_permissions;
    auto child = ChildProcess::Start(std::move(options));
    EXPECT_THAT(child, IsOk());
    if (!child.ok()) return -1;
    absl::StatusOr<int> code = (*child)->Wait(kTimeout);
    EXPECT_THAT(code, IsOk());
    stderr_out = (*child)->Stderr();
    return code.ok() ? *code : -1;
  }

  const std::string data_dir_ = MakeTempDir() + "/data";
  std::unique_ptr<ChildProcess> server_;
  std::unique_ptr<v1::WebhookService::Stub> stub_;
};

// Both sync modes: a crash of the process alone loses nothing either way
// (--sync=normal gives up only on machine crashes).
class KillTest : public DurabilityTest,
                 public ::testing::WithParamInterface<const char*> {};

INSTANTIATE_TEST_SUITE_P(SyncModes, KillTest,
                         ::testing::Values("--sync=full", "--sync=normal"));

TEST_P(KillTest, EveryEventThatGotA200SurvivesKill9) {
  Start({GetParam()});
  constexpr int kSenders = 4;
  constexpr int kMaxPerSender = 5000;
  // The kill comes after this many 200s, while every sender keeps sending.
  constexpr int kKillAfter = 400;
  absl::Mutex mu;
  std::map<std::uint64_t, std::string> accepted;  // sequence -> body
  int accepted_count = 0;
  std::vector<std::thread> senders;
  const int port = server_->http_port();
  for (int s = 0; s < kSenders; ++s) {
    senders.emplace_back([&, s] {
      RawHttpConnection connection(port);
      for (int i = 0; i < kMaxPerSender; ++i) {
        const std::string body = UniqueBody(s * kMaxPerSender + i);
        absl::StatusOr<HttpReply> reply =
            connection.Exchange(SignedPost(body), kTimeout);
        if (!reply.ok()) return;  // the server died mid-request
        if (reply->status != 200) {
          ADD_FAILURE() << reply->status << " " << reply->body;
          return;
        }
        absl::MutexLock lock(&mu);
        const std::uint64_t sequence = SequenceOf(*reply);
        EXPECT_TRUE(accepted.emplace(sequence, body).second)
            << "sequence " << sequence << " given twice";
        ++accepted_count;
      }
    });
  }
  {
    absl::MutexLock lock(&mu);
    const auto enough = [&] { return accepted_count >= kKillAfter; };
    mu.AwaitWithTimeout(absl::Condition(&enough), absl::Seconds(60));
    ASSERT_GE(accepted_count, kKillAfter);
  }
  ASSERT_EQ(::kill(server_->pid(), SIGKILL), 0);
  for (auto& sender : senders) sender.join();
  ASSERT_EQ(server_->Wait(kTimeout).value_or(-1), 128 + SIGKILL);

  // Restart on the same data directory.
  Start({GetParam()});
  std::vector<v1::Event> stored = ListAll();
  ASSERT_GE(stored.size(), accepted.size());
  // Gap-free from 1, and every 200 is there, byte for byte.
  for (std::size_t i = 0; i < stored.size(); ++i) {
    ASSERT_EQ(stored[i].sequence(), i + 1);
  }
  for (const auto& [sequence, body] : accepted) {
    ASSERT_LE(sequence, stored.size());
    const v1::Event& event = stored[sequence - 1];
    EXPECT_EQ(event.body(), body) << "sequence " << sequence;
    EXPECT_EQ(event.event_type(), "workflowExecution.started");
  }
  // New events continue the sequence.
  const HttpReply next = Post(UniqueBody(999999));
  EXPECT_EQ(next.status, 200) << next.body;
  EXPECT_EQ(SequenceOf(next), stored.size() + 1);
}

TEST_F(DurabilityTest, AResumingSubscriberGetsExactlyWhatItMissedUnderLoad) {
  Start();
  constexpr int kEvents = 3000;
  std::atomic<bool> failed{false};
  std::thread load([&] {
    RawHttpConnection a(server_->http_port()), b(server_->http_port());
    for (int i = 0; i < kEvents && !failed; i += 2) {
      // Two requests in flight, so commits are grouped while we read.
      if (!a.Send(SignedPost(UniqueBody(i))) ||
          !b.Send(SignedPost(UniqueBody(i + 1)))) {
        failed = true;
      }
      for (RawHttpConnection* c : {&a, &b}) {
        absl::StatusOr<HttpReply> reply = c->Read(kTimeout);
        if (!reply.ok() || reply->status != 200) failed = true;
      }
    }
  });
  std::vector<std::uint64_t> seen;
  std::optional<std::uint64_t> resume_after = 0;  // everything from the start
  const absl::Time give_up = absl::Now() + absl::Seconds(120);
  for (int round = 0; seen.size() < kEvents && absl::Now() < give_up; ++round) {
    grpc::ClientContext context;
    context.set_deadline(Deadline(60));
    v1::SubscribeRequest request;
    request.set_start_after_sequence(*resume_after);
    auto reader = stub_->Subscribe(&context, request);
    // Read a few hundred events, then hang up; the last round reads to
    // the end.
    const std::size_t stop_at =
        round < 5 ? seen.size() + 300 : static_cast<std::size_t>(kEvents);
    v1::SubscribeResponse response;
    while (seen.size() < stop_at && reader->Read(&response)) {
      for (const auto& event : response.events()) {
        seen.push_back(event.sequence());
      }
    }
    context.TryCancel();
    reader->Finish();
    if (!seen.empty()) resume_after = seen.back();
    // Events keep arriving while it is away.
    absl::SleepFor(absl::Milliseconds(20));
  }
  load.join();
  ASSERT_FALSE(failed.load());
  ASSERT_EQ(seen.size(), static_cast<std::size_t>(kEvents));
  for (std::size_t i = 0; i < seen.size(); ++i) {
    ASSERT_EQ(seen[i], i + 1) << "gap or duplicate at index " << i;
  }
}

TEST_F(DurabilityTest, RetentionDeletesTheOldestAndSaysWhatIsLeft) {
  Start({"--max_events=5"});
  for (int i = 0; i < 12; ++i) {
    ASSERT_EQ(Post(UniqueBody(i)).status, 200);
  }
  // Retention runs in the background, every second.
  std::uint64_t oldest = 0;
  std::vector<v1::Event> events;
  WaitFor(
      [&] {
        events = ListAll(&oldest);
        return oldest == 8;
      },
      absl::Seconds(20), absl::Milliseconds(100));
  ASSERT_EQ(oldest, 8u);
  ASSERT_EQ(events.size(), 5u);
  EXPECT_EQ(events.front().sequence(), 8u);
  EXPECT_EQ(events.back().sequence(), 12u);

  grpc::ClientContext context;
  context.set_deadline(Deadline());
  v1::SubscribeRequest request;
  request.set_start_after_sequence(3);
  auto reader = stub_->Subscribe(&context, request);
  v1::SubscribeResponse response;
  EXPECT_FALSE(reader->Read(&response));
  const grpc::Status status = reader->Finish();
  EXPECT_THAT(status, StatusIs(grpc::StatusCode::OUT_OF_RANGE));
  EXPECT_THAT(status, HasReason("SEQUENCE_TOO_OLD"));
  EXPECT_EQ(GrpcErrorMetadata(status, "oldest_sequence"), "8");

  v1::ListEventsRequest list;
  list.set_start_after_sequence(3);
  grpc::ClientContext list_context;
  v1::ListEventsResponse listed;
  const grpc::Status list_status =
      stub_->ListEvents(&list_context, list, &listed);
  EXPECT_THAT(list_status, StatusIs(grpc::StatusCode::OUT_OF_RANGE));
  EXPECT_EQ(GrpcErrorMetadata(list_status, "oldest_sequence"), "8");
}

TEST_F(DurabilityTest, ACorruptStoreIsAClearErrorAtStartup) {
  std::filesystem::create_directories(data_dir_);
  {
    std::ofstream out(data_dir_ + "/events.db", std::ios::binary);
    out << std::string(4096, '\x7f');
  }
  std::string log;
  EXPECT_EQ(RunToExit({"--data_dir=" + data_dir_}, false, log), 1);
  EXPECT_THAT(log, HasSubstr("cannot open the event store"));
  EXPECT_THAT(log, HasSubstr(data_dir_ + "/events.db is corrupt"));
  EXPECT_THAT(log, Not(HasSubstr(kSecret)));
}

TEST_F(DurabilityTest, AReadOnlyDataDirectoryIsAClearErrorAtStartup) {
  // A store written earlier, then the directory made read-only.
  Start();
  ASSERT_EQ(Post(UniqueBody(1)).status, 200);
  ASSERT_EQ(server_->Stop(SIGTERM, kTimeout).value_or(-1), 0);
  server_.reset();
  ASSERT_EQ(::chmod(data_dir_.c_str(), 0555), 0);
  ASSERT_EQ(::chmod((data_dir_ + "/events.db").c_str(), 0444), 0);
  std::string log;
  EXPECT_EQ(RunToExit({"--data_dir=" + data_dir_}, true, log), 1);
  EXPECT_THAT(log, HasSubstr("cannot open the event store"));
  EXPECT_THAT(log, HasSubstr(data_dir_));
  EXPECT_THAT(log, HasSubstr("writ"));  // "cannot write ..." / "writable"
  // A directory that cannot even be created.
  EXPECT_EQ(RunToExit({"--data_dir=" + data_dir_ + "/sub"}, true, log), 1);
  EXPECT_THAT(log, HasSubstr("cannot create the data directory"));
  ::chmod(data_dir_.c_str(), 0755);
}

TEST_F(DurabilityTest, AFullDiskRefusesWith503AndHarmsNothingStored) {
  // Files may not grow past 256 KiB: the WAL fills up after a few dozen
  // commits, as on a full disk.
  ChildProcess::Options limits;
  limits.max_file_bytes = 256 * 1024;
  Start({}, limits);
  std::map<std::uint64_t, std::string> accepted;
  HttpReply refused;
  for (int i = 0; i < 5000; ++i) {
    const std::string body = UniqueBody(i);
    HttpReply reply = Post(body);
    if (reply.status != 200) {
      refused = reply;
      break;
    }
    accepted.emplace(SequenceOf(reply), body);
  }
  ASSERT_EQ(refused.status, 503) << refused.body;
  EXPECT_EQ(ErrorReasonOf(refused), "STORE_FULL") << refused.body;
  ASSERT_GT(accepted.size(), 5u);
  // Still full: still refused, and nothing stored is harmed.
  HttpReply again = Post(UniqueBody(100000));
  EXPECT_EQ(again.status, 503);
  EXPECT_EQ(ErrorReasonOf(again), "STORE_FULL");
  std::vector<v1::Event> stored = ListAll();
  ASSERT_EQ(stored.size(), accepted.size());
  for (const v1::Event& event : stored) {
    ASSERT_EQ(accepted.count(event.sequence()), 1u) << event.sequence();
    EXPECT_EQ(event.body(), accepted[event.sequence()]);
  }
  // Space comes back: the next webhook is accepted with the next sequence.
  rlimit limit{};
  ASSERT_EQ(::prlimit(server_->pid(), RLIMIT_FSIZE, nullptr, &limit), 0);
  limit.rlim_cur = limit.rlim_max;
  ASSERT_EQ(::prlimit(server_->pid(), RLIMIT_FSIZE, &limit, nullptr), 0)
      << std::strerror(errno);
  HttpReply after = Post(UniqueBody(200000));
  EXPECT_EQ(after.status, 200) << after.body;
  EXPECT_EQ(SequenceOf(after), accepted.size() + 1);
  // And it all survives a restart.
  ASSERT_EQ(server_->Stop(SIGTERM, kTimeout).value_or(-1), 0);
  Start();
  EXPECT_EQ(ListAll().size(), accepted.size() + 1);
}

}  // namespace
}  // namespace paradym::webhooks
