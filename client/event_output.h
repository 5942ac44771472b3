// How the client prints events: one JSON object a line (the proto3 JSON
// mapping of paradym.webhooks.v1.Event) for programs, or a compact table for
// people (--format=table).
//
//   EventPrinter printer(EventPrinter::Format::kTable);
//   std::string text = printer.Header();
//   printer.Append(event, text);

#ifndef PARADYM_WEBHOOKS_CLIENT_EVENT_OUTPUT_H_
#define PARADYM_WEBHOOKS_CLIENT_EVENT_OUTPUT_H_

#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "paradym/webhooks/v1/event.pb.h"

namespace paradym::webhooks::cli {

class EventPrinter {
 public:
  enum class Format { kJson, kTable };

  // "json" or "table"; nullopt for anything else.
  static std::optional<Format> ParseFormat(absl::string_view name);

  explicit EventPrinter(Format format) : format_(format) {}

  // The table's header line; empty for JSON.
  std::string Header() const;

  // Appends `event` as one line, '\n' included.
  absl::Status Append(const ::paradym::webhooks::v1::Event& event,
                      std::string& out) const;

 private:
  const Format format_;
};

// The most telling typed field of `event` for a person: an error code or
// message, an action, an issuance or verification id; "-" when none.
std::string EventDetail(const ::paradym::webhooks::v1::Event& event);

// The sequence of the last complete JSON line in `text` (what Append wrote
// in kJson format), or nullopt when there is none.
std::optional<std::uint64_t> LastSequenceInJsonLines(absl::string_view text);

}  // namespace paradym::webhooks::cli

#endif  // PARADYM_WEBHOOKS_CLIENT_EVENT_OUTPUT_H_
