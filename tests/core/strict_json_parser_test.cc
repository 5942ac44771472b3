#include "server/core/strict_json_parser.h"

#include <ostream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/text_format.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "server/core/errors.h"
#include "tests/testing/core_printers.h"
#include "tests/testing/status_matchers.h"

namespace paradym::webhooks {

namespace {

using ::google::protobuf::Struct;
using ::google::protobuf::Value;
using ::paradym::webhooks::testing::HasReason;
using ::paradym::webhooks::testing::IsOk;
using ::paradym::webhooks::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::Field;
using ::testing::IsEmpty;

Struct FromText(const std::string& text) {
  Struct message;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &message))
      << text;
  return message;
}

void ExpectStructEq(const Struct& actual, const Struct& expected) {
  google::protobuf::util::MessageDifferencer differencer;
  std::string differences;
  differencer.ReportDifferencesToString(&differences);
  EXPECT_TRUE(differencer.Compare(expected, actual))
      << differences << "\nactual:\n"
      << actual.DebugString();
}

// A strict UTF-8 check written for this test (RFC 3629): no overlong forms,
// no surrogates, nothing past U+10FFFF.
bool IsValidUtf8(absl::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    std::size_t length;
    unsigned int code_point;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      length = 2;
      code_point = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      length = 3;
      code_point = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      length = 4;
      code_point = c & 0x07;
    } else {
      return false;
    }
    if (i + length > s.size()) return false;
    for (std::size_t k = 1; k < length; ++k) {
      const unsigned char next = static_cast<unsigned char>(s[i + k]);
      if ((next & 0xC0) != 0x80) return false;
      code_point = (code_point << 6) | (next & 0x3F);
    }
    static constexpr unsigned int kMin[] = {0, 0, 0x80, 0x800, 0x10000};
    if (code_point < kMin[length] || code_point > 0x10FFFF ||
        (code_point >= 0xD800 && code_point <= 0xDFFF)) {
      return false;
    }
    i += length;
  }
  return true;
}

TEST(StrictJsonParser, ParsesNestedObject) {
  Struct object;
  const absl::Status status =
      ParseJsonObject(R"({"s":"x","n":1.5,"i":-3,"t":true,"f":false,"z":null,)"
                      R"("a":[1,"two",[3,[]],{"k":"v"},null,false],)"
                      R"("o":{"p":{"q":[]},"e":{}}})",
                      64, object);
  ASSERT_THAT(status, IsOk());
  ExpectStructEq(object, FromText(R"(
    fields { key: "s" value { string_value: "x" } }
    fields { key: "n" value { number_value: 1.5 } }
    fields { key: "i" value { number_value: -3 } }
    fields { key: "t" value { bool_value: true } }
    fields { key: "f" value { bool_value: false } }
    fields { key: "z" value { null_value: NULL_VALUE } }
    fields {
      key: "a"
      value {
        list_value {
          values { number_value: 1 }
          values { string_value: "two" }
          values {
            list_value {
              values { number_value: 3 }
              values { list_value {} }
            }
          }
          values {
            struct_value {
              fields { key: "k" value { string_value: "v" } }
            }
          }
          values { null_value: NULL_VALUE }
          values { bool_value: false }
        }
      }
    }
    fields {
      key: "o"
      value {
        struct_value {
          fields {
            key: "p"
            value {
              struct_value {
                fields { key: "q" value { list_value {} } }
              }
            }
          }
          fields { key: "e" value { struct_value {} } }
        }
      }
    }
  )"));
  // Presence of the empty containers, which text comparison of defaults
  // could hide.
  EXPECT_EQ(object.fields().at("o").struct_value().fields().at("e").kind_case(),
            Value::kStructValue);
  EXPECT_EQ(object.fields().at("z").kind_case(), Value::kNullValue);
}

TEST(StrictJsonParser, ParsesEmptyObjectWithWhitespace) {
  Struct object;
  const absl::Status status = ParseJsonObject(" \t\r\n{ \n} \n", 64, object);
  ASSERT_THAT(status, IsOk());
  EXPECT_THAT(object.fields(), IsEmpty());
}

TEST(StrictJsonParser, ClearsTheObjectFirst) {
  Struct object = FromText(R"(
    fields { key: "old" value { string_value: "stale" } }
  )");
  const absl::Status status = ParseJsonObject(R"({"new":1})", 64, object);
  ASSERT_THAT(status, IsOk());
  ExpectStructEq(object, FromText(R"(
    fields { key: "new" value { number_value: 1 } }
  )"));
}

TEST(StrictJsonParser, ParsesNumbers) {
  struct Case {
    std::string json;
    double value;
  };
  const std::vector<Case> cases = {
      {"0", 0},
      {"-0", -0.0},
      {"42", 42},
      {"-7", -7},
      {"1.25", 1.25},
      {"-0.5", -0.5},
      {"1e3", 1000},
      {"2.5E-3", 0.0025},
      {"4294967295", 4294967295.0},
      {"4294967296", 4294967296.0},
      {"-2147483649", -2147483649.0},
      {"9007199254740992", 9007199254740992.0},
      {"18446744073709551615", 18446744073709551615.0},
      {"1e308", 1e308},
      {"0.1", 0.1},
      {"3.141592653589793", 3.141592653589793},
      {"1e-400", 0},
      {"9007199254740993", 9007199254740992.0},  // rounds to even
      {"123456789012345678901234567890", 1.2345678901234568e29},
      // Zero with a large exponent: RapidJSON's own conversion made these
      // arbitrary numbers (found by fuzz/event_normalizer_fuzzer).
      {"0e51", 0},
      {"0.000e100", 0},
      {"0.0e300", 0},
      {"-0e100", -0.0},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.json);
    Struct object;
    const absl::Status status =
        ParseJsonObject(absl::StrCat(R"({"n":)", c.json, "}"), 64, object);
    ASSERT_THAT(status, IsOk());
    const Value& value = object.fields().at("n");
    ASSERT_EQ(value.kind_case(), Value::kNumberValue);
    EXPECT_EQ(value.number_value(), c.value);
  }
}

TEST(StrictJsonParser, DecodesEscapes) {
  struct Case {
    std::string json_string;  // between the quotes
    std::string expected;     // UTF-8
  };
  const std::vector<Case> cases = {
      {R"(\"\\\/\b\f\n\r\t)", "\"\\/\b\f\n\r\t"},
      {R"(\u0041\u00e9)", "A\xc3\xa9"},
      {R"(\u4e2d\u6587)", "\xe4\xb8\xad\xe6\x96\x87"},
      {R"(\ud83d\ude00)", "\xf0\x9f\x98\x80"},
      {R"(\uD83D\uDE00)", "\xf0\x9f\x98\x80"},
      {R"(\uffff)", "\xef\xbf\xbf"},
      {R"(\udbff\udfff)", "\xf4\x8f\xbf\xbf"},
      {"caf\xc3\xa9 \xf0\x9f\x98\x80", "caf\xc3\xa9 \xf0\x9f\x98\x80"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.json_string);
    Struct object;
    const absl::Status status = ParseJsonObject(
        absl::StrCat(R"({"s":")", c.json_string, R"("})"), 64, object);
    ASSERT_THAT(status, IsOk());
    EXPECT_EQ(object.fields().at("s").string_value(), c.expected);
  }
}

TEST(StrictJsonParser, DecodesUnicodeKeys) {
  Struct object;
  const absl::Status status = ParseJsonObject(
      R"({"\u00e9t\u00e9":1,"中":{"\ud83d\ude00":true}})", 64, object);
  ASSERT_THAT(status, IsOk());
  ExpectStructEq(object, FromText(R"(
    fields { key: "\303\251t\303\251" value { number_value: 1 } }
    fields {
      key: "\344\270\255"
      value {
        struct_value {
          fields { key: "\360\237\230\200" value { bool_value: true } }
        }
      }
    }
  )"));
}

struct ErrorCase {
  std::string name;
  std::string json;
  absl::string_view reason;
  std::string field;  // "" when no field violation is expected
};

void ExpectError(const ErrorCase& c, int max_depth = 64) {
  Struct object;
  const absl::Status status = ParseJsonObject(c.json, max_depth, object);
  ASSERT_THAT(status, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(status, HasReason(c.reason));
  if (!c.field.empty()) {
    EXPECT_THAT(ErrorFieldViolations(status),
                ElementsAre(Field(&FieldViolation::field, c.field)))
        << status;
  }
}

TEST(StrictJsonParser, RejectsMalformedJson) {
  const std::vector<ErrorCase> cases = {
      {"empty", "", kMalformedJson, ""},
      {"whitespace only", " \n\t ", kMalformedJson, ""},
      {"array root", "[]", kMalformedJson, ""},
      {"array of objects root", R"([{"a":1}])", kMalformedJson, ""},
      {"string root", R"("a")", kMalformedJson, ""},
      {"number root", "1", kMalformedJson, ""},
      {"true root", "true", kMalformedJson, ""},
      {"null root", "null", kMalformedJson, ""},
      {"unterminated object", "{", kMalformedJson, ""},
      {"missing value", R"({"a":})", kMalformedJson, ""},
      {"missing colon", R"({"a" 1})", kMalformedJson, ""},
      {"unquoted key", R"({a:1})", kMalformedJson, ""},
      {"single quotes", R"({'a':'b'})", kMalformedJson, ""},
      {"trailing comma in object", R"({"a":1,})", kMalformedJson, ""},
      {"trailing comma in array", R"({"a":[1,]})", kMalformedJson, ""},
      {"trailing data", R"({"a":1} x)", kMalformedJson, ""},
      {"second object", R"({"a":1}{"b":2})", kMalformedJson, ""},
      {"NaN", R"({"a":NaN})", kMalformedJson, ""},
      {"Infinity", R"({"a":Infinity})", kMalformedJson, ""},
      {"-Infinity", R"({"a":-Infinity})", kMalformedJson, ""},
      {"leading zero", R"({"a":01})", kMalformedJson, ""},
      {"leading plus", R"({"a":+1})", kMalformedJson, ""},
      {"bare decimal point", R"({"a":.5})", kMalformedJson, ""},
      {"number too big", R"({"a":1e400})", kMalformedJson, ""},
      {"number just too big", R"({"a":{"b":[1.8e308]}})", kMalformedJson,
       "a.b[0]"},
      {"hex number", R"({"a":0x10})", kMalformedJson, ""},
      {"unterminated string", R"({"a":"b)", kMalformedJson, ""},
      {"raw newline in string", "{\"a\":\"b\nc\"}", kMalformedJson, ""},
      {"raw tab in string", "{\"a\":\"b\tc\"}", kMalformedJson, ""},
      {"unknown escape", R"({"a":"\q"})", kMalformedJson, ""},
      {"short unicode escape", R"({"a":"\u12"})", kMalformedJson, ""},
      {"line comment", "{\"a\":1 // c\n}", kMalformedJson, ""},
      {"block comment", R"({"a":/* c */1})", kMalformedJson, ""},
      {"NUL after object", std::string("{\"a\":1}\0{}", 10), kMalformedJson,
       ""},
      {"NUL inside string", std::string("{\"a\":\"x\0y\"}", 11), kMalformedJson,
       ""},
      {"byte order mark", "\xef\xbb\xbf{\"a\":1}", kMalformedJson, ""},
      {"capitalized literal", R"({"a":True})", kMalformedJson, ""},
  };
  for (const ErrorCase& c : cases) {
    SCOPED_TRACE(c.name);
    ExpectError(c);
  }
}

TEST(StrictJsonParser, RejectsInvalidUtf8) {
  const std::vector<ErrorCase> cases = {
      {"0xff byte", "{\"a\":\"\xff\"}", kInvalidUtf8, ""},
      {"lone continuation byte", "{\"a\":\"\x80\"}", kInvalidUtf8, ""},
      {"truncated sequence", "{\"a\":\"\xe4\xb8\"}", kInvalidUtf8, ""},
      {"overlong slash", "{\"a\":\"\xc0\xaf\"}", kInvalidUtf8, ""},
      {"overlong three bytes", "{\"a\":\"\xe0\x80\xaf\"}", kInvalidUtf8, ""},
      {"surrogate bytes", "{\"a\":\"\xed\xa0\x80\"}", kInvalidUtf8, ""},
      {"past U+10FFFF", "{\"a\":\"\xf4\x90\x80\x80\"}", kInvalidUtf8, ""},
      {"0xf5 lead byte", "{\"a\":\"\xf5\x80\x80\x80\"}", kInvalidUtf8, ""},
      {"invalid key", "{\"\xff\":1}", kInvalidUtf8, ""},
      {"lone high surrogate escape", R"({"a":"\ud800"})", kInvalidUtf8, ""},
      {"high surrogate then letter", R"({"a":"\ud800x"})", kInvalidUtf8, ""},
      {"high surrogate then non-surrogate escape", R"({"a":"\ud800\u0041"})",
       kInvalidUtf8, ""},
  };
  for (const ErrorCase& c : cases) {
    SCOPED_TRACE(c.name);
    ExpectError(c);
  }
}

// A \u escape of a low surrogate (U+DC00..U+DFFF) that follows no high
// surrogate is not a character; decoded naively it becomes the invalid UTF-8
// bytes ED B0 80, which then sit in a proto3 string field.
TEST(StrictJsonParser, RejectsLoneLowSurrogateEscape) {
  const std::vector<ErrorCase> cases = {
      {"lone low surrogate", R"({"a":"\udc00"})", kInvalidUtf8, ""},
      {"low surrogate after text", R"({"a":"x\udfff"})", kInvalidUtf8, ""},
      {"reversed surrogate pair", R"({"a":"\ude00\ud83d"})", kInvalidUtf8, ""},
      {"in a key", R"({"\udc00":1})", kInvalidUtf8, ""},
  };
  for (const ErrorCase& c : cases) {
    SCOPED_TRACE(c.name);
    ExpectError(c);
  }
}

TEST(StrictJsonParser, InvalidUtf8NamesTheField) {
  const std::vector<ErrorCase> cases = {
      {"top-level value", "{\"a\":\"\xff\"}", kInvalidUtf8, "a"},
      {"nested value", "{\"payload\":{\"name\":\"\xff\"}}", kInvalidUtf8,
       "payload.name"},
      {"value after a nested array",
       "{\"payload\":{\"list\":[1],\"name\":\"\xff\"}}", kInvalidUtf8,
       "payload.name"},
  };
  for (const ErrorCase& c : cases) {
    SCOPED_TRACE(c.name);
    ExpectError(c);
  }
}

// The path of an error inside an array names the element being read, which
// is not yet in the list when the error is found.
TEST(StrictJsonParser, ParseErrorInArrayNamesTheElement) {
  const std::vector<ErrorCase> cases = {
      {"invalid UTF-8 in the first element", "{\"items\":[\"\xff\"]}",
       kInvalidUtf8, "items[0]"},
      {"invalid UTF-8 in the second element", "{\"items\":[\"ok\",\"\xff\"]}",
       kInvalidUtf8, "items[1]"},
      {"invalid UTF-8 in a nested array",
       "{\"p\":{\"items\":[[],[\"a\",\"b\",\"\xff\"]]}}", kInvalidUtf8,
       "p.items[1][2]"},
      {"invalid value as the third element", R"({"a":[1,2,x]})", kMalformedJson,
       "a[2]"},
  };
  for (const ErrorCase& c : cases) {
    SCOPED_TRACE(c.name);
    ExpectError(c);
  }
}

TEST(StrictJsonParser, RejectsDuplicateKeysNamingThePath) {
  const std::vector<ErrorCase> cases = {
      {"top level", R"({"a":1,"a":2})", kDuplicateKey, "a"},
      {"same value twice", R"({"a":1,"b":2,"a":1})", kDuplicateKey, "a"},
      {"nested", R"({"payload":{"a":1,"a":"x"}})", kDuplicateKey, "payload.a"},
      {"object values", R"({"a":{},"a":{}})", kDuplicateKey, "a"},
      {"array values", R"({"a":[],"a":[]})", kDuplicateKey, "a"},
      {"null values", R"({"a":null,"a":null})", kDuplicateKey, "a"},
      {"inside array", R"({"x":[{"k":1},{"k":1,"k":2}]})", kDuplicateKey,
       "x[1].k"},
      {"escaped spelling", R"({"a":1,"\u0061":2})", kDuplicateKey, "a"},
      {"deep", R"({"a":{"b":[0,[{"c":{"d":1,"d":2}}]]}})", kDuplicateKey,
       "a.b[1][0].c.d"},
  };
  for (const ErrorCase& c : cases) {
    SCOPED_TRACE(c.name);
    ExpectError(c);
  }
}

TEST(StrictJsonParser, KeysDifferingOnlyInCaseAreNotDuplicates) {
  Struct object;
  const absl::Status status = ParseJsonObject(R"({"a":1,"A":2})", 64, object);
  ASSERT_THAT(status, IsOk());
  EXPECT_EQ(object.fields_size(), 2);
}

// `{"a":[[...]]}` with `depth` levels in all: the object and depth-1 arrays.
std::string NestedArrays(int depth) {
  return absl::StrCat(R"({"a":)", std::string(depth - 1, '['),
                      std::string(depth - 1, ']'), "}");
}

// `{"a":{"a":...{}}}` with `depth` objects in all.
std::string NestedObjects(int depth) {
  std::string json;
  for (int i = 1; i < depth; ++i) json += R"({"a":)";
  json += "{}";
  json += std::string(depth - 1, '}');
  return json;
}

TEST(StrictJsonParser, AcceptsExactlyMaxDepth) {
  for (int max_depth : {1, 2, 3, 10, 64}) {
    SCOPED_TRACE(absl::StrCat("max_depth ", max_depth));
    Struct object;
    absl::Status status =
        ParseJsonObject(NestedObjects(max_depth), max_depth, object);
    EXPECT_THAT(status, IsOk());
    if (max_depth >= 2) {
      status = ParseJsonObject(NestedArrays(max_depth), max_depth, object);
      EXPECT_THAT(status, IsOk());
    }
  }
}

TEST(StrictJsonParser, RejectsOneLevelPastMaxDepth) {
  for (int max_depth : {1, 2, 3, 10, 64}) {
    SCOPED_TRACE(absl::StrCat("max_depth ", max_depth));
    ExpectError({"objects", NestedObjects(max_depth + 1), kNestingTooDeep, ""},
                max_depth);
    ExpectError({"arrays", NestedArrays(max_depth + 1), kNestingTooDeep, ""},
                max_depth);
  }
}

TEST(StrictJsonParser, DepthCountsMixedObjectsAndArrays) {
  // Levels: {} 1, [ 2, { 3, [ 4.
  const std::string json = R"({"a":[{"b":[]}]})";
  Struct object;
  absl::Status status = ParseJsonObject(json, 4, object);
  EXPECT_THAT(status, IsOk());
  ExpectError({"mixed", json, kNestingTooDeep, ""}, 3);
}

TEST(StrictJsonParser, VeryDeepInputFailsWithoutCrashing) {
  constexpr int kLevels = 100000;
  const std::vector<ErrorCase> cases = {
      {"open arrays at the root", std::string(kLevels, '['), kMalformedJson,
       ""},
      {"open arrays in an object",
       absl::StrCat(R"({"a":)", std::string(kLevels, '[')), kNestingTooDeep,
       ""},
      {"closed arrays in an object", NestedArrays(kLevels), kNestingTooDeep,
       ""},
      {"open objects",
       [] {
         std::string json;
         for (int i = 0; i < kLevels; ++i) json += R"({"a":)";
         return json;
       }(),
       kNestingTooDeep, ""},
  };
  for (const ErrorCase& c : cases) {
    SCOPED_TRACE(c.name);
    ExpectError(c, 64);
  }
}

TEST(StrictJsonParser, LongPathIsCutAtCharacterBoundary) {
  // A duplicated long key of multibyte characters, nested under an ASCII key
  // of 0 to 4 bytes so that the 200-byte cut falls at every position within
  // a character.
  for (const std::string character :
       {"\xc3\xa9", "\xe4\xb8\xad", "\xf0\x9f\x98\x80"}) {
    for (const std::string outer : {"", "p", "pq", "pqr", "pqrs"}) {
      SCOPED_TRACE(absl::StrCat("character ", absl::CHexEscape(character),
                                ", outer key \"", outer, "\""));
      std::string key;
      while (key.size() < 400) key += character;
      std::string json;
      std::string full_path;
      if (outer.empty()) {
        json = absl::StrCat("{\"", key, "\":1,\"", key, "\":2}");
        full_path = key;
      } else {
        json =
            absl::StrCat("{\"", outer, "\":{\"", key, "\":1,\"", key, "\":2}}");
        full_path = absl::StrCat(outer, ".", key);
      }
      Struct object;
      const absl::Status status = ParseJsonObject(json, 64, object);
      ASSERT_THAT(status, StatusIs(absl::StatusCode::kInvalidArgument));
      EXPECT_THAT(status, HasReason(kDuplicateKey));
      const std::vector<FieldViolation> violations =
          ErrorFieldViolations(status);
      ASSERT_EQ(violations.size(), 1u);
      std::string field = violations[0].field;
      EXPECT_TRUE(IsValidUtf8(field)) << absl::CHexEscape(field);
      EXPECT_TRUE(IsValidUtf8(status.message()))
          << absl::CHexEscape(status.message());
      // What is kept is a prefix of the real path, cut by at most one
      // character below 200 bytes (an ellipsis may follow).
      if (absl::EndsWith(field, "...")) field.resize(field.size() - 3);
      EXPECT_LE(field.size(), 200u);
      EXPECT_GT(field.size(), 200u - character.size());
      EXPECT_TRUE(absl::StartsWith(full_path, field))
          << absl::CHexEscape(field);
    }
  }
}

TEST(StrictJsonParser, LongPathInParseErrorStaysValidUtf8) {
  std::string key;
  while (key.size() < 400) key += "\xe4\xb8\xad";
  Struct object;
  const absl::Status status = ParseJsonObject(
      absl::StrCat("{\"x\":{\"", key, "\":\"\xff\"}}"), 64, object);
  ASSERT_THAT(status, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(status, HasReason(kInvalidUtf8));
  const std::vector<FieldViolation> violations = ErrorFieldViolations(status);
  ASSERT_EQ(violations.size(), 1u);
  EXPECT_TRUE(IsValidUtf8(violations[0].field))
      << absl::CHexEscape(violations[0].field);
  EXPECT_TRUE(absl::StartsWith(violations[0].field, "x.\xe4\xb8\xad"));
  EXPECT_LE(violations[0].field.size(), 203u);
}

}  // namespace
}  // namespace paradym::webhooks
