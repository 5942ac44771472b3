// Writing JSON text by hand, safely: string literals with every character
// escaped that must be, and invalid UTF-8 replaced rather than passed on.
//
//   std::string json = absl::StrCat("{\"reason\":", JsonQuote(reason), "}");

#ifndef PARADYM_WEBHOOKS_SERVER_CORE_JSON_TEXT_H_
#define PARADYM_WEBHOOKS_SERVER_CORE_JSON_TEXT_H_

#include <cstddef>
#include <string>

#include "absl/strings/string_view.h"

namespace paradym::webhooks {

// The offset of the first byte of `s` that does not start a valid UTF-8
// sequence (overlong forms, surrogates and code points past U+10FFFF are
// invalid), or absl::string_view::npos when all of `s` is valid. Fast on
// ASCII, which it checks eight bytes at a time.
std::size_t FirstInvalidUtf8(absl::string_view s);

// `value` as a number for JSON or the Prometheus text format: whole numbers
// below 1e15 as integers, others as the shortest text that reads back as
// exactly `value` (0.1, not 0.10000000000000001). NaN and infinities come out
// as C prints them ("nan", "inf"), which JSON cannot hold: quote those.
std::string FormatNumber(double value);

// `s` as a JSON string literal, quotes included. Control characters are
// escaped; bytes that are not valid UTF-8 become U+FFFD.
std::string JsonQuote(absl::string_view s);

}  // namespace paradym::webhooks

#endif  // PARADYM_WEBHOOKS_SERVER_CORE_JSON_TEXT_H_
