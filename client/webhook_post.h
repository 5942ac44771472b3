// POSTs a signed webhook the way Paradym does, for `paradym-webhooks send`.
//
//   absl::StatusOr<WebhookUrl> url =
//   ParseWebhookUrl("http://127.0.0.1:8080/webhook");
//   absl::StatusOr<PostAnswer> answer = PostWebhook(*url, body, signature,
//                                                   absl::Seconds(10));

#ifndef PARADYM_WEBHOOKS_CLIENT_WEBHOOK_POST_H_
#define PARADYM_WEBHOOKS_CLIENT_WEBHOOK_POST_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace paradym::webhooks::cli {

struct WebhookUrl {
  std::string host;
  std::string port;
  std::string target;  // the path and query, "/webhook"
};

// Accepts http://HOST[:PORT][/PATH] (HOST may be [IPv6]). INVALID_ARGUMENT
// for anything else; https:// is refused with a pointer to a TLS terminator
// until the server speaks TLS itself.
absl::StatusOr<WebhookUrl> ParseWebhookUrl(absl::string_view url);

struct PostAnswer {
  int status = 0;
  std::string body;
};

// One POST on a fresh connection with Paradym's headers. UNAVAILABLE when
// the server cannot be reached or answers nothing within `timeout`.
absl::StatusOr<PostAnswer> PostWebhook(const WebhookUrl& url,
                                       absl::string_view body,
                                       absl::string_view signature,
                                       absl::Duration timeout);

}  // namespace paradym::webhooks::cli

#endif  // PARADYM_WEBHOOKS_CLIENT_WEBHOOK_POST_H_
