// Every event a server holds, read through ListEvents pages, for tests that
// compare what was stored with what was accepted.
//
//   std::vector<v1::Event> events = ListAllEvents(*stub);

#ifndef PARADYM_WEBHOOKS_TESTS_TESTING_LIST_ALL_EVENTS_H_
#define PARADYM_WEBHOOKS_TESTS_TESTING_LIST_ALL_EVENTS_H_

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <cstdint>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "paradym/webhooks/v1/webhook_service.grpc.pb.h"
#include "tests/testing/grpc_status.h"
#include "tests/testing/status_matchers.h"

namespace paradym::webhooks::testing {

// The events of every page, oldest first (each page within 30 s). Sets
// `oldest` to the server's oldest sequence when given.
inline std::vector<::paradym::webhooks::v1::Event> ListAllEvents(
    ::paradym::webhooks::v1::WebhookService::Stub& stub,
    std::uint64_t* oldest = nullptr) {
  std::vector<::paradym::webhooks::v1::Event> events;
  ::paradym::webhooks::v1::ListEventsRequest request;
  request.set_page_size(1000);
  for (int pages = 0; pages < 1000; ++pages) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(30));
    ::paradym::webhooks::v1::ListEventsResponse response;
    const grpc::Status status = stub.ListEvents(&context, request, &response);
    EXPECT_THAT(status, IsOk());
    if (!status.ok()) break;
    if (oldest != nullptr) *oldest = response.oldest_sequence();
    for (const auto& event : response.events()) events.push_back(event);
    if (response.next_page_token().empty()) break;
    request.set_page_token(response.next_page_token());
  }
  return events;
}

}  // namespace paradym::webhooks::testing

#endif  // PARADYM_WEBHOOKS_TESTS_TESTING_LIST_ALL_EVENTS_H_
