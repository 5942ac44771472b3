#include "server/http/http_request_parser.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "server/http/webhook_http_adapter.h"

namespace paradym::webhooks {
namespace {

namespace http = boost::beast::http;

// A connection keeps its request body's buffer for the next request up to
// this size, and frees a larger one: with many connections it would add up
// to max_body_bytes each.
constexpr std::size_t kKeptBodyCapacity = 16 * 1024;

absl::string_view View(boost::beast::string_view s) {
  return {s.data(), s.size()};
}

}  // namespace

void ParsedHttpRequest::Field::Set(boost::beast::string_view v) {
  if (present) return;
  value.assign(v.data(), v.size());
  present = true;
}

void ParsedHttpRequest::Clear() {
  content_type.present = false;
  expect.present = false;
  signature.present = false;
  transfer_encodings = 0;
  only_chunked = true;
  body.clear();
  if (body.capacity() > kKeptBodyCapacity) std::string().swap(body);
}

void HttpRequestParser::on_request_impl(http::verb method,
                                        string_view method_string,
                                        string_view target, int version,
                                        error_code&) {
  request_.method = method;
  request_.method_string.assign(method_string.data(), method_string.size());
  request_.target.assign(target.data(), target.size());
  request_.version = version;
}

void HttpRequestParser::on_response_impl(int, string_view, int,
                                         error_code& ec) {
  ec = http::error::bad_version;  // never called for a request parser
}

void HttpRequestParser::on_field_impl(http::field name, string_view name_string,
                                      string_view value, error_code&) {
  switch (name) {
    case http::field::content_type:
      return request_.content_type.Set(value);
    case http::field::expect:
      return request_.expect.Set(value);
    case http::field::transfer_encoding:
      ++request_.transfer_encodings;
      request_.only_chunked =
          request_.only_chunked &&
          absl::EqualsIgnoreCase(absl::StripAsciiWhitespace(View(value)),
                                 "chunked");
      return;
    case http::field::unknown:
      if (absl::EqualsIgnoreCase(View(name_string), kSignatureHeader)) {
        request_.signature.Set(value);
      }
      return;
    default:
      return;
  }
}

void HttpRequestParser::on_header_impl(error_code&) {}

void HttpRequestParser::on_body_init_impl(
    const boost::optional<std::uint64_t>& content_length, error_code&) {
  if (content_length) {
    request_.body.reserve(static_cast<std::size_t>(
        std::min<std::uint64_t>(*content_length, max_body_bytes_)));
  }
}

std::size_t HttpRequestParser::on_body_impl(string_view body, error_code&) {
  request_.body.append(body.data(), body.size());
  return body.size();
}

void HttpRequestParser::on_chunk_header_impl(std::uint64_t, string_view,
                                             error_code&) {}

std::size_t HttpRequestParser::on_chunk_body_impl(std::uint64_t,
                                                  string_view body,
                                                  error_code&) {
  request_.body.append(body.data(), body.size());
  return body.size();
}

void HttpRequestParser::on_finish_impl(error_code&) {}

}  // namespace paradym::webhooks
