// A small command-line parser for `paradym-webhooks COMMAND [FLAGS] [ARGS]`.
//
// Flags are `--name=value`, `--name value` or a bare `--name` (a boolean);
// `-` and `_` in names are the same, so `--from-start` and `--from_start`
// both work. A flag may repeat (`--event-type=a --event-type=b`). `--` ends
// the flags.
//
//   CommandLine line = CommandLine::Parse(argc, argv).value();
//   line.command();               // "subscribe"
//   line.Value("address");        // std::optional<std::string>
//   line.Values("event-type");    // every occurrence

#ifndef PARADYM_WEBHOOKS_CLIENT_COMMAND_LINE_H_
#define PARADYM_WEBHOOKS_CLIENT_COMMAND_LINE_H_

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace paradym::webhooks::cli {

class CommandLine {
 public:
  // `boolean_flags` take no value, so `--from-start 5` leaves 5 an argument.
  static absl::StatusOr<CommandLine> Parse(
      int argc, const char* const* argv,
      const std::vector<std::string>& boolean_flags);

  const std::string& command() const { return command_; }
  const std::vector<std::string>& arguments() const { return arguments_; }

  bool Has(absl::string_view name) const;
  // The last value given for `name`.
  std::optional<std::string> Value(absl::string_view name) const;
  std::vector<std::string> Values(absl::string_view name) const;

  // INVALID_ARGUMENT naming the first flag not in `known`.
  absl::Status CheckKnown(const std::vector<std::string>& known) const;

 private:
  std::string command_;
  std::vector<std::string> arguments_;
  std::vector<std::pair<std::string, std::string>> flags_;  // name, value
};

// `name` with every `_` turned into `-`.
std::string NormalizeFlagName(absl::string_view name);

}  // namespace paradym::webhooks::cli

#endif  // PARADYM_WEBHOOKS_CLIENT_COMMAND_LINE_H_
