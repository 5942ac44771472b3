#include "client/command_line.h"

#include <algorithm>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace paradym::webhooks::cli {

std::string NormalizeFlagName(absl::string_view name) {
  std::string normalized(name);
  std::replace(normalized.begin(), normalized.end(), '_', '-');
  return normalized;
}

absl::StatusOr<CommandLine> CommandLine::Parse(
    int argc, const char* const* argv,
    const std::vector<std::string>& boolean_flags) {
  CommandLine line;
  bool flags_done = false;
  for (int i = 1; i < argc; ++i) {
    const absl::string_view arg = argv[i];
    if (flags_done || !absl::StartsWith(arg, "--") || arg.size() == 2) {
      if (arg == "--" && !flags_done) {
        flags_done = true;
      } else if (line.command_.empty()) {
        line.command_ = std::string(arg);
      } else {
        line.arguments_.emplace_back(arg);
      }
      continue;
    }
    absl::string_view body = arg.substr(2);
    const std::size_t equals = body.find('=');
    std::string name = NormalizeFlagName(body.substr(0, equals));
    if (equals != absl::string_view::npos) {
      line.flags_.emplace_back(std::move(name),
                               std::string(body.substr(equals + 1)));
      continue;
    }
    const bool boolean = name == "help" ||
                         std::any_of(boolean_flags.begin(), boolean_flags.end(),
                                     [&](const std::string& flag) {
                                       return NormalizeFlagName(flag) == name;
                                     });
    if (boolean) {
      line.flags_.emplace_back(std::move(name), "true");
    } else if (i + 1 < argc) {
      line.flags_.emplace_back(std::move(name), argv[++i]);
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat("--", name, " needs a value"));
    }
  }
  return line;
}

bool CommandLine::Has(absl::string_view name) const {
  return Value(name).has_value();
}

std::optional<std::string> CommandLine::Value(absl::string_view name) const {
  const std::string wanted = NormalizeFlagName(name);
  std::optional<std::string> value;
  for (const auto& [flag, flag_value] : flags_) {
    if (flag == wanted) value = flag_value;
  }
  return value;
}

std::vector<std::string> CommandLine::Values(absl::string_view name) const {
  const std::string wanted = NormalizeFlagName(name);
  std::vector<std::string> values;
  for (const auto& [flag, value] : flags_) {
    if (flag == wanted) values.push_back(value);
  }
  return values;
}

absl::Status CommandLine::CheckKnown(
    const std::vector<std::string>& known) const {
  for (const auto& [flag, value] : flags_) {
    if (flag != "help" &&
        std::find(known.begin(), known.end(), flag) == known.end()) {
      return absl::InvalidArgumentError(absl::StrCat("unknown flag --", flag));
    }
  }
  return absl::OkStatus();
}

}  // namespace paradym::webhooks::cli
