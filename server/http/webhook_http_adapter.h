// The HTTP face of the core, independent of any HTTP library.
//
// The HTTP server hands this adapter what it has read, and sends what the
// adapter answers. Routes:
//   POST /webhook              every configured secret is tried
//   POST /webhooks/{endpoint}  only that endpoint's secrets
//   GET  /healthz              alive
//   GET  /readyz               ready to accept webhooks (503 starting/draining)
//   GET  /metrics              Prometheus text format (loopback only, or on
//                              a listener of its own)
// A webhook is judged first on its head alone (method, endpoint, content
// type, length), so that a request that will be refused is refused before
// its body is read; then its body goes to WebhookIngestor::Ingest, the same
// core call the gRPC Ingest RPC makes. Every error becomes an HTTP status
// and a JSON body {"error": {"reason", "message"}} in one place,
// ErrorResponse().
//
//   WebhookHttpAdapter adapter(ingestor, hub, log);
//   HeadDecision decision = adapter.OnHead(head);
//   if (decision.response) send(*decision.response);
//   else adapter.OnBody(decision.endpoint, body, signature, send);

#ifndef PARADYM_WEBHOOKS_SERVER_HTTP_WEBHOOK_HTTP_ADAPTER_H_
#define PARADYM_WEBHOOKS_SERVER_HTTP_WEBHOOK_HTTP_ADAPTER_H_

#include <atomic>
#include <cstdint>
#include <optional>
#include <string>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "server/core/event_log.h"
#include "server/core/metrics.h"
#include "server/core/subscription_hub.h"
#include "server/core/webhook_ingestor.h"

namespace paradym::webhooks {

// Reasons only the HTTP edge produces (the core's are in errors.h).
inline constexpr absl::string_view kUnknownPath = "UNKNOWN_PATH";
inline constexpr absl::string_view kMethodNotAllowed = "METHOD_NOT_ALLOWED";
inline constexpr absl::string_view kLengthRequired = "LENGTH_REQUIRED";
inline constexpr absl::string_view kUnsupportedMediaType =
    "UNSUPPORTED_MEDIA_TYPE";
inline constexpr absl::string_view kRequestTimeout = "REQUEST_TIMEOUT";
inline constexpr absl::string_view kHeadersTooLarge = "HEADERS_TOO_LARGE";
inline constexpr absl::string_view kMalformedHttp = "MALFORMED_HTTP";
inline constexpr absl::string_view kNotReady = "NOT_READY";
inline constexpr absl::string_view kMetricsLoopbackOnly =
    "METRICS_LOOPBACK_ONLY";

// The signature header Paradym sends (HTTP header names are case-insensitive).
inline constexpr absl::string_view kSignatureHeader = "X-Paradym-HMAC-SHA-256";

// What the server read of a request before its body.
struct HttpRequestHead {
  absl::string_view method;        // "POST"
  absl::string_view target;        // "/webhooks/shop?x=1"
  absl::string_view content_type;  // "" when absent
  bool has_content_length = false;
  std::uint64_t content_length = 0;
  bool chunked = false;
  bool loopback_peer = false;     // the client's address is a loopback one
  bool metrics_listener = false;  // read on the --metrics_address listener
};

struct HttpResponse {
  int status = 200;
  std::string reason;  // the error reason, "" on success; for metrics
  absl::string_view content_type = "application/json";  // a literal
  std::string allow;  // the Allow header of a 405
  std::string body;
};

// Connection-level counts the server keeps, rendered with the metrics.
struct HttpConnectionStats {
  std::atomic<std::int64_t> open{0};
  Counter accepted;
  Counter refused;  // over --http_max_connections
};

// Thread-safe: the HTTP server's threads call it at once; its flags and
// counters are atomic, the core it calls is thread-safe.
class WebhookHttpAdapter {
 public:
  // All must outlive the adapter.
  WebhookHttpAdapter(WebhookIngestor& ingestor, const SubscriptionHub& hub,
                     const EventLog& log);

  struct HeadDecision {
    // Set: send this and do not read the body. Unset: read the body, then
    // call OnBody with `endpoint`.
    std::optional<HttpResponse> response;
    std::string endpoint;
  };
  HeadDecision OnHead(const HttpRequestHead& head);

  // Ingests a webhook body; `done` gets the response, maybe before OnBody
  // returns. `body` and `signature` are only read before OnBody returns.
  void OnBody(absl::string_view endpoint, absl::string_view body,
              absl::string_view signature,
              absl::AnyInvocable<void(HttpResponse) &&> done);

  // The one conversion from a status to an HTTP response; counts it.
  HttpResponse ErrorResponse(const absl::Status& status);

  // /metrics is served on a listener of its own (--metrics_address); the
  // webhook port then answers it 404. Otherwise the webhook port serves it
  // to clients on loopback only (403 METRICS_LOOPBACK_ONLY to others).
  void ServeMetricsElsewhere() { metrics_elsewhere_.store(true); }

  // /readyz answers 200 only between SetReady(true) and BeginDrain().
  void SetReady(bool ready) { ready_.store(ready); }
  // From now on webhooks get 503 (SHUTTING_DOWN) and /readyz 503.
  void BeginDrain() { draining_.store(true); }
  bool draining() const { return draining_.load(); }

  // Bodies above this are refused (413); servers enforce it while reading.
  std::size_t max_body_bytes() const {
    return ingestor_.options().max_body_bytes;
  }

  HttpConnectionStats& connection_stats() { return connection_stats_; }

  // The /metrics page.
  std::string RenderMetrics() const;

 private:
  // OK unless the listener `head` came on does not serve `path` to its
  // client (/metrics: on its own listener, or to loopback only).
  absl::Status CheckListener(const HttpRequestHead& head,
                             absl::string_view path) const;
  // The answer for a path other than a webhook's: GET /healthz, /readyz or
  // /metrics, else 404 or 405.
  HttpResponse AnswerOtherPath(absl::string_view method,
                               absl::string_view path);
  // OK when a POSTed webhook with `head` should be read (to `endpoint` when
  // `endpoint_path`); else why not, judged on the head alone.
  absl::Status CheckWebhookHead(const HttpRequestHead& head, bool endpoint_path,
                                absl::string_view endpoint) const;
  HttpResponse Respond(HttpResponse response);
  HttpResponse Get(absl::string_view path);

  WebhookIngestor& ingestor_;
  const SubscriptionHub& hub_;
  const EventLog& log_;
  std::atomic<bool> ready_{false};
  std::atomic<bool> draining_{false};
  std::atomic<bool> metrics_elsewhere_{false};
  LabeledCounter requests_{256};  // by code and reason
  HttpConnectionStats connection_stats_;
};

}  // namespace paradym::webhooks

#endif  // PARADYM_WEBHOOKS_SERVER_HTTP_WEBHOOK_HTTP_ADAPTER_H_
