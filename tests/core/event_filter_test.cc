#include "server/core/event_filter.h"

#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/core/errors.h"
#include "tests/testing/core_printers.h"
#include "tests/testing/event_filter_testing.h"
#include "tests/testing/status_matchers.h"

namespace paradym::webhooks {

namespace {

using ::paradym::webhooks::testing::HasReason;
using ::paradym::webhooks::testing::IsOk;
using ::paradym::webhooks::testing::MakeEvent;
using ::paradym::webhooks::testing::MakeSpec;
using ::paradym::webhooks::testing::MustCreate;
using ::paradym::webhooks::testing::StatusIs;
using ::paradym::webhooks::v1::Event;
using ::testing::ElementsAre;
using ::testing::Field;

const std::vector<Event>& SampleEvents() {
  static const auto* const kEvents = new std::vector<Event>{
      MakeEvent("workflowExecution.started", "p1", "w1", "e1"),
      MakeEvent("workflowExecution.failed", "p2", "w2", "e2"),
      MakeEvent("openid4vc.issuance.offered", "p1"),
      MakeEvent("openid4vc.verification.verified", "p2"),
      MakeEvent("didcomm.connection.established"),
      MakeEvent(""),
  };
  return *kEvents;
}

TEST(EventFilter, DefaultFilterMatchesEverything) {
  const EventFilter filter;
  for (const Event& event : SampleEvents()) {
    SCOPED_TRACE(event.event_type());
    EXPECT_TRUE(filter.Matches(event));
  }
}

TEST(EventFilter, EmptySpecMatchesEverything) {
  const EventFilter filter = MustCreate(EventFilter::Spec());
  for (const Event& event : SampleEvents()) {
    SCOPED_TRACE(event.event_type());
    EXPECT_TRUE(filter.Matches(event));
  }
}

TEST(EventFilter, MatchesEventTypes) {
  struct Case {
    std::vector<std::string> event_types;
    std::string event_type;
    bool matches;
  };
  const std::vector<Case> cases = {
      {{"workflowExecution.started"}, "workflowExecution.started", true},
      {{"workflowExecution.started"}, "workflowExecution.failed", false},
      {{"workflowExecution.started"}, "workflowExecution.startedX", false},
      {{"workflowExecution.started"}, "workflowExecution.Started", false},
      {{"workflowExecution.start"}, "workflowExecution.started", false},
      {{"workflowExecution.started", "openid4vc.issuance.offered"},
       "openid4vc.issuance.offered",
       true},
      {{"workflowExecution.*"}, "workflowExecution.started", true},
      {{"workflowExecution.*"}, "workflowExecution.failed", true},
      {{"workflowExecution.*"}, "workflowExecution.", true},
      {{"workflowExecution.*"}, "workflowExecution", false},
      {{"workflowExecution.*"}, "openid4vc.issuance.offered", false},
      {{"openid4vc.*"}, "openid4vc.issuance.offered", true},
      {{"openid4vc.*"}, "openid4vc.verification.failed", true},
      {{"openid4vc.*"}, "openid4vcx.issuance.offered", false},
      {{"openid4vc.issuance.*"}, "openid4vc.verification.failed", false},
      {{"openid4vc*"}, "openid4vcx.issuance.offered", true},
      {{"*"}, "didcomm.connection.established", true},
      {{"*"}, "workflowExecution.started", true},
      {{"workflowExecution.failed", "openid4vc.*"},
       "openid4vc.issuance.failed",
       true},
      {{"workflowExecution.failed", "openid4vc.*"},
       "workflowExecution.failed",
       true},
      {{"workflowExecution.failed", "openid4vc.*"},
       "workflowExecution.started",
       false},
      {{"didcomm.connection.established", "*"},
       "workflowExecution.started",
       true},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(absl::StrCat("[", absl::StrJoin(c.event_types, ", "), "] vs ",
                              c.event_type));
    const EventFilter filter = MustCreate(MakeSpec(c.event_types));
    EXPECT_EQ(filter.Matches(MakeEvent(c.event_type)), c.matches);
  }
}

TEST(EventFilter, IdListsCombineWithAndAcrossListsAndOrWithin) {
  struct Case {
    std::string name;
    EventFilter::Spec spec;
    Event event;
    bool matches;
  };
  const Event started =
      MakeEvent("workflowExecution.started", "p1", "w1", "e1");
  const std::vector<Case> cases = {
      {"project in list", MakeSpec({}, /*project_ids=*/{"p1"}), started, true},
      {"project not in list", MakeSpec({}, /*project_ids=*/{"p2"}), started,
       false},
      {"project in longer list",
       MakeSpec({}, /*project_ids=*/{"p2", "p1", "p3"}), started, true},
      {"workflow in list",
       MakeSpec({}, /*project_ids=*/{}, /*workflow_ids=*/{"w0", "w1"}), started,
       true},
      {"workflow not in list",
       MakeSpec({}, /*project_ids=*/{}, /*workflow_ids=*/{"w0"}), started,
       false},
      {"execution in list",
       MakeSpec({}, /*project_ids=*/{}, /*workflow_ids=*/{},
                /*workflow_execution_ids=*/{"e1"}),
       started, true},
      {"execution not in list",
       MakeSpec({}, /*project_ids=*/{}, /*workflow_ids=*/{},
                /*workflow_execution_ids=*/{"e2"}),
       started, false},
      {"all lists match",
       MakeSpec({"workflowExecution.*"}, /*project_ids=*/{"p1", "p2"},
                /*workflow_ids=*/{"w1"},
                /*workflow_execution_ids=*/{"e0", "e1"}),
       started, true},
      {"type does not match", MakeSpec({"openid4vc.*"}, /*project_ids=*/{"p1"}),
       started, false},
      {"project does not match",
       MakeSpec({"workflowExecution.*"}, /*project_ids=*/{"p2"}), started,
       false},
      {"workflow does not match",
       MakeSpec({}, /*project_ids=*/{"p1"}, /*workflow_ids=*/{"w2"}), started,
       false},
      {"execution does not match",
       MakeSpec({}, /*project_ids=*/{"p1"}, /*workflow_ids=*/{"w1"},
                /*workflow_execution_ids=*/{"e2"}),
       started, false},
      {"event without project", MakeSpec({}, /*project_ids=*/{"p1"}),
       MakeEvent("openid4vc.issuance.offered"), false},
      {"event without workflow",
       MakeSpec({}, /*project_ids=*/{}, /*workflow_ids=*/{"w1"}),
       MakeEvent("openid4vc.issuance.offered", "p1"), false},
      {"ids are case sensitive", MakeSpec({}, /*project_ids=*/{"P1"}), started,
       false},
      {"ids match exactly", MakeSpec({}, /*project_ids=*/{"p"}), started,
       false},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    const EventFilter filter = MustCreate(c.spec);
    EXPECT_EQ(filter.Matches(c.event), c.matches);
  }
}

TEST(EventFilter, AcceptsValuesAtTheLimits) {
  std::vector<std::string> many;
  for (std::size_t i = 0; i < EventFilter::kMaxValues; ++i) {
    many.push_back(absl::StrCat("p", i));
  }
  const std::string longest(EventFilter::kMaxValueBytes, 'x');
  absl::StatusOr<EventFilter> filter = EventFilter::Create(
      MakeSpec({std::string(EventFilter::kMaxValueBytes - 1, 't') + "*"},
               /*project_ids=*/many, /*workflow_ids=*/{longest}));
  ASSERT_THAT(filter, IsOk());
  EXPECT_TRUE(filter->Matches(
      MakeEvent(std::string(EventFilter::kMaxValueBytes - 1, 't') + ".x",
                absl::StrCat("p", EventFilter::kMaxValues - 1), longest)));
}

TEST(EventFilter, RejectsInvalidSpecs) {
  struct Case {
    std::string name;
    EventFilter::Spec spec;
    std::string field;
  };
  std::vector<std::string> too_many;
  for (std::size_t i = 0; i <= EventFilter::kMaxValues; ++i) {
    too_many.push_back(absl::StrCat("v", i));
  }
  const std::string too_long(EventFilter::kMaxValueBytes + 1, 'x');
  const std::vector<Case> cases = {
      {"empty event type", MakeSpec({""}), "event_types[0]"},
      {"second event type empty", MakeSpec({"workflowExecution.*", ""}),
       "event_types[1]"},
      {"star in the middle", MakeSpec({"a", "b", "work*flow"}),
       "event_types[2]"},
      {"star first", MakeSpec({"*.started"}), "event_types[0]"},
      {"two stars", MakeSpec({"**"}), "event_types[0]"},
      {"star in project id", MakeSpec({}, /*project_ids=*/{"p1", "p*"}),
       "project_ids[1]"},
      {"star alone in project id", MakeSpec({}, /*project_ids=*/{"*"}),
       "project_ids[0]"},
      {"star in workflow id",
       MakeSpec({}, /*project_ids=*/{}, /*workflow_ids=*/{"*"}),
       "workflow_ids[0]"},
      {"star in execution id",
       MakeSpec({}, /*project_ids=*/{}, /*workflow_ids=*/{},
                /*workflow_execution_ids=*/{"e*"}),
       "workflow_execution_ids[0]"},
      {"empty project id", MakeSpec({}, /*project_ids=*/{""}),
       "project_ids[0]"},
      {"empty workflow id",
       MakeSpec({}, /*project_ids=*/{}, /*workflow_ids=*/{"w", ""}),
       "workflow_ids[1]"},
      {"empty execution id",
       MakeSpec({}, /*project_ids=*/{}, /*workflow_ids=*/{},
                /*workflow_execution_ids=*/{""}),
       "workflow_execution_ids[0]"},
      {"too many event types", MakeSpec(too_many), "event_types"},
      {"too many project ids", MakeSpec({}, /*project_ids=*/too_many),
       "project_ids"},
      {"too many workflow ids",
       MakeSpec({}, /*project_ids=*/{}, /*workflow_ids=*/too_many),
       "workflow_ids"},
      {"too many execution ids",
       MakeSpec({}, /*project_ids=*/{}, /*workflow_ids=*/{},
                /*workflow_execution_ids=*/too_many),
       "workflow_execution_ids"},
      {"event type too long", MakeSpec({"ok", too_long}), "event_types[1]"},
      {"project id too long", MakeSpec({}, /*project_ids=*/{too_long}),
       "project_ids[0]"},
      {"workflow id too long",
       MakeSpec({}, /*project_ids=*/{}, /*workflow_ids=*/{too_long}),
       "workflow_ids[0]"},
      {"execution id too long",
       MakeSpec({}, /*project_ids=*/{}, /*workflow_ids=*/{},
                /*workflow_execution_ids=*/{too_long}),
       "workflow_execution_ids[0]"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    absl::StatusOr<EventFilter> filter = EventFilter::Create(c.spec);
    ASSERT_THAT(filter, StatusIs(absl::StatusCode::kInvalidArgument));
    EXPECT_THAT(filter, HasReason(kInvalidRequest));
    EXPECT_THAT(ErrorFieldViolations(filter.status()),
                ElementsAre(Field(&FieldViolation::field, c.field)));
    // The message starts with the field, for people reading it.
    EXPECT_TRUE(absl::StartsWith(filter.status().message(), c.field + ": "))
        << filter.status().message();
  }
}

}  // namespace
}  // namespace paradym::webhooks
