#include "server/core/filter_index.h"

#include <algorithm>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/event_filter_testing.h"

namespace paradym::webhooks {
namespace {

using ::paradym::webhooks::testing::MakeSpec;
using ::paradym::webhooks::testing::MustCreate;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAre;
using ::testing::UnorderedElementsAreArray;

// What the index files: a name and its filter.
struct Subscriber {
  std::string name;
  EventFilter filter;
};

// An event as the index sees it.
std::shared_ptr<const StoredEvent> MakeEvent(std::string type,
                                             std::string project,
                                             std::string workflow = "w0",
                                             std::string execution = "e0") {
  return StoredEvent::Create(
      testing::MakeEvent(std::move(type), std::move(project),
                         std::move(workflow), std::move(execution)));
}

std::vector<std::string> Candidates(const FilterIndex<Subscriber>& index,
                                    const StoredEvent& event) {
  std::vector<Subscriber*> candidates;
  index.AppendCandidates(event, candidates);
  std::vector<std::string> names;
  for (const Subscriber* s : candidates) names.push_back(s->name);
  return names;
}

// Every filter that matches an event is a candidate for it; one filed under
// values the event does not have is not.
TEST(FilterIndex, NamesTheFiltersFiledUnderTheEventsValues) {
  std::vector<Subscriber> subscribers = {
      {"execution", MustCreate(MakeSpec({}, {"p1"}, {"w1"}, {"e1", "e2"}))},
      {"workflow", MustCreate(MakeSpec({"x.*"}, {"p1"}, {"w1"}))},
      {"project", MustCreate(MakeSpec({}, {"p1", "p2"}))},
      {"other project", MustCreate(MakeSpec({}, {"p9"}))},
      {"type", MustCreate(MakeSpec({"a.b"}))},
      {"prefix", MustCreate(MakeSpec({"a.*"}))},
      {"long prefix", MustCreate(MakeSpec({"a.b.c.*"}))},
      {"other type", MustCreate(MakeSpec({"z.z"}))},
  };
  FilterIndex<Subscriber> index;
  for (Subscriber& s : subscribers) index.Add(s.filter, &s);
  EXPECT_EQ(index.size(), subscribers.size());

  struct Case {
    std::shared_ptr<const StoredEvent> event;
    std::vector<std::string> candidates;
  };
  const std::vector<Case> cases = {
      {MakeEvent("a.b", "p1", "w1", "e2"),
       {"execution", "workflow", "project", "type", "prefix"}},
      {MakeEvent("a.b.c.d", "p2"), {"project", "prefix", "long prefix"}},
      {MakeEvent("a.b", "p3"), {"type", "prefix"}},
      {MakeEvent("b", "p3"), {}},
      {MakeEvent("", ""), {}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.event->event_type());
    const std::vector<std::string> got = Candidates(index, *c.event);
    EXPECT_THAT(got, UnorderedElementsAreArray(c.candidates));
    // Whatever matches is among the candidates.
    for (const Subscriber& s : subscribers) {
      if (s.filter.Matches(*c.event)) {
        EXPECT_NE(std::find(got.begin(), got.end(), s.name), got.end())
            << s.name;
      }
    }
  }
}

TEST(FilterIndex, ATypeMatchingTwoOfAFiltersTypesNamesItTwice) {
  Subscriber s{"both", MustCreate(MakeSpec({"a.*", "a.b.*", "a.b.c"}))};
  FilterIndex<Subscriber> index;
  index.Add(s.filter, &s);
  EXPECT_EQ(Candidates(index, *MakeEvent("a.b.c", "p")).size(), 3u);
  EXPECT_EQ(Candidates(index, *MakeEvent("a.x", "p")).size(), 1u);
}

TEST(FilterIndex, RemovedFiltersAreNoLongerNamed) {
  Subscriber first{"first", MustCreate(MakeSpec({"a.*"}, {"p1"}))};
  Subscriber second{"second", MustCreate(MakeSpec({"a.*"}, {"p1"}))};
  Subscriber prefix{"prefix", MustCreate(MakeSpec({"a.*"}))};
  FilterIndex<Subscriber> index;
  index.Add(first.filter, &first);
  index.Add(second.filter, &second);
  index.Add(prefix.filter, &prefix);
  const auto event = MakeEvent("a.b", "p1");
  EXPECT_THAT(Candidates(index, *event),
              UnorderedElementsAre("first", "second", "prefix"));
  index.Remove(first.filter, &first);
  index.Remove(prefix.filter, &prefix);
  EXPECT_THAT(Candidates(index, *event), UnorderedElementsAre("second"));
  index.Remove(second.filter, &second);
  EXPECT_THAT(Candidates(index, *event), IsEmpty());
  EXPECT_EQ(index.size(), 0u);
  // Filing again after everything left works as the first time.
  index.Add(prefix.filter, &prefix);
  EXPECT_THAT(Candidates(index, *event), UnorderedElementsAre("prefix"));
}

}  // namespace
}  // namespace paradym::webhooks
