#include "server/http/http_request_parser.h"

#include <boost/asio/buffer.hpp>
#include <boost/beast/http/error.hpp>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "gtest/gtest.h"

namespace paradym::webhooks {
namespace {

namespace http = ::boost::beast::http;

// Parses `text`, one whole request, into `request` as a connection does
// (eagerly, the body with the header); the error, if any.
boost::beast::error_code Parse(absl::string_view text,
                               ParsedHttpRequest& request,
                               std::size_t max_body_bytes = 1 << 20) {
  HttpRequestParser parser(request, max_body_bytes);
  parser.eager(true);
  boost::asio::const_buffer rest(text.data(), text.size());
  boost::beast::error_code ec;
  // Each put consumes at least one byte or ends the message.
  for (std::size_t step = 0; step <= text.size() && !parser.is_done(); ++step) {
    rest += parser.put(rest, ec);
    if (ec) return ec;
  }
  if (!parser.is_done()) return http::error::need_more;
  return ec;
}

TEST(HttpRequestParser, KeepsTheLineTheFieldsItKnowsAndTheBody) {
  ParsedHttpRequest request;
  ASSERT_FALSE(
      Parse("POST /webhooks/shop?x=1 HTTP/1.1\r\n"
            "Host: example\r\n"
            "Content-Type: application/json\r\n"
            "x-paradym-hmac-sha-256: ab12\r\n"
            "Expect: 100-continue\r\n"
            "Content-Length: 7\r\n"
            "\r\n"
            "{\"a\":1}",
            request));
  EXPECT_EQ(request.method, http::verb::post);
  EXPECT_EQ(request.method_string, "POST");
  EXPECT_EQ(request.target, "/webhooks/shop?x=1");
  EXPECT_EQ(request.version, 11);
  EXPECT_EQ(request.content_type.view(), "application/json");
  EXPECT_EQ(request.signature.view(), "ab12");  // names in any case
  EXPECT_EQ(request.expect.view(), "100-continue");
  EXPECT_EQ(request.transfer_encodings, 0);
  EXPECT_EQ(request.body, "{\"a\":1}");
}

TEST(HttpRequestParser, TheFirstFieldOfANameCounts) {
  ParsedHttpRequest request;
  ASSERT_FALSE(
      Parse("POST /webhook HTTP/1.1\r\n"
            "X-Paradym-HMAC-SHA-256: first\r\n"
            "X-Paradym-HMAC-SHA-256: second\r\n"
            "Content-Length: 0\r\n\r\n",
            request));
  EXPECT_EQ(request.signature.view(), "first");
  EXPECT_FALSE(request.content_type.present);
}

TEST(HttpRequestParser, JoinsChunksAndCountsTransferEncodings) {
  ParsedHttpRequest request;
  ASSERT_FALSE(
      Parse("POST /webhook HTTP/1.1\r\n"
            "Transfer-Encoding: chunked\r\n\r\n"
            "3\r\n{\"a\r\n4\r\n\":1}\r\n0\r\n\r\n",
            request));
  EXPECT_EQ(request.body, "{\"a\":1}");
  EXPECT_EQ(request.transfer_encodings, 1);
  EXPECT_TRUE(request.only_chunked);

  ParsedHttpRequest layered;
  // Beast itself takes `gzip, chunked` as chunked; the server refuses it.
  ASSERT_FALSE(
      Parse("POST /webhook HTTP/1.1\r\n"
            "Transfer-Encoding: gzip, chunked\r\n\r\n"
            "0\r\n\r\n",
            layered));
  EXPECT_EQ(layered.transfer_encodings, 1);
  EXPECT_FALSE(layered.only_chunked);
}

TEST(HttpRequestParser, ANewParserForgetsThePreviousRequest) {
  ParsedHttpRequest request;
  ASSERT_FALSE(
      Parse("POST /webhook HTTP/1.1\r\n"
            "Content-Type: application/json\r\n"
            "X-Paradym-HMAC-SHA-256: ab12\r\n"
            "Content-Length: 2\r\n\r\n{}",
            request));
  ASSERT_FALSE(Parse("GET /healthz HTTP/1.0\r\n\r\n", request));
  EXPECT_EQ(request.method, http::verb::get);
  EXPECT_EQ(request.target, "/healthz");
  EXPECT_EQ(request.version, 10);
  EXPECT_FALSE(request.content_type.present);
  EXPECT_FALSE(request.signature.present);
  EXPECT_EQ(request.body, "");
}

TEST(HttpRequestParser, KeepsASmallBodysBufferButNotALargeOne) {
  ParsedHttpRequest request;
  const std::string small(1000, 'a');
  ASSERT_FALSE(Parse(absl::StrCat("POST /webhook HTTP/1.1\r\nContent-Length: ",
                                  small.size(), "\r\n\r\n", small),
                     request));
  const std::size_t small_capacity = request.body.capacity();
  request.Clear();
  EXPECT_EQ(request.body.capacity(), small_capacity);

  const std::string large(100 * 1024, 'a');
  ASSERT_FALSE(Parse(absl::StrCat("POST /webhook HTTP/1.1\r\nContent-Length: ",
                                  large.size(), "\r\n\r\n", large),
                     request));
  EXPECT_EQ(request.body, large);
  request.Clear();
  EXPECT_LT(request.body.capacity(), large.size());
}

TEST(HttpRequestParser, RefusesWhatIsNotHttp) {
  ParsedHttpRequest request;
  EXPECT_EQ(Parse("HTTP/1.1 200 OK\r\n\r\n", request), http::error::bad_method);
}

}  // namespace
}  // namespace paradym::webhooks
