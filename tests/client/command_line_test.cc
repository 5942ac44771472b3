#include "client/command_line.h"

#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace paradym::webhooks::cli {
namespace {

using ::paradym::webhooks::testing::IsOk;
using ::paradym::webhooks::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

// Parses `args` as if they followed the program name.
absl::StatusOr<CommandLine> ParseArgs(
    std::vector<std::string> args,
    const std::vector<std::string>& boolean_flags = {}) {
  std::vector<const char*> argv = {"paradym-webhooks"};
  for (const std::string& arg : args) argv.push_back(arg.c_str());
  argv.push_back(nullptr);
  return CommandLine::Parse(static_cast<int>(argv.size() - 1), argv.data(),
                            boolean_flags);
}

TEST(CommandLine, ParsesCommandAndArguments) {
  absl::StatusOr<CommandLine> line = ParseArgs({"verify", "body.json", "x"});
  ASSERT_THAT(line, IsOk());
  EXPECT_EQ(line->command(), "verify");
  EXPECT_THAT(line->arguments(), ElementsAre("body.json", "x"));
}

TEST(CommandLine, EmptyCommandLine) {
  absl::StatusOr<CommandLine> line = ParseArgs({});
  ASSERT_THAT(line, IsOk());
  EXPECT_EQ(line->command(), "");
  EXPECT_THAT(line->arguments(), IsEmpty());
  EXPECT_FALSE(line->Has("address"));
}

TEST(CommandLine, FlagWithEquals) {
  absl::StatusOr<CommandLine> line =
      ParseArgs({"subscribe", "--address=localhost:50051"});
  ASSERT_THAT(line, IsOk());
  EXPECT_EQ(line->command(), "subscribe");
  EXPECT_EQ(line->Value("address"), "localhost:50051");
  EXPECT_TRUE(line->Has("address"));
  EXPECT_THAT(line->arguments(), IsEmpty());
}

TEST(CommandLine, ValueKeepsLaterEqualsSigns) {
  absl::StatusOr<CommandLine> line = ParseArgs({"sign", "--secret=a=b=="});
  ASSERT_THAT(line, IsOk());
  EXPECT_EQ(line->Value("secret"), "a=b==");
}

TEST(CommandLine, EmptyValueWithEquals) {
  absl::StatusOr<CommandLine> line = ParseArgs({"subscribe", "--endpoint="});
  ASSERT_THAT(line, IsOk());
  EXPECT_TRUE(line->Has("endpoint"));
  EXPECT_EQ(line->Value("endpoint"), "");
}

TEST(CommandLine, FlagWithSeparateValue) {
  absl::StatusOr<CommandLine> line =
      ParseArgs({"subscribe", "--address", "localhost:1", "extra"});
  ASSERT_THAT(line, IsOk());
  EXPECT_EQ(line->Value("address"), "localhost:1");
  EXPECT_THAT(line->arguments(), ElementsAre("extra"));
}

TEST(CommandLine, FlagsMayPrecedeTheCommand) {
  absl::StatusOr<CommandLine> line =
      ParseArgs({"--address", "h:1", "subscribe", "arg"});
  ASSERT_THAT(line, IsOk());
  EXPECT_EQ(line->command(), "subscribe");
  EXPECT_EQ(line->Value("address"), "h:1");
  EXPECT_THAT(line->arguments(), ElementsAre("arg"));
}

TEST(CommandLine, BooleanFlagTakesNoValue) {
  absl::StatusOr<CommandLine> line =
      ParseArgs({"subscribe", "--from-start", "5"}, {"from-start"});
  ASSERT_THAT(line, IsOk());
  EXPECT_TRUE(line->Has("from-start"));
  EXPECT_EQ(line->Value("from-start"), "true");
  EXPECT_THAT(line->arguments(), ElementsAre("5"));
}

TEST(CommandLine, BooleanFlagAtTheEnd) {
  absl::StatusOr<CommandLine> line =
      ParseArgs({"subscribe", "--from-start"}, {"from-start"});
  ASSERT_THAT(line, IsOk());
  EXPECT_EQ(line->Value("from-start"), "true");
}

TEST(CommandLine, BooleanFlagWithExplicitValue) {
  absl::StatusOr<CommandLine> line =
      ParseArgs({"subscribe", "--from-start=false"}, {"from-start"});
  ASSERT_THAT(line, IsOk());
  EXPECT_EQ(line->Value("from-start"), "false");
}

TEST(CommandLine, BooleanFlagWithUnderscoreSpelling) {
  absl::StatusOr<CommandLine> line =
      ParseArgs({"subscribe", "--from_start", "5"}, {"from-start"});
  ASSERT_THAT(line, IsOk());
  EXPECT_EQ(line->Value("from-start"), "true");
  EXPECT_THAT(line->arguments(), ElementsAre("5"));
}

TEST(CommandLine, BooleanFlagDeclaredWithUnderscores) {
  absl::StatusOr<CommandLine> line =
      ParseArgs({"subscribe", "--from-start", "5"}, {"from_start"});
  ASSERT_THAT(line, IsOk());
  EXPECT_EQ(line->Value("from-start"), "true");
  EXPECT_THAT(line->arguments(), ElementsAre("5"));
}

TEST(CommandLine, HelpIsAlwaysBoolean) {
  absl::StatusOr<CommandLine> line = ParseArgs({"subscribe", "--help", "x"});
  ASSERT_THAT(line, IsOk());
  EXPECT_TRUE(line->Has("help"));
  EXPECT_THAT(line->arguments(), ElementsAre("x"));
}

TEST(CommandLine, RepeatedFlagsKeepEveryValue) {
  absl::StatusOr<CommandLine> line = ParseArgs(
      {"subscribe", "--event-type=workflowExecution.*", "--event-type",
       "openid4vc.issuance.offered", "--event_type=didcomm.*"});
  ASSERT_THAT(line, IsOk());
  EXPECT_THAT(line->Values("event-type"),
              ElementsAre("workflowExecution.*", "openid4vc.issuance.offered",
                          "didcomm.*"));
  EXPECT_EQ(line->Value("event-type"), "didcomm.*");
  EXPECT_THAT(line->Values("project-id"), IsEmpty());
}

TEST(CommandLine, UnderscoreAndDashAreTheSame) {
  absl::StatusOr<CommandLine> line =
      ParseArgs({"subscribe", "--project_id=p1", "--workflow-id=w1"});
  ASSERT_THAT(line, IsOk());
  EXPECT_EQ(line->Value("project-id"), "p1");
  EXPECT_EQ(line->Value("project_id"), "p1");
  EXPECT_EQ(line->Value("workflow_id"), "w1");
  EXPECT_EQ(line->Value("workflow-id"), "w1");
  EXPECT_THAT(line->Values("project_id"), ElementsAre("p1"));
}

TEST(CommandLine, NormalizeFlagName) {
  EXPECT_EQ(NormalizeFlagName("from_start"), "from-start");
  EXPECT_EQ(NormalizeFlagName("a_b-c__d"), "a-b-c--d");
  EXPECT_EQ(NormalizeFlagName("address"), "address");
  EXPECT_EQ(NormalizeFlagName(""), "");
}

TEST(CommandLine, DoubleDashEndsFlags) {
  absl::StatusOr<CommandLine> line =
      ParseArgs({"sign", "--secret=s", "--", "--not-a-flag=1", "--", "-"});
  ASSERT_THAT(line, IsOk());
  EXPECT_EQ(line->command(), "sign");
  EXPECT_EQ(line->Value("secret"), "s");
  EXPECT_FALSE(line->Has("not-a-flag"));
  EXPECT_THAT(line->arguments(), ElementsAre("--not-a-flag=1", "--", "-"));
}

TEST(CommandLine, DoubleDashBeforeCommand) {
  absl::StatusOr<CommandLine> line = ParseArgs({"--", "--verify"});
  ASSERT_THAT(line, IsOk());
  EXPECT_EQ(line->command(), "--verify");
  EXPECT_THAT(line->arguments(), IsEmpty());
}

TEST(CommandLine, SingleDashArgumentsAreNotFlags) {
  absl::StatusOr<CommandLine> line = ParseArgs({"verify", "-", "-v"});
  ASSERT_THAT(line, IsOk());
  EXPECT_THAT(line->arguments(), ElementsAre("-", "-v"));
  EXPECT_FALSE(line->Has("v"));
}

TEST(CommandLine, MissingValueIsAnError) {
  absl::StatusOr<CommandLine> line = ParseArgs({"subscribe", "--address"});
  ASSERT_THAT(line, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(std::string(line.status().message()), HasSubstr("--address"));
}

TEST(CommandLine, MissingValueNamesNormalizedFlag) {
  absl::StatusOr<CommandLine> line =
      ParseArgs({"subscribe", "--project_id"}, {"from-start"});
  ASSERT_THAT(line, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(std::string(line.status().message()), HasSubstr("project-id"));
}

TEST(CommandLine, AbsentFlag) {
  absl::StatusOr<CommandLine> line = ParseArgs({"subscribe", "--a=1"});
  ASSERT_THAT(line, IsOk());
  EXPECT_FALSE(line->Has("b"));
  EXPECT_EQ(line->Value("b"), std::nullopt);
  EXPECT_THAT(line->Values("b"), IsEmpty());
}

TEST(CommandLine, CheckKnownAcceptsKnownFlags) {
  absl::StatusOr<CommandLine> line = ParseArgs(
      {"subscribe", "--address=a", "--event_type=x", "--help", "--from-start"},
      {"from-start"});
  ASSERT_THAT(line, IsOk());
  EXPECT_THAT(line->CheckKnown({"address", "event-type", "from-start"}),
              IsOk());
}

TEST(CommandLine, CheckKnownWithoutFlags) {
  absl::StatusOr<CommandLine> line = ParseArgs({"subscribe", "arg"});
  ASSERT_THAT(line, IsOk());
  EXPECT_THAT(line->CheckKnown({}), IsOk());
}

TEST(CommandLine, CheckKnownNamesFirstUnknownFlag) {
  absl::StatusOr<CommandLine> line =
      ParseArgs({"subscribe", "--address=a", "--adress=b", "--colour=red"});
  ASSERT_THAT(line, IsOk());
  const absl::Status status = line->CheckKnown({"address"});
  EXPECT_THAT(status, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(std::string(status.message()), HasSubstr("--adress"));
  EXPECT_THAT(std::string(status.message()),
              ::testing::Not(HasSubstr("colour")));
}

}  // namespace
}  // namespace paradym::webhooks::cli
