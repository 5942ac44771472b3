// The resume loop of `paradym-webhooks subscribe`, against a scripted stub
// and a sleeper that records its delays instead of sleeping: where each new
// stream starts, how long it waits, which ends it resumes and which end it.

#include "client/resumable_subscription.h"

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "client/backoff_policy.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/grpc_status.h"
#include "tests/testing/status_matchers.h"

namespace paradym::webhooks::cli {
namespace {

namespace v1 = ::paradym::webhooks::v1;
using ::paradym::webhooks::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

std::string CodeName(grpc::StatusCode code) {
  return absl::StatusCodeToString(static_cast<absl::StatusCode>(code));
}

// One Subscribe stream: its responses (each the sequences of its events),
// then how it ends.
struct Script {
  std::vector<std::vector<std::uint64_t>> responses;
  grpc::StatusCode end = grpc::StatusCode::UNAVAILABLE;
};

class FakeStream final : public SubscribeStream {
 public:
  FakeStream(Script script, std::vector<std::string>& log)
      : script_(std::move(script)), log_(log) {}

  ~FakeStream() override {
    if (!finished_) log_.push_back("dropped");
  }

  bool Read(v1::SubscribeResponse& response) override {
    if (next_ == script_.responses.size()) return false;
    response.Clear();
    for (std::uint64_t sequence : script_.responses[next_]) {
      response.add_events()->set_sequence(sequence);
    }
    ++next_;
    return true;
  }

  grpc::Status Finish() override {
    finished_ = true;
    return grpc::Status(script_.end, "scripted end");
  }

 private:
  const Script script_;
  std::vector<std::string>& log_;
  std::size_t next_ = 0;
  bool finished_ = false;
};

// Plays one Script per Subscribe call and logs every call, with the sleeps
// and resume notices of the subscription under test, in order.
class FakeSubscribeStub final : public SubscribeStub {
 public:
  explicit FakeSubscribeStub(std::vector<Script> scripts)
      : scripts_(scripts.begin(), scripts.end()) {}

  // What LastSequence answers, one value per call; nullopt once used up.
  std::deque<std::optional<std::uint64_t>> last_sequences;
  std::vector<std::string> log;

  std::optional<std::uint64_t> LastSequence() override {
    log.push_back("last_sequence");
    if (last_sequences.empty()) return std::nullopt;
    std::optional<std::uint64_t> answer = last_sequences.front();
    last_sequences.pop_front();
    return answer;
  }

  std::unique_ptr<SubscribeStream> Subscribe(
      const v1::SubscribeRequest& request) override {
    log.push_back(
        request.has_start_after_sequence()
            ? absl::StrCat("subscribe after ", request.start_after_sequence())
            : "subscribe live");
    if (scripts_.empty()) {
      // A subscription that never ends would loop: end it, and fail.
      ADD_FAILURE() << "more Subscribe calls than scripts";
      return std::make_unique<FakeStream>(
          Script{{}, grpc::StatusCode::INTERNAL}, log);
    }
    Script script = std::move(scripts_.front());
    scripts_.pop_front();
    return std::make_unique<FakeStream>(std::move(script), log);
  }

  void Reconnect() override { log.push_back("reconnect"); }

 private:
  std::deque<Script> scripts_;
};

// The CLI's policy (100 ms doubling to 5 s) without jitter, a sleeper and
// resume notices that only log.
ResumableSubscription::Options LoggingOptions(std::vector<std::string>& log,
                                              bool resume = true) {
  ResumableSubscription::Options options;
  options.resume = resume;
  options.backoff = std::make_unique<ExponentialBackoffPolicy>(
      absl::Milliseconds(100), absl::Seconds(5), [] { return 1.0; });
  options.sleep = [&log](absl::Duration delay) {
    log.push_back(absl::StrCat("sleep ", absl::FormatDuration(delay)));
  };
  options.on_resume = [&log](const grpc::Status& status, absl::Duration delay,
                             std::optional<std::uint64_t> after) {
    log.push_back(absl::StrCat("resume after ", CodeName(status.error_code()),
                               " in ", absl::FormatDuration(delay), " from ",
                               after ? absl::StrCat(*after) : "live"));
  };
  return options;
}

v1::SubscribeRequest StartingAfter(std::uint64_t sequence) {
  v1::SubscribeRequest request;
  request.set_start_after_sequence(sequence);
  return request;
}

struct Reading {
  std::vector<std::vector<std::uint64_t>> responses;
  SubscriptionEnd end;
};

// Reads `subscription` to its end (at most 100 reads).
Reading ReadToTheEnd(ResumableSubscription& subscription) {
  Reading reading;
  for (int i = 0; i < 100; ++i) {
    auto next = subscription.Read();
    if (auto* end = std::get_if<SubscriptionEnd>(&next)) {
      reading.end = std::move(*end);
      return reading;
    }
    std::vector<std::uint64_t>& sequences = reading.responses.emplace_back();
    for (const v1::Event& event :
         std::get<v1::SubscribeResponse>(next).events()) {
      sequences.push_back(event.sequence());
    }
  }
  ADD_FAILURE() << "no end after 100 reads";
  return reading;
}

TEST(ResumableSubscription, ResumesAfterTheLastEventWithGrowingDelays) {
  FakeSubscribeStub stub({
      {{}, grpc::StatusCode::UNAVAILABLE},
      {{}, grpc::StatusCode::UNAVAILABLE},
      {{{1}, {2}}, grpc::StatusCode::UNAVAILABLE},
      {{{}}, grpc::StatusCode::RESOURCE_EXHAUSTED},  // no event: no progress
      {{{3}}, grpc::StatusCode::PERMISSION_DENIED},
  });
  ResumableSubscription subscription(stub, StartingAfter(0),
                                     LoggingOptions(stub.log));
  const Reading reading = ReadToTheEnd(subscription);

  EXPECT_THAT(reading.responses, ElementsAre(ElementsAre(1u), ElementsAre(2u),
                                             IsEmpty(), ElementsAre(3u)));
  EXPECT_THAT(reading.end.status,
              StatusIs(grpc::StatusCode::PERMISSION_DENIED));
  EXPECT_TRUE(reading.end.received);
  EXPECT_EQ(subscription.resume_after(), 3u);
  EXPECT_THAT(
      stub.log,
      ElementsAre("subscribe after 0",  //
                  "resume after UNAVAILABLE in 100ms from 0", "sleep 100ms",
                  "reconnect", "subscribe after 0",  //
                  "resume after UNAVAILABLE in 200ms from 0", "sleep 200ms",
                  "reconnect", "subscribe after 0",
                  // Events 1 and 2 were progress: the backoff starts over.
                  "resume after UNAVAILABLE in 100ms from 2", "sleep 100ms",
                  "reconnect", "subscribe after 2",  //
                  "resume after RESOURCE_EXHAUSTED in 200ms from 2",
                  "sleep 200ms", "reconnect", "subscribe after 2"));
}

TEST(ResumableSubscription, DelaysGrowToTheMaximumAndStayThere) {
  std::vector<Script> scripts(9, Script{{}, grpc::StatusCode::UNAVAILABLE});
  scripts.push_back({{}, grpc::StatusCode::INVALID_ARGUMENT});
  FakeSubscribeStub stub(std::move(scripts));
  std::vector<std::string> sleeps;
  ResumableSubscription::Options options = LoggingOptions(stub.log);
  options.sleep = [&sleeps](absl::Duration delay) {
    sleeps.push_back(absl::FormatDuration(delay));
  };
  ResumableSubscription subscription(stub, StartingAfter(7),
                                     std::move(options));
  const Reading reading = ReadToTheEnd(subscription);

  EXPECT_THAT(reading.end.status, StatusIs(grpc::StatusCode::INVALID_ARGUMENT));
  EXPECT_FALSE(reading.end.received);
  EXPECT_THAT(sleeps, ElementsAre("100ms", "200ms", "400ms", "800ms", "1.6s",
                                  "3.2s", "5s", "5s", "5s"));
}

TEST(ResumableSubscription, ResumesOnlyTheStatusesWorthResuming) {
  const std::vector<grpc::StatusCode> resumed = {
      grpc::StatusCode::OK,
      grpc::StatusCode::CANCELLED,
      grpc::StatusCode::UNKNOWN,
      grpc::StatusCode::DEADLINE_EXCEEDED,
      grpc::StatusCode::RESOURCE_EXHAUSTED,
      grpc::StatusCode::ABORTED,
      grpc::StatusCode::UNAVAILABLE,
  };
  const std::vector<grpc::StatusCode> ended = {
      grpc::StatusCode::INVALID_ARGUMENT,
      grpc::StatusCode::NOT_FOUND,
      grpc::StatusCode::ALREADY_EXISTS,
      grpc::StatusCode::PERMISSION_DENIED,
      grpc::StatusCode::FAILED_PRECONDITION,
      grpc::StatusCode::OUT_OF_RANGE,
      grpc::StatusCode::UNIMPLEMENTED,
      grpc::StatusCode::INTERNAL,
      grpc::StatusCode::DATA_LOSS,
      grpc::StatusCode::UNAUTHENTICATED,
  };
  for (const auto& [codes, resumes] :
       {std::pair{resumed, true}, std::pair{ended, false}}) {
    for (grpc::StatusCode code : codes) {
      SCOPED_TRACE(CodeName(code));
      EXPECT_EQ(IsResumable(grpc::Status(code, "")), resumes);
      // The second stream ends for good, if the first is resumed at all.
      FakeSubscribeStub stub(
          {{{{4}}, code}, {{}, grpc::StatusCode::DATA_LOSS}});
      ResumableSubscription subscription(stub, StartingAfter(3),
                                         LoggingOptions(stub.log));
      const Reading reading = ReadToTheEnd(subscription);
      if (resumes) {
        EXPECT_THAT(reading.end.status, StatusIs(grpc::StatusCode::DATA_LOSS));
        EXPECT_THAT(
            stub.log,
            ElementsAre("subscribe after 3",
                        absl::StrCat("resume after ", CodeName(code),
                                     " in 100ms from 4"),
                        "sleep 100ms", "reconnect", "subscribe after 4"));
      } else {
        EXPECT_THAT(reading.end.status, StatusIs(code));
        EXPECT_TRUE(reading.end.received);
        EXPECT_THAT(stub.log, ElementsAre("subscribe after 3"));
      }
    }
  }
}

TEST(ResumableSubscription, WithoutResumeTheFirstEndIsTheEnd) {
  for (const bool delivered : {true, false}) {
    SCOPED_TRACE(delivered ? "after an event" : "before any event");
    FakeSubscribeStub stub({delivered
                                ? Script{{{5}}, grpc::StatusCode::UNAVAILABLE}
                                : Script{{}, grpc::StatusCode::UNAVAILABLE}});
    ResumableSubscription subscription(
        stub, StartingAfter(4), LoggingOptions(stub.log, /*resume=*/false));
    const Reading reading = ReadToTheEnd(subscription);
    EXPECT_THAT(reading.end.status, StatusIs(grpc::StatusCode::UNAVAILABLE));
    // The CLI tells "cannot reach the server" (exit 3) from this.
    EXPECT_EQ(reading.end.received, delivered);
    EXPECT_THAT(stub.log, ElementsAre("subscribe after 4"));
  }
}

TEST(ResumableSubscription, LiveStartsAfterTheServersLastSequence) {
  FakeSubscribeStub stub({
      {{}, grpc::StatusCode::UNAVAILABLE},
      {{}, grpc::StatusCode::UNAVAILABLE},
      {{{51}}, grpc::StatusCode::NOT_FOUND},
  });
  // The server cannot say at first; then it is at 50.
  stub.last_sequences = {std::nullopt, 50, 60};
  ResumableSubscription subscription(stub, v1::SubscribeRequest(),
                                     LoggingOptions(stub.log));
  EXPECT_FALSE(subscription.resume_after().has_value());
  const Reading reading = ReadToTheEnd(subscription);

  EXPECT_THAT(reading.responses, ElementsAre(ElementsAre(51u)));
  // Once known, the start is kept: no further probe.
  EXPECT_THAT(stub.log,
              ElementsAre("last_sequence", "subscribe live",
                          "resume after UNAVAILABLE in 100ms from live",
                          "sleep 100ms", "reconnect",  //
                          "last_sequence", "subscribe after 50",
                          "resume after UNAVAILABLE in 200ms from 50",
                          "sleep 200ms", "reconnect",  //
                          "subscribe after 50"));
}

TEST(ResumableSubscription, DroppingItMidStreamDropsTheStream) {
  FakeSubscribeStub stub({{{{1}, {2}}, grpc::StatusCode::OK}});
  {
    ResumableSubscription subscription(stub, StartingAfter(0),
                                       LoggingOptions(stub.log));
    ASSERT_TRUE(
        std::holds_alternative<v1::SubscribeResponse>(subscription.Read()));
  }
  EXPECT_THAT(stub.log, ElementsAre("subscribe after 0", "dropped"));
}

}  // namespace
}  // namespace paradym::webhooks::cli
