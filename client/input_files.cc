#include "client/input_files.h"

#include <cstdlib>
#include <fstream>
#include <iostream>
#include <iterator>

#include "absl/strings/ascii.h"

namespace paradym::webhooks::cli {

std::optional<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  return std::string(std::istreambuf_iterator<char>(in),
                     std::istreambuf_iterator<char>());
}

std::optional<std::string> ReadFirstLine(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  if (!in || !std::getline(in, line)) return std::nullopt;
  return std::string(absl::StripAsciiWhitespace(line));
}

std::optional<std::string> ReadSecret(const CommandLine& line) {
  if (auto path = line.Value("secret-file")) return ReadFirstLine(*path);
  if (const char* env = std::getenv("PARADYM_WEBHOOK_SECRET");
      env != nullptr && *env != '\0') {
    return std::string(env);
  }
  return std::nullopt;
}

std::optional<std::string> ReadBody(const CommandLine& line) {
  if (line.arguments().empty()) {
    return std::string(std::istreambuf_iterator<char>(std::cin),
                       std::istreambuf_iterator<char>());
  }
  return ReadFile(line.arguments()[0]);
}

}  // namespace paradym::webhooks::cli
