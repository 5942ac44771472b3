// Request decoding and response encoding for WebhookService's raw methods.
//
// gRPC's own decoding answers a request it cannot parse (bytes that are not
// the message, or a `string` field that is not UTF-8) with UNIMPLEMENTED and
// no message, as if the method did not exist, and protobuf logs a plain-text
// line for each. The service therefore takes the request bytes and decodes
// them here, so that a bad request gets INVALID_ARGUMENT with a reason a
// client can act on: MALFORMED_REQUEST, or INVALID_UTF8 naming the field.
//
//   v1::IngestRequest request;
//   absl::Status status = DecodeMessage(bytes, request);
//   ...
//   EncodeMessage(response, *response_bytes);

#ifndef PARADYM_WEBHOOKS_SERVER_GRPC_MESSAGE_CODEC_H_
#define PARADYM_WEBHOOKS_SERVER_GRPC_MESSAGE_CODEC_H_

#include <grpcpp/support/byte_buffer.h>

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/message.h"
#include "server/core/stored_event.h"

namespace paradym::webhooks {

// Parses `bytes` into `message` (cleared first). INVALID_ARGUMENT:
// MALFORMED_REQUEST when the bytes are not an encoding of the message;
// INVALID_UTF8, with the field in a BadRequest, when a `string` field is not
// UTF-8. Checks before parsing, so protobuf never logs about the request.
absl::Status DecodeMessage(absl::string_view bytes,
                           google::protobuf::Message& message);
absl::Status DecodeMessage(const grpc::ByteBuffer& bytes,
                           google::protobuf::Message& message);

// Serializes `message` into `out`, as gRPC would for a typed method.
void EncodeMessage(const google::protobuf::Message& message,
                   grpc::ByteBuffer& out);

// Hands `bytes`, a message's encoding, to gRPC as `out` without a copy.
void TakeBytes(std::string bytes, grpc::ByteBuffer& out);

// Writes a message whose field 1 is an Event (VerifyAndParseResponse,
// IngestResponse) around the Event's encoding: `event_encoding`, then
// `more_fields` (encoded fields of the response after the event).
void EncodeEventResponse(absl::string_view event_encoding,
                         grpc::ByteBuffer& out,
                         absl::string_view more_fields = {});

// Writes a message whose field 1 is `repeated Event` (ListEventsResponse):
// `events` as the log keeps them, encoded once, straight into the bytes gRPC
// sends, then `more_fields`.
void EncodeEventsResponse(const std::vector<EventPtr>& events,
                          grpc::ByteBuffer& out, absl::string_view more_fields);

}  // namespace paradym::webhooks

#endif  // PARADYM_WEBHOOKS_SERVER_GRPC_MESSAGE_CODEC_H_
