// Conversions between absl::Time and google.protobuf.Timestamp.
//
//   google::protobuf::Timestamp ts;
//   SetTimestamp(absl::Now(), ts);
//   absl::Time time = ToTime(ts);

#ifndef PARADYM_WEBHOOKS_SERVER_CORE_PROTO_TIME_H_
#define PARADYM_WEBHOOKS_SERVER_CORE_PROTO_TIME_H_

#include <cstdint>

#include "absl/time/time.h"
#include "google/protobuf/timestamp.pb.h"

namespace paradym::webhooks {

// Sets `out` to `time`. The caller keeps `time` within years 1 to 9999, the
// range a Timestamp can hold.
inline void SetTimestamp(absl::Time time, google::protobuf::Timestamp& out) {
  const absl::Duration since_epoch = time - absl::UnixEpoch();
  const std::int64_t seconds =
      absl::ToInt64Seconds(absl::Floor(since_epoch, absl::Seconds(1)));
  out.set_seconds(seconds);
  out.set_nanos(static_cast<std::int32_t>(
      absl::ToInt64Nanoseconds(since_epoch - absl::Seconds(seconds))));
}

// The time `timestamp` holds.
inline absl::Time ToTime(const google::protobuf::Timestamp& timestamp) {
  return absl::FromUnixSeconds(timestamp.seconds()) +
         absl::Nanoseconds(timestamp.nanos());
}

}  // namespace paradym::webhooks

#endif  // PARADYM_WEBHOOKS_SERVER_CORE_PROTO_TIME_H_
