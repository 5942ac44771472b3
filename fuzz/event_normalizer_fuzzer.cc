// EventNormalizer::Normalize on arbitrary bytes, as a verified webhook body.
//
// Properties: never a crash; an error is INVALID_ARGUMENT with a reason;
// an accepted event keeps the exact body, and its encoding (what the stores
// write) decodes again, which is what the nesting limit is for.

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"
#include "fuzz/fuzz_check.h"
#include "paradym/webhooks/v1/event.pb.h"
#include "server/core/errors.h"
#include "server/core/event_normalizer.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size) {
  namespace pw = ::paradym::webhooks;
  const absl::string_view body(reinterpret_cast<const char*>(data), size);
  static const pw::EventNormalizer* const normalizer = new pw::EventNormalizer;
  pw::v1::Event event;
  const absl::Status status = normalizer->Normalize(body, event);
  if (!status.ok()) {
    FUZZ_CHECK(status.code() == absl::StatusCode::kInvalidArgument) << status;
    FUZZ_CHECK(!pw::ErrorReason(status).empty()) << status;
    return 0;
  }
  FUZZ_CHECK(event.body() == body);
  const std::string encoded = event.SerializeAsString();
  pw::v1::Event decoded;
  FUZZ_CHECK(decoded.ParseFromString(encoded))
      << "an accepted event's encoding does not decode";
  return 0;
}
