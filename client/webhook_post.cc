#include "client/webhook_post.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace paradym::webhooks::cli {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;

}  // namespace

absl::StatusOr<WebhookUrl> ParseWebhookUrl(absl::string_view url) {
  if (absl::StartsWith(url, "https://")) {
    return absl::InvalidArgumentError(
        "https:// is not supported yet: send to the service's own http:// "
        "address, or through a TLS terminator that forwards to it");
  }
  if (!absl::ConsumePrefix(&url, "http://")) {
    return absl::InvalidArgumentError(
        absl::StrCat("--url must be http://HOST[:PORT]/PATH, not ", url));
  }
  WebhookUrl parsed;
  const std::size_t slash = url.find('/');
  absl::string_view authority = url.substr(0, slash);
  parsed.target =
      slash == absl::string_view::npos ? "/" : std::string(url.substr(slash));
  std::size_t colon = authority.rfind(':');
  if (absl::StartsWith(authority, "[")) {  // [::1]:8080
    const std::size_t close = authority.find(']');
    if (close == absl::string_view::npos) {
      return absl::InvalidArgumentError("--url has an unclosed [IPv6] host");
    }
    parsed.host = std::string(authority.substr(1, close - 1));
    colon = authority.size() > close + 1 && authority[close + 1] == ':'
                ? close + 1
                : absl::string_view::npos;
  } else {
    parsed.host = std::string(authority.substr(0, colon));
  }
  parsed.port = colon == absl::string_view::npos
                    ? "80"
                    : std::string(authority.substr(colon + 1));
  int port = 0;
  if (parsed.host.empty() || !absl::SimpleAtoi(parsed.port, &port) ||
      port <= 0 || port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("--url has no valid host and port: ", authority));
  }
  return parsed;
}

absl::StatusOr<PostAnswer> PostWebhook(const WebhookUrl& url,
                                       absl::string_view body,
                                       absl::string_view signature,
                                       absl::Duration timeout) {
  net::io_context io;
  beast::tcp_stream stream(io);
  stream.expires_after(absl::ToChronoNanoseconds(timeout));
  beast::error_code error;
  net::ip::tcp::resolver resolver(io);
  const auto endpoints = resolver.resolve(url.host, url.port, error);
  if (!error) stream.connect(endpoints, error);
  if (error) {
    return absl::UnavailableError(absl::StrCat(
        "cannot connect to ", url.host, ":", url.port, ": ", error.message()));
  }
  http::request<http::string_body> request(http::verb::post, url.target, 11);
  request.set(http::field::host, url.host);
  request.set(http::field::user_agent, "paradym-webhooks-cli");
  request.set(http::field::content_type, "application/json");
  request.set("X-Paradym-HMAC-SHA-256",
              beast::string_view(signature.data(), signature.size()));
  request.body().assign(body.data(), body.size());
  request.prepare_payload();
  http::write(stream, request, error);
  beast::flat_buffer buffer;
  http::response<http::string_body> response;
  if (!error) http::read(stream, buffer, response, error);
  if (error) {
    return absl::UnavailableError(absl::StrCat(
        "no answer from ", url.host, ":", url.port, ": ", error.message()));
  }
  stream.socket().shutdown(net::ip::tcp::socket::shutdown_both, error);
  return PostAnswer{static_cast<int>(response.result_int()),
                    std::move(response.body())};
}

}  // namespace paradym::webhooks::cli
