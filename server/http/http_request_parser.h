// The HTTP front's request parser: Beast's HTTP/1.1 parser (the same state
// machine as http::request_parser) writing the few fields the server and
// WebhookHttpAdapter look at into a ParsedHttpRequest, with no message object
// and no list of fields. A connection keeps one ParsedHttpRequest, whose
// strings keep their capacity from one request to the next, so that parsing
// allocates nothing once they have grown; like any basic_parser, a parser
// reads one message, and a new one is emplaced per request (it holds no
// memory).
//
//   ParsedHttpRequest request;                       // one per connection
//   std::optional<HttpRequestParser> parser;
//   parser.emplace(request, max_body_bytes);         // one per request
//   buffer.consume(parser->put(buffer.data(), ec));  // as bytes arrive
//   if (parser->is_done()) Handle(request.target, request.body);
//
// Thread-compatible.

#ifndef PARADYM_WEBHOOKS_SERVER_HTTP_HTTP_REQUEST_PARSER_H_
#define PARADYM_WEBHOOKS_SERVER_HTTP_HTTP_REQUEST_PARSER_H_

#include <boost/beast/http/basic_parser.hpp>
#include <boost/beast/http/verb.hpp>
#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"

namespace paradym::webhooks {

// What the parser keeps of a request, copied out of the read buffer (which
// moves on).
struct ParsedHttpRequest {
  // The first field of each name, as `request[name]` would give it.
  struct Field {
    std::string value;
    bool present = false;

    void Set(boost::beast::string_view v);
    absl::string_view view() const {
      return present ? absl::string_view(value) : absl::string_view();
    }
  };

  // Forgets the previous request; keeps the strings' capacity, unless the
  // body's is large.
  void Clear();

  boost::beast::http::verb method = boost::beast::http::verb::unknown;
  std::string method_string;
  std::string target;
  int version = 11;
  Field content_type;
  Field expect;
  Field signature;  // X-Paradym-HMAC-SHA-256
  int transfer_encodings = 0;
  bool only_chunked = true;  // every Transfer-Encoding field says "chunked"
  std::string body;
};

class HttpRequestParser final
    : public boost::beast::http::basic_parser</*isRequest=*/true> {
 public:
  // Clears `request` and parses into it; `request` must outlive the parser.
  // A Content-Length up to `max_body_bytes` is reserved for the body at
  // once.
  HttpRequestParser(ParsedHttpRequest& request, std::size_t max_body_bytes)
      : request_(request), max_body_bytes_(max_body_bytes) {
    request_.Clear();
  }

 private:
  using error_code = boost::beast::error_code;
  using string_view = boost::beast::string_view;

  void on_request_impl(boost::beast::http::verb method,
                       string_view method_string, string_view target,
                       int version, error_code& ec) override;
  void on_response_impl(int code, string_view reason, int version,
                        error_code& ec) override;
  void on_field_impl(boost::beast::http::field name, string_view name_string,
                     string_view value, error_code& ec) override;
  void on_header_impl(error_code& ec) override;
  void on_body_init_impl(const boost::optional<std::uint64_t>& content_length,
                         error_code& ec) override;
  std::size_t on_body_impl(string_view body, error_code& ec) override;
  void on_chunk_header_impl(std::uint64_t size, string_view extensions,
                            error_code& ec) override;
  std::size_t on_chunk_body_impl(std::uint64_t remain, string_view body,
                                 error_code& ec) override;
  void on_finish_impl(error_code& ec) override;

  ParsedHttpRequest& request_;
  const std::size_t max_body_bytes_;
};

}  // namespace paradym::webhooks

#endif  // PARADYM_WEBHOOKS_SERVER_HTTP_HTTP_REQUEST_PARSER_H_
