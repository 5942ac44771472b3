#include "client/backoff_policy.h"

#include <algorithm>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace paradym::webhooks::cli {
namespace {

using ::testing::ElementsAre;

// The next `count` delays of `policy`.
std::vector<absl::Duration> Delays(BackoffPolicy& policy, int count) {
  std::vector<absl::Duration> delays;
  for (int i = 0; i < count; ++i) delays.push_back(policy.OnFailure());
  return delays;
}

TEST(ExponentialBackoffPolicy, DoublesFromTheInitialDelayUpToTheMaximum) {
  ExponentialBackoffPolicy policy(absl::Milliseconds(100), absl::Seconds(5),
                                  [] { return 1.0; });
  EXPECT_THAT(
      Delays(policy, 9),
      ElementsAre(absl::Milliseconds(100), absl::Milliseconds(200),
                  absl::Milliseconds(400), absl::Milliseconds(800),
                  absl::Milliseconds(1600), absl::Milliseconds(3200),
                  absl::Seconds(5), absl::Seconds(5), absl::Seconds(5)));
}

TEST(ExponentialBackoffPolicy, MultipliesEachDelayByTheJitter) {
  std::vector<double> factors = {0.5, 1.5, 1.25};
  std::size_t next = 0;
  ExponentialBackoffPolicy policy(absl::Milliseconds(100), absl::Seconds(5),
                                  [&] { return factors[next++]; });
  EXPECT_THAT(Delays(policy, 3),
              ElementsAre(absl::Milliseconds(50), absl::Milliseconds(300),
                          absl::Milliseconds(500)));
}

TEST(ExponentialBackoffPolicy, ResetStartsOverFromTheInitialDelay) {
  ExponentialBackoffPolicy policy(absl::Milliseconds(100), absl::Seconds(5),
                                  [] { return 1.0; });
  Delays(policy, 4);
  policy.Reset();
  EXPECT_THAT(Delays(policy, 2),
              ElementsAre(absl::Milliseconds(100), absl::Milliseconds(200)));
}

TEST(ExponentialBackoffPolicy, NeverWaitsLongerThanTheMaximumBeforeJitter) {
  ExponentialBackoffPolicy policy(absl::Seconds(10), absl::Seconds(5),
                                  [] { return 1.0; });
  EXPECT_THAT(Delays(policy, 2),
              ElementsAre(absl::Seconds(5), absl::Seconds(5)));
}

TEST(UniformJitter, DrawsFactorsFromHalfToOneAndAHalf) {
  Jitter jitter = UniformJitter();
  double low = 2, high = 0;
  for (int i = 0; i < 10000; ++i) {
    const double factor = jitter();
    ASSERT_GE(factor, 0.5);
    ASSERT_LT(factor, 1.5);
    low = std::min(low, factor);
    high = std::max(high, factor);
  }
  // Spread over the range, not stuck at one value.
  EXPECT_LT(low, 0.6);
  EXPECT_GT(high, 1.4);
}

}  // namespace
}  // namespace paradym::webhooks::cli
