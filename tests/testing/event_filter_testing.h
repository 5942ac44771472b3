// Event filters, and events with the fields they read, for the tests of
// EventFilter and of the filter index.
//
//   const EventFilter filter = MustCreate(MakeSpec({"openid4vc.*"}, {"p1"}));
//   filter.Matches(MakeEvent("openid4vc.issuance.offered", "p1"));  // true

#ifndef PARADYM_WEBHOOKS_TESTS_TESTING_EVENT_FILTER_TESTING_H_
#define PARADYM_WEBHOOKS_TESTS_TESTING_EVENT_FILTER_TESTING_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "gmock/gmock.h"
#include "paradym/webhooks/v1/event.pb.h"
#include "server/core/event_filter.h"
#include "tests/testing/status_matchers.h"

namespace paradym::webhooks::testing {

// A Spec without C++20 designated initializers.
inline EventFilter::Spec MakeSpec(
    std::vector<std::string> event_types,
    std::vector<std::string> project_ids = {},
    std::vector<std::string> workflow_ids = {},
    std::vector<std::string> workflow_execution_ids = {}) {
  EventFilter::Spec spec;
  spec.event_types = std::move(event_types);
  spec.project_ids = std::move(project_ids);
  spec.workflow_ids = std::move(workflow_ids);
  spec.workflow_execution_ids = std::move(workflow_execution_ids);
  return spec;
}

// The filter of `spec`. A spec the filter refuses fails the test (and gives
// the filter that matches everything).
inline EventFilter MustCreate(EventFilter::Spec spec) {
  absl::StatusOr<EventFilter> filter = EventFilter::Create(std::move(spec));
  EXPECT_THAT(filter, IsOk());
  return filter.ok() ? *std::move(filter) : EventFilter();
}

// An event with only the fields a filter reads.
inline v1::Event MakeEvent(std::string event_type, std::string project_id = "",
                           std::string workflow_id = "",
                           std::string workflow_execution_id = "") {
  v1::Event event;
  event.set_event_type(std::move(event_type));
  event.set_project_id(std::move(project_id));
  event.set_workflow_id(std::move(workflow_id));
  event.set_workflow_execution_id(std::move(workflow_execution_id));
  return event;
}

}  // namespace paradym::webhooks::testing

#endif  // PARADYM_WEBHOOKS_TESTS_TESTING_EVENT_FILTER_TESTING_H_
