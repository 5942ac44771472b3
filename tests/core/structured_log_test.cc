#include "server/core/structured_log.h"

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"

namespace paradym::webhooks {
namespace {

// `json` read by protobuf's JSON parser, independent of the code under test.
bool ParsesAsJsonValue(const std::string& json,
                       google::protobuf::Value* value) {
  return google::protobuf::util::JsonStringToMessage(json, value).ok();
}

TEST(StructuredLog, QuoteEscapesSpecialCharacters) {
  struct Case {
    std::string input;
    std::string expected;
  };
  const std::vector<Case> cases = {
      {"", R"("")"},
      {"plain text", R"("plain text")"},
      {R"(say "hi")", R"("say \"hi\"")"},
      {R"(C:\path\file)", R"("C:\\path\\file")"},
      {"a/b", R"("a/b")"},
      {"line\nbreak", R"("line\nbreak")"},
      {"cr\rlf\n", R"("cr\rlf\n")"},
      {"tab\there", R"("tab\there")"},
      {std::string("nul\0byte", 8), R"("nul\u0000byte")"},
      {"\x01\x1f", R"("\u0001\u001f")"},
      {"\x08\x0c", R"("\u0008\u000c")"},
      {"del\x7f", R"("del\u007f")"},
      {"\x1b[31mred", R"("\u001b[31mred")"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(absl::CHexEscape(c.input));
    EXPECT_EQ(LogValue::Quote(c.input), c.expected);
  }
}

TEST(StructuredLog, QuoteKeepsValidMultibyteCharacters) {
  for (const std::string input :
       {"caf\xc3\xa9", "\xe4\xb8\xad\xe6\x96\x87", "smile \xf0\x9f\x98\x80",
        "\xc2\x80", "\xdf\xbf", "\xe0\xa0\x80", "\xef\xbf\xbf",
        "\xf0\x90\x80\x80", "\xf4\x8f\xbf\xbf", "\xed\x9f\xbf",
        "\xee\x80\x80"}) {
    SCOPED_TRACE(absl::CHexEscape(input));
    EXPECT_EQ(LogValue::Quote(input), absl::StrCat("\"", input, "\""));
  }
}

TEST(StructuredLog, QuoteReplacesInvalidUtf8) {
  struct Case {
    std::string name;
    std::string input;
    std::string expected;
  };
  const std::vector<Case> cases = {
      {"0xff",
       "a\xff"
       "b",
       R"("a\ufffdb")"},
      {"0xfe", "\xfe", R"("\ufffd")"},
      {"lone continuation byte", "\x80", R"("\ufffd")"},
      {"truncated two-byte at end", "a\xc3", R"("a\ufffd")"},
      {"truncated three-byte", "\xe4\xb8x", R"("\ufffd\ufffdx")"},
      {"overlong two-byte", "\xc0\xaf", R"("\ufffd\ufffd")"},
      {"overlong two-byte C1", "\xc1\xbf", R"("\ufffd\ufffd")"},
      {"overlong three-byte", "\xe0\x80\xaf", R"("\ufffd\ufffd\ufffd")"},
      {"overlong four-byte", "\xf0\x80\x80\xaf",
       R"("\ufffd\ufffd\ufffd\ufffd")"},
      {"surrogate", "\xed\xa0\x80", R"("\ufffd\ufffd\ufffd")"},
      {"past U+10FFFF", "\xf4\x90\x80\x80", R"("\ufffd\ufffd\ufffd\ufffd")"},
      {"0xf5 lead byte", "\xf5\x80\x80\x80", R"("\ufffd\ufffd\ufffd\ufffd")"},
      {"valid after invalid", "\xff\xc3\xa9", "\"\\ufffd\xc3\xa9\""},
      {"quote after truncated sequence", "\xe4\"", R"("\ufffd\"")"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    EXPECT_EQ(LogValue::Quote(c.input), c.expected);
  }
}

TEST(StructuredLog, QuotedStringsAreValidJson) {
  std::string every_ascii;
  for (int c = 0; c < 0x80; ++c) every_ascii.push_back(static_cast<char>(c));
  const std::string input =
      absl::StrCat(every_ascii, "caf\xc3\xa9 \xf0\x9f\x98\x80");
  google::protobuf::Value value;
  ASSERT_TRUE(ParsesAsJsonValue(LogValue::Quote(input), &value))
      << LogValue::Quote(input);
  EXPECT_EQ(value.string_value(), input);

  ASSERT_TRUE(
      ParsesAsJsonValue(LogValue::Quote("bad \xff\xed\xa0\x80 bytes"), &value));
  EXPECT_EQ(value.string_value(),
            "bad \xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd bytes");
}

TEST(StructuredLog, StringValuesAreQuoted) {
  const std::string text = "a \"b\"";
  EXPECT_EQ(LogValue("a \"b\"").json(), R"("a \"b\"")");
  EXPECT_EQ(LogValue(text).json(), R"("a \"b\"")");
  EXPECT_EQ(LogValue(absl::string_view(text)).json(), R"("a \"b\"")");
  EXPECT_EQ(LogValue("").json(), R"("")");
}

TEST(StructuredLog, NumbersAndBoolsAreBare) {
  EXPECT_EQ(LogValue(true).json(), "true");
  EXPECT_EQ(LogValue(false).json(), "false");
  EXPECT_EQ(LogValue(0).json(), "0");
  EXPECT_EQ(LogValue(50051).json(), "50051");
  EXPECT_EQ(LogValue(-7).json(), "-7");
  EXPECT_EQ(LogValue(-9000000000L).json(), "-9000000000");
  EXPECT_EQ(LogValue(std::numeric_limits<long long>::min()).json(),
            "-9223372036854775808");
  EXPECT_EQ(LogValue(4000000000U).json(), "4000000000");
  EXPECT_EQ(LogValue(std::numeric_limits<unsigned long long>::max()).json(),
            "18446744073709551615");
  EXPECT_EQ(LogValue(std::size_t{12}).json(), "12");
  EXPECT_EQ(LogValue(1.5).json(), "1.5");
  EXPECT_EQ(LogValue(-0.25).json(), "-0.25");
  EXPECT_EQ(LogValue(100.0).json(), "100");
}

TEST(StructuredLog, NonFiniteDoublesStayValidJson) {
  for (double v : {std::nan(""), std::numeric_limits<double>::infinity(),
                   -std::numeric_limits<double>::infinity()}) {
    SCOPED_TRACE(v);
    const std::string json = LogValue(v).json();
    google::protobuf::Value value;
    ASSERT_TRUE(ParsesAsJsonValue(json, &value)) << json;
    EXPECT_EQ(value.kind_case(), google::protobuf::Value::kStringValue);
  }
}

// Doubles are JSON numbers that read back exactly (no digits lost).
TEST(StructuredLog, FiniteDoublesAreExactJsonNumbers) {
  for (double v : {0.1, 1e300, -2.5e-8, 123456789.125}) {
    SCOPED_TRACE(v);
    const std::string json = LogValue(v).json();
    google::protobuf::Value value;
    ASSERT_TRUE(ParsesAsJsonValue(json, &value)) << json;
    ASSERT_EQ(value.kind_case(), google::protobuf::Value::kNumberValue);
    EXPECT_EQ(value.number_value(), v);
  }
  EXPECT_EQ(LogValue(123456789.125).json(), "123456789.125");
}

}  // namespace
}  // namespace paradym::webhooks
