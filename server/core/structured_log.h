// Structured logging: one JSON object a line on stderr.
//
//   Log(LogLevel::kInfo, "listening", {{"grpc_address", address},
//                                      {"port", 50051}});
//   // {"time":"2026-11-28T10:00:00.123Z","level":"info","msg":"listening",
//   //  "grpc_address":"0.0.0.0:50051","port":50051}
//
// Never pass a secret or a signature as a field.

#ifndef PARADYM_WEBHOOKS_SERVER_CORE_STRUCTURED_LOG_H_
#define PARADYM_WEBHOOKS_SERVER_CORE_STRUCTURED_LOG_H_

#include <cstdint>
#include <initializer_list>
#include <string>
#include <utility>

#include "absl/strings/string_view.h"

namespace paradym::webhooks {

enum class LogLevel { kDebug, kInfo, kWarning, kError };

// A field value: a string (quoted and escaped) or a number or bool (bare).
class LogValue {
 public:
  LogValue(absl::string_view s) : json_(Quote(s)) {}       // NOLINT: implicit
  LogValue(const char* s) : json_(Quote(s)) {}             // NOLINT: implicit
  LogValue(const std::string& s) : json_(Quote(s)) {}      // NOLINT: implicit
  LogValue(bool b) : json_(b ? "true" : "false") {}        // NOLINT: implicit
  LogValue(int v) : json_(std::to_string(v)) {}            // NOLINT: implicit
  LogValue(long v) : json_(std::to_string(v)) {}           // NOLINT: implicit
  LogValue(long long v) : json_(std::to_string(v)) {}      // NOLINT: implicit
  LogValue(unsigned v) : json_(std::to_string(v)) {}       // NOLINT: implicit
  LogValue(unsigned long v) : json_(std::to_string(v)) {}  // NOLINT: implicit
  LogValue(unsigned long long v)                           // NOLINT: implicit
      : json_(std::to_string(v)) {}
  LogValue(double v);  // NOLINT: implicit

  const std::string& json() const { return json_; }

  // `s` as a JSON string literal; invalid UTF-8 bytes become U+FFFD.
  static std::string Quote(absl::string_view s);

 private:
  std::string json_;
};

using LogField = std::pair<absl::string_view, LogValue>;

// Writes one line to stderr in a single write, so lines from several threads
// never interleave.
void Log(LogLevel level, absl::string_view message,
         std::initializer_list<LogField> fields = {});

// Messages below `level` are dropped. Default: kInfo.
void SetMinLogLevel(LogLevel level);

}  // namespace paradym::webhooks

#endif  // PARADYM_WEBHOOKS_SERVER_CORE_STRUCTURED_LOG_H_
