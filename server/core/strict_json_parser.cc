#include "server/core/strict_json_parser.h"

#include <cmath>
#include <cstring>
#include <string>
#include <system_error>
#include <vector>

#include "absl/strings/charconv.h"
#include "absl/strings/str_cat.h"
#include "rapidjson/error/en.h"
#include "rapidjson/memorystream.h"
#include "rapidjson/reader.h"
#include "server/core/errors.h"
#include "server/core/json_text.h"

namespace paradym::webhooks {
namespace {

using google::protobuf::ListValue;
using google::protobuf::Struct;
using google::protobuf::Value;

// Paths in errors are cut here: they come from untrusted keys.
constexpr std::size_t kMaxPathBytes = 200;

// Builds the Struct from RapidJSON's SAX events. Returning false stops the
// reader; `error_` then says why.
class StructBuilder
    : public rapidjson::BaseReaderHandler<rapidjson::UTF8<>, StructBuilder> {
 public:
  StructBuilder(JsonObjectSink& root, int max_depth)
      : root_(root), max_depth_(max_depth) {}

  const absl::Status& error() const { return error_; }

  bool Null() {
    return Put([](Value& v) { v.set_null_value({}); });
  }
  bool Bool(bool b) {
    return Put([b](Value& v) { v.set_bool_value(b); });
  }
  // Numbers arrive as their text (kParseNumbersAsStringsFlag), which
  // RapidJSON has checked against the JSON grammar, and are converted here,
  // correctly rounded. RapidJSON 1.1.0's own full-precision conversion turns
  // a zero with a large exponent ("0e51", "0.0e300") into an arbitrary
  // number, through undefined behaviour (__builtin_clzll(0)).
  bool RawNumber(const char* str, rapidjson::SizeType length, bool /*copy*/) {
    double d = 0;
    const absl::from_chars_result result =
        absl::from_chars(str, str + length, d);
    if (result.ec == std::errc::result_out_of_range && std::fabs(d) > 1) {
      // Too big for a double: the rest underflows to zero, as in strtod.
      const std::string path = Path();
      error_ = MakeError(absl::StatusCode::kInvalidArgument, kMalformedJson,
                         "the body is not valid JSON: a number is too big "
                         "to be stored in a double",
                         {}, {{path, "number too big"}});
      return false;
    }
    return Number(d);
  }
  bool String(const char* str, rapidjson::SizeType length, bool /*copy*/) {
    if (HasEncodedSurrogate(str, length)) return LoneSurrogate(Path());
    return Put([&](Value& v) { v.set_string_value(str, length); });
  }

  bool StartObject() {
    if (frames_.empty()) {
      frames_.push_back({nullptr, nullptr, {}});  // the top level: root_
      return CheckDepth();
    }
    Value* slot = NextSlot();
    if (slot == nullptr) return false;
    frames_.push_back({slot->mutable_struct_value(), nullptr, {}});
    return CheckDepth();
  }
  bool Key(const char* str, rapidjson::SizeType length, bool /*copy*/) {
    if (HasEncodedSurrogate(str, length)) {
      frames_.back().key.clear();
      return LoneSurrogate("");
    }
    frames_.back().key.assign(str, length);
    return true;
  }
  bool EndObject(rapidjson::SizeType /*members*/) {
    frames_.pop_back();
    return true;
  }
  bool StartArray() {
    if (frames_.empty()) return NotAnObject();
    Value* slot = NextSlot();
    if (slot == nullptr) return false;
    frames_.push_back({nullptr, slot->mutable_list_value(), {}});
    return CheckDepth();
  }
  bool EndArray(rapidjson::SizeType /*elements*/) {
    frames_.pop_back();
    return true;
  }

  // The JSON path of the value being read, e.g. `payload.items[2]`, cut to
  // a readable length.
  std::string Path() const {
    std::string path;
    for (std::size_t i = 0; i < frames_.size(); ++i) {
      const Frame& frame = frames_[i];
      if (frame.list == nullptr) {
        if (!path.empty()) path += '.';
        path += frame.key;
      } else {
        // An outer array already holds the container being read; the
        // innermost one has not yet added the value being read.
        const bool innermost = i + 1 == frames_.size();
        absl::StrAppend(&path, "[",
                        frame.list->values_size() - (innermost ? 0 : 1), "]");
      }
    }
    if (path.size() > kMaxPathBytes) {
      // Cut at a character boundary so the path stays valid UTF-8.
      std::size_t cut = kMaxPathBytes;
      while (cut > 0 &&
             (static_cast<unsigned char>(path[cut]) & 0xC0) == 0x80) {
        --cut;
      }
      path.resize(cut);
      path += "...";
    }
    return path;
  }

 private:
  struct Frame {
    Struct* object;   // set while reading a nested object
    ListValue* list;  // set while reading an array
    std::string key;  // the current key of the object
    // Neither set: the top-level object, whose members go to root_.
  };

  bool Number(double d) {
    return Put([d](Value& v) { v.set_number_value(d); });
  }

  template <typename Setter>
  bool Put(Setter set) {
    if (frames_.empty()) return NotAnObject();
    Value* slot = NextSlot();
    if (slot == nullptr) return false;
    set(*slot);
    return true;
  }

  // The Value the next JSON value goes into, or null on a duplicate key.
  Value* NextSlot() {
    Frame& frame = frames_.back();
    if (frame.list != nullptr) return frame.list->add_values();
    Value* slot = nullptr;
    if (frame.object == nullptr) {
      slot = root_.Member(frame.key);
    } else if (auto [it, inserted] =
                   frame.object->mutable_fields()->insert({frame.key, Value()});
               inserted) {
      slot = &it->second;
    }
    if (slot == nullptr) {
      const std::string path = Path();
      error_ = MakeError(
          absl::StatusCode::kInvalidArgument, kDuplicateKey,
          absl::StrCat("the JSON key \"", path, "\" appears more than once"),
          {}, {{path, "duplicate key"}});
      return nullptr;
    }
    return slot;
  }

  bool CheckDepth() {
    if (static_cast<int>(frames_.size()) <= max_depth_) return true;
    frames_.back().key.clear();
    error_ =
        MakeError(absl::StatusCode::kInvalidArgument, kNestingTooDeep,
                  absl::StrCat("the JSON nests objects and arrays more than ",
                               max_depth_, " levels deep"));
    return false;
  }

  // RapidJSON validates the input bytes and surrogate pairs, but decodes a
  // lone low-surrogate escape (\udc00-\udfff) into the bytes ED B0-BF xx,
  // which are not UTF-8. Nothing else can put an ED A0-BF sequence here.
  static bool HasEncodedSurrogate(const char* str, std::size_t length) {
    for (const char* p =
             static_cast<const char*>(std::memchr(str, 0xED, length));
         p != nullptr && p + 1 < str + length;
         p = static_cast<const char*>(
             std::memchr(p + 1, 0xED, str + length - p - 1))) {
      if (static_cast<unsigned char>(p[1]) >= 0xA0) return true;
    }
    return false;
  }

  bool LoneSurrogate(std::string path) {
    std::vector<FieldViolation> violations;
    if (!path.empty()) {
      violations.push_back({path, "a \\u escape encodes a lone surrogate"});
    }
    error_ = MakeError(absl::StatusCode::kInvalidArgument, kInvalidUtf8,
                       "the body is not valid JSON: a \\u escape encodes a "
                       "lone UTF-16 surrogate, which is not a character",
                       {}, std::move(violations));
    return false;
  }

  bool NotAnObject() {
    error_ = MakeError(absl::StatusCode::kInvalidArgument, kMalformedJson,
                       "the body must be a JSON object");
    return false;
  }

  JsonObjectSink& root_;
  const int max_depth_;
  std::vector<Frame> frames_;
  absl::Status error_;
};

// Valid UTF-8 input is read without RapidJSON's per-character validation
// (checked once over the whole text, much faster); invalid input is read with
// it, so that the error names the field.
constexpr unsigned kFastFlags =
    rapidjson::kParseIterativeFlag | rapidjson::kParseNumbersAsStringsFlag;
constexpr unsigned kValidatingFlags =
    kFastFlags | rapidjson::kParseValidateEncodingFlag;

// The sink that collects the top-level members into one Struct.
class StructSink final : public JsonObjectSink {
 public:
  explicit StructSink(Struct& object) : object_(object) {}
  Value* Member(absl::string_view key) override {
    auto [it, inserted] =
        object_.mutable_fields()->insert({std::string(key), Value()});
    return inserted ? &it->second : nullptr;
  }

 private:
  Struct& object_;
};

}  // namespace

absl::Status ParseJsonObject(absl::string_view json, int max_depth,
                             Struct& object) {
  object.Clear();
  StructSink sink(object);
  return ParseJsonObject(json, max_depth, sink);
}

absl::Status ParseJsonObject(absl::string_view json, int max_depth,
                             JsonObjectSink& sink) {
  // RapidJSON reads a NUL byte as the end of the input, which would let
  // bytes after it pass unchecked. JSON text never contains a raw NUL.
  if (const void* nul = std::memchr(json.data(), '\0', json.size())) {
    return MakeError(absl::StatusCode::kInvalidArgument, kMalformedJson,
                     absl::StrCat("the body contains a NUL byte at offset ",
                                  static_cast<const char*>(nul) - json.data()));
  }
  const bool valid_utf8 = FirstInvalidUtf8(json) == absl::string_view::npos;
  StructBuilder builder(sink, max_depth);
  rapidjson::MemoryStream stream(json.data(), json.size());
  rapidjson::Reader reader;
  const rapidjson::ParseResult result =
      valid_utf8 ? reader.Parse<kFastFlags>(stream, builder)
                 : reader.Parse<kValidatingFlags>(stream, builder);
  if (!builder.error().ok()) return builder.error();
  if (!result.IsError()) {
    if (valid_utf8) return absl::OkStatus();
    // Invalid bytes that RapidJSON accepted (it cannot happen: outside
    // strings they are syntax errors); refuse them all the same.
    return MakeError(absl::StatusCode::kInvalidArgument, kInvalidUtf8,
                     "the body is not valid UTF-8");
  }
  if (result.Code() == rapidjson::kParseErrorDocumentEmpty) {
    return MakeError(absl::StatusCode::kInvalidArgument, kMalformedJson,
                     "the body is empty; expected a JSON object");
  }
  const bool bad_utf8 =
      result.Code() == rapidjson::kParseErrorStringInvalidEncoding ||
      result.Code() == rapidjson::kParseErrorStringUnicodeSurrogateInvalid;
  const std::string path = builder.Path();
  std::vector<FieldViolation> violations;
  if (!path.empty()) {
    violations.push_back({path, rapidjson::GetParseError_En(result.Code())});
  }
  return MakeError(absl::StatusCode::kInvalidArgument,
                   bad_utf8 ? kInvalidUtf8 : kMalformedJson,
                   absl::StrCat("the body is not valid JSON: ",
                                rapidjson::GetParseError_En(result.Code()),
                                " (at byte offset ", result.Offset(), ")"),
                   {}, std::move(violations));
}

}  // namespace paradym::webhooks
