#include "server/core/strict_json_parser.h"

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <system_error>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/charconv.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/io/coded_stream.h"
// RapidJSON skips the plain runs of strings and whitespace 16 bytes at a
// time with SSE2, which every x86-64 processor has.
#if defined(__SSE2__) && !defined(RAPIDJSON_SSE2)
#define RAPIDJSON_SSE2
#endif
#include "rapidjson/error/en.h"
#include "rapidjson/memorystream.h"
#include "rapidjson/reader.h"
#include "server/core/errors.h"
#include "server/core/json_text.h"
#include "server/core/status_macros.h"
#include "server/core/struct_wire.h"

namespace paradym::webhooks {
namespace {

using google::protobuf::Struct;

// Paths in errors are cut here: they come from untrusted keys.
constexpr std::size_t kMaxPathBytes = 200;
// Objects with more keys than this find duplicates through a hash set.
constexpr std::size_t kLinearKeys = 8;

// Lengths still open, outermost first.
struct Lengths {
  std::size_t at[3];
  int size = 0;
  void Add(std::size_t offset) { at[size++] = offset; }
};

// An object or array being read. Frames, and the strings in them, are
// reused from parse to parse on a thread, so that reading allocates nothing
// once they have grown.
struct Frame {
  bool list = false;  // an array; else an object
  bool top = false;   // the top-level object: its members go to the sink
  std::string* buffer = nullptr;  // where the contents go (not for top)
  std::string key;                // object: the current key
  std::size_t count = 0;          // array: values begun
  Lengths lengths;                // closed when the container ends
  // Object: the keys so far, the first `key_count` of `keys` while few,
  // then in `many_keys`.
  std::vector<std::string> keys;
  std::size_t key_count = 0;
  absl::flat_hash_set<std::string> many_keys;
};

// Writes the Struct wire format from RapidJSON's SAX events. Returning false
// stops the reader; `error_` then says why.
class WireBuilder
    : public rapidjson::BaseReaderHandler<rapidjson::UTF8<>, WireBuilder> {
 public:
  // `frames` are the thread's, reused. `escapes`: whether the text has a
  // \u escape (only those can decode into a lone surrogate).
  WireBuilder(JsonObjectSink& root, int max_depth, std::vector<Frame>& frames,
              bool escapes)
      : root_(root),
        max_depth_(max_depth),
        escapes_(escapes),
        frames_(frames) {}

  const absl::Status& error() const { return error_; }

  bool Null() {
    return Scalar([](std::string& out) {
      out.push_back(kNullValueTag);
      out.push_back('\0');
    });
  }
  bool Bool(bool b) {
    return Scalar([b](std::string& out) {
      out.push_back(kBoolValueTag);
      out.push_back(b ? '\1' : '\0');
    });
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
    return Scalar([d](std::string& out) {
      std::uint64_t bits = 0;
      std::memcpy(&bits, &d, sizeof bits);
      out.push_back(kNumberValueTag);
      for (int i = 0; i < 8; ++i) {
        out.push_back(static_cast<char>((bits >> (8 * i)) & 0xFF));
      }
    });
  }
  bool String(const char* str, rapidjson::SizeType length, bool /*copy*/) {
    if (escapes_ && HasEncodedSurrogate(str, length)) {
      return LoneSurrogate(Path());
    }
    return Scalar([&](std::string& out) {
      AppendDelimited(kStringValueTag, absl::string_view(str, length), out);
    });
  }

  bool StartObject() {
    if (depth_ == 0) {
      Push().top = true;
      return CheckDepth();
    }
    return StartContainer(kStructValueTag, /*list=*/false);
  }
  bool Key(const char* str, rapidjson::SizeType length, bool /*copy*/) {
    if (escapes_ && HasEncodedSurrogate(str, length)) {
      frames_[depth_ - 1].key.clear();
      return LoneSurrogate("");
    }
    frames_[depth_ - 1].key.assign(str, length);
    return true;
  }
  bool EndObject(rapidjson::SizeType /*members*/) { return EndContainer(); }
  bool StartArray() {
    if (depth_ == 0) return NotAnObject();
    return StartContainer(kListValueTag, /*list=*/true);
  }
  bool EndArray(rapidjson::SizeType /*elements*/) { return EndContainer(); }

  // The JSON path of the value being read, e.g. `payload.items[2]`, cut to
  // a readable length.
  std::string Path() const {
    std::string path;
    for (std::size_t i = 0; i < depth_; ++i) {
      const Frame& frame = frames_[i];
      if (!frame.list) {
        if (!path.empty()) path += '.';
        path += frame.key;
      } else {
        // An outer array has already begun the container being read; the
        // innermost one has not yet begun the value being read.
        const bool innermost = i + 1 == depth_;
        absl::StrAppend(&path, "[", frame.count - (innermost ? 0 : 1), "]");
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
  Frame& Push() {
    if (depth_ == frames_.size()) frames_.emplace_back();
    Frame& frame = frames_[depth_++];
    frame.list = false;
    frame.top = false;
    frame.buffer = nullptr;
    frame.key.clear();
    frame.count = 0;
    frame.lengths = Lengths();
    frame.key_count = 0;
    if (!frame.many_keys.empty()) frame.many_keys.clear();
    return frame;
  }

  // Records `frame`'s current key; false when it came before.
  static bool AddKey(Frame& frame) {
    if (frame.many_keys.empty()) {
      for (std::size_t i = 0; i < frame.key_count; ++i) {
        if (frame.keys[i] == frame.key) return false;
      }
      if (frame.key_count < kLinearKeys) {
        if (frame.key_count == frame.keys.size()) {
          frame.keys.push_back(frame.key);
        } else {
          frame.keys[frame.key_count].assign(frame.key);
        }
        ++frame.key_count;
        return true;
      }
      for (std::size_t i = 0; i < frame.key_count; ++i) {
        frame.many_keys.insert(frame.keys[i]);
      }
    }
    return frame.many_keys.insert(frame.key).second;
  }

  // Begins the next value of the innermost container: writes what comes
  // before the Value (an array element's tag, a map entry's tag and key)
  // and returns where the Value goes, adding the lengths to close once it is
  // complete to `lengths`. Null, with error_ set, on a duplicate key.
  std::string* BeginValue(Lengths& lengths) {
    Frame& frame = frames_[depth_ - 1];
    if (frame.list) {
      std::string& out = *frame.buffer;
      out.push_back(kListValuesTag);
      lengths.Add(BeginLength(out));
      ++frame.count;
      return &out;
    }
    if (!AddKey(frame)) {
      const std::string path = Path();
      error_ = MakeError(
          absl::StatusCode::kInvalidArgument, kDuplicateKey,
          absl::StrCat("the JSON key \"", path, "\" appears more than once"),
          {}, {{path, "duplicate key"}});
      return nullptr;
    }
    JsonMemberTarget target{frame.buffer, true};
    if (frame.top) target = root_.Member(frame.key);
    std::string& out = *target.buffer;
    if (target.map_entry) {
      out.push_back(kStructFieldsTag);
      lengths.Add(BeginLength(out));
      AppendDelimited(kMapKeyTag, frame.key, out);
      out.push_back(kMapValueTag);
      lengths.Add(BeginLength(out));
    }
    return &out;
  }

  static void End(std::string& out, const Lengths& lengths) {
    for (int i = lengths.size - 1; i >= 0; --i) EndLength(out, lengths.at[i]);
  }

  template <typename Write>
  bool Scalar(Write write) {
    if (depth_ == 0) return NotAnObject();
    Lengths lengths;
    std::string* out = BeginValue(lengths);
    if (out == nullptr) return false;
    write(*out);
    End(*out, lengths);
    return true;
  }

  bool StartContainer(char tag, bool list) {
    Lengths lengths;
    std::string* out = BeginValue(lengths);
    if (out == nullptr) return false;
    out->push_back(tag);
    lengths.Add(BeginLength(*out));
    Frame& frame = Push();
    frame.list = list;
    frame.buffer = out;
    frame.lengths = lengths;
    return CheckDepth();
  }

  bool EndContainer() {
    Frame& frame = frames_[--depth_];
    if (!frame.top) End(*frame.buffer, frame.lengths);
    return true;
  }

  bool CheckDepth() {
    if (static_cast<int>(depth_) <= max_depth_) return true;
    frames_[depth_ - 1].key.clear();
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
  const bool escapes_;
  std::vector<Frame>& frames_;
  std::size_t depth_ = 0;
  absl::Status error_;
};

// Valid UTF-8 input is read without RapidJSON's per-character validation
// (checked once over the whole text, much faster); invalid input is read with
// it, so that the error names the field.
constexpr unsigned kFastFlags =
    rapidjson::kParseIterativeFlag | rapidjson::kParseNumbersAsStringsFlag;
constexpr unsigned kValidatingFlags =
    kFastFlags | rapidjson::kParseValidateEncodingFlag;

// The sink that writes every top-level member into one Struct encoding.
class StructSink final : public JsonObjectSink {
 public:
  explicit StructSink(std::string& out) : out_(out) {}
  JsonMemberTarget Member(absl::string_view /*key*/) override {
    return {&out_, true};
  }

 private:
  std::string& out_;
};

}  // namespace

absl::Status ParseJsonObject(absl::string_view json, int max_depth,
                             Struct& object) {
  object.Clear();
  std::string encoding;
  StructSink sink(encoding);
  RETURN_IF_ERROR(ParseJsonObject(json, max_depth, sink));
  // Each JSON level is up to three nested messages, more than protobuf's
  // default limit allows; the parse has bounded the depth already.
  google::protobuf::io::CodedInputStream input(
      reinterpret_cast<const std::uint8_t*>(encoding.data()),
      static_cast<int>(encoding.size()));
  input.SetRecursionLimit(std::numeric_limits<int>::max());
  if (!object.MergeFromCodedStream(&input)) {
    return MakeError(absl::StatusCode::kInternal, kInternalError,
                     "a parsed JSON object does not decode");
  }
  return absl::OkStatus();
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
  // The thread's reader and frames, kept for the next parse: their memory
  // is reused (trimmed after an unusually large body).
  thread_local std::vector<Frame> frames;
  thread_local rapidjson::Reader reader;
  struct Trim {
    ~Trim() {
      // No key of a smaller text is larger.
      constexpr std::size_t kKeep = 1024;
      if (size <= kKeep) return;
      for (Frame& frame : frames) {
        if (frame.key.capacity() > kKeep) std::string().swap(frame.key);
        for (std::string& key : frame.keys) {
          if (key.capacity() > kKeep) std::string().swap(key);
        }
        if (!frame.many_keys.empty()) {
          absl::flat_hash_set<std::string>().swap(frame.many_keys);
        }
      }
    }
    std::size_t size;
  } trim{json.size()};
  // Valid UTF-8 cannot hold a surrogate's bytes; only an escape can make
  // one.
  const bool escapes =
      !valid_utf8 || absl::StrContains(json, absl::string_view("\\u", 2));
  WireBuilder builder(sink, max_depth, frames, escapes);
  rapidjson::ParseResult result;
  if (valid_utf8) {
    // Read in place from a NUL-terminated copy: strings are unescaped where
    // they are instead of being copied out, and the plain runs of strings
    // and whitespace are skipped 16 bytes at a time.
    thread_local std::string text;
    // SSE2 reads whole aligned 16-byte blocks, up to 15 bytes past the NUL:
    // they must be ours.
    text.reserve(json.size() + 16);
    text.assign(json.data(), json.size());
    rapidjson::InsituStringStream stream(text.data());
    result =
        reader.Parse<kFastFlags | rapidjson::kParseInsituFlag>(stream, builder);
    if (text.capacity() > 64 * 1024) std::string().swap(text);
  } else {
    rapidjson::MemoryStream stream(json.data(), json.size());
    result = reader.Parse<kValidatingFlags>(stream, builder);
  }
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
