#include "server/http/webhook_http_adapter.h"

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "server/core/errors.h"
#include "server/core/json_text.h"

namespace paradym::webhooks {
namespace {

constexpr absl::string_view kWebhookPath = "/webhook";
constexpr absl::string_view kEndpointPrefix = "/webhooks/";

// `application/json`, with or without parameters, in any case. An absent
// Content-Type is taken as JSON too: Paradym always sends one, and curl users
// who forget it should not be punished.
bool IsJson(absl::string_view content_type) {
  if (content_type.empty()) return true;
  const absl::string_view media = absl::StripAsciiWhitespace(
      content_type.substr(0, content_type.find(';')));
  return absl::EqualsIgnoreCase(media, "application/json");
}

// Reasons whose HTTP status says more than their code's: the RFC 9110
// (RFC 6585 for 431) statuses made for them.
struct ReasonStatus {
  absl::string_view reason;
  int status;
};
constexpr ReasonStatus kStatusByReason[] = {
    {kRequestTimeout, 408},        // RFC 9110 15.5.9
    {kMethodNotAllowed, 405},      // RFC 9110 15.5.6, with an Allow header
    {kLengthRequired, 411},        // RFC 9110 15.5.12
    {kBodyTooLarge, 413},          // RFC 9110 15.5.14
    {kUnsupportedMediaType, 415},  // RFC 9110 15.5.16
    {kHeadersTooLarge, 431},       // RFC 6585 5
};

// Every canonical code's HTTP status, as google.rpc.Code documents it
// (googleapis, google/rpc/code.proto: the "HTTP Mapping" of each code),
// but for CANCELLED: code.proto says 499, nginx's "client closed request",
// which no RFC defines and no client reads (it has gone). Codes outside the
// canonical ones are 500, as UNKNOWN.
int HttpStatusForCode(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kOk:
      return 200;
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kOutOfRange:
      return 400;
    case absl::StatusCode::kUnauthenticated:
      return 401;
    case absl::StatusCode::kPermissionDenied:
      return 403;
    case absl::StatusCode::kNotFound:
      return 404;
    case absl::StatusCode::kAlreadyExists:
    case absl::StatusCode::kAborted:
      return 409;
    case absl::StatusCode::kResourceExhausted:
      return 429;
    case absl::StatusCode::kCancelled:
    case absl::StatusCode::kUnknown:
    case absl::StatusCode::kInternal:
    case absl::StatusCode::kDataLoss:
      return 500;
    case absl::StatusCode::kUnimplemented:
      return 501;
    case absl::StatusCode::kUnavailable:
      return 503;
    case absl::StatusCode::kDeadlineExceeded:
      return 504;
    default:
      return 500;
  }
}

// The HTTP status for a status of the core or of this adapter: by its
// reason where the reason has a status of its own, else by its code.
int HttpStatusFor(const absl::Status& status, absl::string_view reason) {
  for (const ReasonStatus& entry : kStatusByReason) {
    if (reason == entry.reason) return entry.status;
  }
  return HttpStatusForCode(status.code());
}

}  // namespace

WebhookHttpAdapter::WebhookHttpAdapter(WebhookIngestor& ingestor,
                                       const SubscriptionHub& hub,
                                       const EventLog& log)
    : ingestor_(ingestor), hub_(hub), log_(log) {}

HttpResponse WebhookHttpAdapter::Respond(HttpResponse response) {
  requests_.Increment({std::to_string(response.status), response.reason});
  return response;
}

HttpResponse WebhookHttpAdapter::ErrorResponse(const absl::Status& status) {
  HttpResponse response;
  response.reason = ErrorReason(status);
  response.status = HttpStatusFor(status, response.reason);
  std::string fields;
  for (const FieldViolation& violation : ErrorFieldViolations(status)) {
    absl::StrAppend(&fields, fields.empty() ? "" : ",",
                    "{\"field\":", JsonQuote(violation.field),
                    ",\"description\":", JsonQuote(violation.description), "}");
  }
  response.body = absl::StrCat(
      "{\"error\":{\"reason\":", JsonQuote(response.reason),
      ",\"message\":", JsonQuote(status.message()),
      fields.empty() ? "" : absl::StrCat(",\"fields\":[", fields, "]"), "}}\n");
  return Respond(std::move(response));
}

WebhookHttpAdapter::HeadDecision WebhookHttpAdapter::OnHead(
    const HttpRequestHead& head) {
  HeadDecision decision;
  const absl::string_view path = head.target.substr(0, head.target.find('?'));
  const bool endpoint_path =
      absl::StartsWith(path, kEndpointPrefix) &&
      path.size() > kEndpointPrefix.size() &&
      path.find('/', kEndpointPrefix.size()) == absl::string_view::npos;
  if (absl::Status status = CheckListener(head, path); !status.ok()) {
    decision.response = ErrorResponse(status);
    return decision;
  }
  if (path != kWebhookPath && !endpoint_path) {
    decision.response = AnswerOtherPath(head.method, path);
    return decision;
  }
  if (head.method != "POST") {
    decision.response =
        ErrorResponse(MakeError(absl::StatusCode::kUnimplemented,
                                kMethodNotAllowed, "webhooks are POSTed"));
    decision.response->allow = "POST";
    return decision;
  }
  if (endpoint_path) {
    decision.endpoint = std::string(path.substr(kEndpointPrefix.size()));
  }
  if (absl::Status status =
          CheckWebhookHead(head, endpoint_path, decision.endpoint);
      !status.ok()) {
    decision.response = ErrorResponse(status);
  }
  return decision;
}

absl::Status WebhookHttpAdapter::CheckListener(const HttpRequestHead& head,
                                               absl::string_view path) const {
  if (head.metrics_listener && path != "/metrics") {
    return MakeError(absl::StatusCode::kNotFound, kUnknownPath,
                     "this port serves GET /metrics only");
  }
  if (path != "/metrics" || head.metrics_listener) return absl::OkStatus();
  if (metrics_elsewhere_.load()) {
    return MakeError(absl::StatusCode::kNotFound, kUnknownPath,
                     "/metrics is served on the --metrics_address listener");
  }
  if (!head.loopback_peer) {
    return MakeError(
        absl::StatusCode::kPermissionDenied, kMetricsLoopbackOnly,
        "/metrics is served to clients on loopback only; start the server "
        "with --metrics_address to serve it on an address of its own");
  }
  return absl::OkStatus();
}

HttpResponse WebhookHttpAdapter::AnswerOtherPath(absl::string_view method,
                                                 absl::string_view path) {
  if (path != "/healthz" && path != "/readyz" && path != "/metrics") {
    return ErrorResponse(MakeError(
        absl::StatusCode::kNotFound, kUnknownPath,
        "no such path; POST webhooks to /webhook or /webhooks/{endpoint}"));
  }
  if (method != "GET") {
    HttpResponse response = ErrorResponse(
        MakeError(absl::StatusCode::kUnimplemented, kMethodNotAllowed,
                  absl::StrCat(path, " answers GET only")));
    response.allow = "GET";
    return response;
  }
  return Get(path);
}

absl::Status WebhookHttpAdapter::CheckWebhookHead(
    const HttpRequestHead& head, bool endpoint_path,
    absl::string_view endpoint) const {
  if (draining()) {
    return MakeError(absl::StatusCode::kUnavailable, kShuttingDown,
                     "the server is shutting down; send the webhook to another "
                     "instance");
  }
  if (endpoint_path) {
    if (absl::Status status = ingestor_.CheckEndpoint(endpoint); !status.ok()) {
      return status;
    }
  }
  if (!IsJson(head.content_type)) {
    return MakeError(absl::StatusCode::kInvalidArgument, kUnsupportedMediaType,
                     "the body must be JSON (Content-Type: application/json)");
  }
  if (!head.has_content_length && !head.chunked) {
    return MakeError(absl::StatusCode::kInvalidArgument, kLengthRequired,
                     "send a Content-Length or a chunked body");
  }
  const std::size_t limit = ingestor_.options().max_body_bytes;
  if (head.has_content_length && head.content_length > limit) {
    return MakeError(absl::StatusCode::kInvalidArgument, kBodyTooLarge,
                     absl::StrCat("the body has ", head.content_length,
                                  " bytes; the limit is ", limit));
  }
  return absl::OkStatus();
}

void WebhookHttpAdapter::OnBody(
    absl::string_view endpoint, absl::string_view body,
    absl::string_view signature,
    absl::AnyInvocable<void(HttpResponse) &&> done) {
  ingestor_.Ingest(
      {body, signature, endpoint},
      [this, done = std::move(done)](absl::StatusOr<EventPtr> stored) mutable {
        if (!stored.ok()) {
          std::move(done)(ErrorResponse(stored.status()));
          return;
        }
        HttpResponse response;
        // Sequence 0: durable on this replica, in the shared stream later.
        response.body =
            (*stored)->sequence() == 0
                ? "{\"sequence\":0,\"pending_replication\":true}\n"
                : absl::StrCat("{\"sequence\":", (*stored)->sequence(), "}\n");
        std::move(done)(Respond(std::move(response)));
      });
}

HttpResponse WebhookHttpAdapter::Get(absl::string_view path) {
  HttpResponse response;
  if (path == "/healthz") {
    response.body = "{\"status\":\"ok\"}\n";
    return Respond(std::move(response));
  }
  if (path == "/readyz") {
    if (draining()) {
      return ErrorResponse(
          MakeError(absl::StatusCode::kUnavailable, kShuttingDown, "draining"));
    }
    if (!ready_.load()) {
      return ErrorResponse(
          MakeError(absl::StatusCode::kUnavailable, kNotReady, "starting"));
    }
    if (absl::Status status = log_.CheckReady(); !status.ok()) {
      return ErrorResponse(status);
    }
    response.body = "{\"status\":\"ready\"}\n";
    return Respond(std::move(response));
  }
  response.content_type = "text/plain; version=0.0.4; charset=utf-8";
  response.body = RenderMetrics();
  return Respond(std::move(response));
}

std::string WebhookHttpAdapter::RenderMetrics() const {
  PrometheusText text;
  text.AddLabeledCounter(
      "paradym_webhooks_http_requests_total",
      "HTTP requests answered, by status code and error reason.",
      {"code", "reason"}, requests_);
  text.AddLabeledCounter("paradym_webhooks_events_accepted_total",
                         "Webhooks accepted into the event log, by eventType.",
                         {"event_type"}, ingestor_.accepted_by_type());
  text.AddLabeledCounter("paradym_webhooks_webhooks_refused_total",
                         "Webhooks refused (HTTP and gRPC), by reason.",
                         {"reason"}, ingestor_.refused_by_reason());
  text.AddCounter("paradym_webhooks_duplicates_total",
                  "Replayed webhooks (HTTP and gRPC) answered with the stored "
                  "original's sequence and not stored again.",
                  ingestor_.duplicates().value());
  text.AddHistogram(
      "paradym_webhooks_ingest_duration_seconds",
      "Time to verify, normalize, store and fan out an accepted webhook.",
      ingestor_.ingest_latency());
  text.AddGauge("paradym_webhooks_subscribers", "Subscribe streams open now.",
                static_cast<double>(hub_.size()));
  text.AddCounter("paradym_webhooks_subscriber_overflows_total",
                  "Subscribe streams ended because the subscriber fell too "
                  "far behind.",
                  hub_.overflows());
  const SequenceRange range = log_.Range();
  text.AddGauge("paradym_webhooks_log_events", "Events the log holds.",
                static_cast<double>(range.last + 1 - range.oldest));
  text.AddGauge("paradym_webhooks_log_last_sequence",
                "The sequence of the newest event in the log.",
                static_cast<double>(range.last));
  log_.AddMetrics(text);
  text.AddGauge("paradym_webhooks_http_connections",
                "HTTP connections open now.",
                static_cast<double>(connection_stats_.open.load()));
  text.AddCounter("paradym_webhooks_http_connections_accepted_total",
                  "HTTP connections accepted.",
                  connection_stats_.accepted.value());
  text.AddCounter("paradym_webhooks_http_connections_refused_total",
                  "HTTP connections closed at once, over "
                  "--http_max_connections.",
                  connection_stats_.refused.value());
  return text.str();
}

}  // namespace paradym::webhooks
