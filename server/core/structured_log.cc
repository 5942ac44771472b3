#include "server/core/structured_log.h"

#include <unistd.h>

#include <atomic>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "server/core/json_text.h"

namespace paradym::webhooks {
namespace {

std::atomic<LogLevel> min_level{LogLevel::kInfo};

absl::string_view LevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug:
      return "debug";
    case LogLevel::kInfo:
      return "info";
    case LogLevel::kWarning:
      return "warning";
    case LogLevel::kError:
      return "error";
  }
  return "info";
}

}  // namespace

LogValue::LogValue(double v)
    : json_(std::isfinite(v) ? FormatNumber(v) : Quote(FormatNumber(v))) {}

std::string LogValue::Quote(absl::string_view s) { return JsonQuote(s); }

void SetMinLogLevel(LogLevel level) { min_level.store(level); }

void Log(LogLevel level, absl::string_view message,
         std::initializer_list<LogField> fields) {
  if (level < min_level.load(std::memory_order_relaxed)) return;
  std::string line = absl::StrCat(
      "{\"time\":",
      LogValue::Quote(absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::Now(),
                                       absl::UTCTimeZone())),
      ",\"level\":\"", LevelName(level),
      "\",\"msg\":", LogValue::Quote(message));
  for (const auto& [key, value] : fields) {
    absl::StrAppend(&line, ",", LogValue::Quote(key), ":", value.json());
  }
  line += "}\n";
  // One write(2) per line: lines from different threads stay whole.
  std::size_t written = 0;
  while (written < line.size()) {
    const ssize_t n =
        ::write(STDERR_FILENO, line.data() + written, line.size() - written);
    if (n <= 0) return;
    written += static_cast<std::size_t>(n);
  }
}

}  // namespace paradym::webhooks
