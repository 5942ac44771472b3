// The gRPC face of the core: paradym.webhooks.v1.WebhookService on the
// callback API.
//
// Thin by design: each RPC asks AccessControl whether its caller may make
// it, turns its request into a core call and the core's absl::Status into a
// grpc::Status (ToGrpcStatus, nowhere else). Subscribe
// runs one ServerWriteReactor per call with at most one write in flight; it
// pulls batches from its core Subscription and never holds a lock across a
// gRPC call.
//
//   WebhookServiceAdapter service(ingestor, hub, log, access);
//   grpc::ServerBuilder builder;
//   builder.RegisterService(&service);

#ifndef PARADYM_WEBHOOKS_SERVER_GRPC_WEBHOOK_SERVICE_ADAPTER_H_
#define PARADYM_WEBHOOKS_SERVER_GRPC_WEBHOOK_SERVICE_ADAPTER_H_

#include <grpcpp/support/byte_buffer.h>

#include <cstddef>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "paradym/webhooks/v1/webhook_service.grpc.pb.h"
#include "server/core/access_control.h"
#include "server/core/event_log.h"
#include "server/core/subscription_hub.h"
#include "server/core/webhook_ingestor.h"
#include "server/grpc/write_pacer.h"

namespace paradym::webhooks {

// The service's methods take and give bytes (gRPC's raw callback methods) so
// that the adapter decodes each request itself: a request gRPC could not
// decode gets INVALID_ARGUMENT with a reason, not UNIMPLEMENTED (see
// message_codec.h). The wire contract is the generated service's.
using WebhookServiceBase = ::paradym::webhooks::v1::WebhookService::
    WithRawCallbackMethod_VerifyAndParse<
        ::paradym::webhooks::v1::WebhookService::WithRawCallbackMethod_Ingest<
            ::paradym::webhooks::v1::WebhookService::
                WithRawCallbackMethod_Subscribe<
                    ::paradym::webhooks::v1::WebhookService::
                        WithRawCallbackMethod_ListEvents<
                            ::paradym::webhooks::v1::WebhookService::
                                Service>>>>;

// Whether a gRPC peer string ("ipv4:127.0.0.1:5000", "ipv6:[::1]:5000") is
// on loopback. IPv4-mapped IPv6 loopback counts; a Unix socket does not.
bool IsLoopbackPeer(absl::string_view peer);

// Thread-safe: gRPC calls its methods on its own threads at once.
class WebhookServiceAdapter final : public WebhookServiceBase {
 public:
  struct Options {
    // The most events, and about the most bytes, in one SubscribeResponse.
    std::size_t max_batch_events = 256;
    // A client that stops reading pins the batch being written in the
    // transport: kept small, as many streams may do so at once.
    std::size_t max_batch_bytes = std::size_t{256} << 10;
    // A subscriber's writes start at least this far apart; events that come
    // sooner wait and go out together. Zero: write as soon as possible.
    absl::Duration min_write_interval = absl::Milliseconds(1);
    // Every write costs far more than its bytes (a hand-off to gRPC's
    // threads, a system call, the peer's acknowledgements), so under load
    // the interval grows: the streams that have events to send start about
    // this many writes a second together (see WritePacer), each at most
    // every `max_write_interval`, which bounds how long pacing holds an
    // event. A full batch is followed by the next at once.
    double writes_per_second = 4000;
    absl::Duration max_write_interval = absl::Milliseconds(25);
  };

  // `ingestor`, `hub`, `log` and `access` must outlive the service.
  WebhookServiceAdapter(WebhookIngestor& ingestor, SubscriptionHub& hub,
                        const EventLog& log, const AccessControl& access)
      : WebhookServiceAdapter(ingestor, hub, log, access, Options()) {}
  WebhookServiceAdapter(WebhookIngestor& ingestor, SubscriptionHub& hub,
                        const EventLog& log, const AccessControl& access,
                        Options options)
      : ingestor_(ingestor),
        hub_(hub),
        log_(log),
        access_(access),
        options_(options),
        pacer_({options.min_write_interval, options.max_write_interval,
                options.writes_per_second}) {}

  // VerifyAndParseRequest in, VerifyAndParseResponse out.
  grpc::ServerUnaryReactor* VerifyAndParse(grpc::CallbackServerContext* context,
                                           const grpc::ByteBuffer* request,
                                           grpc::ByteBuffer* response) override;

  // IngestRequest in, IngestResponse out.
  grpc::ServerUnaryReactor* Ingest(grpc::CallbackServerContext* context,
                                   const grpc::ByteBuffer* request,
                                   grpc::ByteBuffer* response) override;

  // SubscribeRequest in, a stream of SubscribeResponse out.
  grpc::ServerWriteReactor<grpc::ByteBuffer>* Subscribe(
      grpc::CallbackServerContext* context,
      const grpc::ByteBuffer* request) override;

  // ListEventsRequest in, ListEventsResponse out.
  grpc::ServerUnaryReactor* ListEvents(grpc::CallbackServerContext* context,
                                       const grpc::ByteBuffer* request,
                                       grpc::ByteBuffer* response) override;

 private:
  // Who calls, if `context`'s credentials grant `scope`; else why not.
  absl::StatusOr<std::string> Authorize(grpc::CallbackServerContext& context,
                                        Scope scope) const;

  WebhookIngestor& ingestor_;
  SubscriptionHub& hub_;
  const EventLog& log_;
  const AccessControl& access_;
  const Options options_;
  WritePacer pacer_;
};

}  // namespace paradym::webhooks

#endif  // PARADYM_WEBHOOKS_SERVER_GRPC_WEBHOOK_SERVICE_ADAPTER_H_
