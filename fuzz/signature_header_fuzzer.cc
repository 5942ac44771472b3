// The X-Paradym-HMAC-SHA-256 header parser, DecodeSignature, and
// SignatureVerifier::Verify with the input as the header and as the body.
//
// Properties: never a crash; a header is accepted exactly when it is 64 hex
// digits with ASCII whitespace around, and decodes to those digits; errors
// are UNAUTHENTICATED SIGNATURE_MISSING / SIGNATURE_MALFORMED /
// SIGNATURE_MISMATCH; a body signed with a configured secret verifies.

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/string_view.h"
#include "fuzz/fuzz_check.h"
#include "server/core/errors.h"
#include "server/core/signature_verifier.h"

namespace {

namespace pw = ::paradym::webhooks;

bool IsHex(absl::string_view text) {
  for (char c : text) {
    if (!absl::ascii_isxdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

void CheckRefused(const absl::Status& status) {
  FUZZ_CHECK(status.code() == absl::StatusCode::kUnauthenticated) << status;
  const std::string reason = pw::ErrorReason(status);
  FUZZ_CHECK(reason == pw::kSignatureMissing ||
             reason == pw::kSignatureMalformed ||
             reason == pw::kSignatureMismatch)
      << reason;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size) {
  const absl::string_view input(reinterpret_cast<const char*>(data), size);
  static const pw::SignatureVerifier* const verifier =
      new pw::SignatureVerifier(std::vector<pw::EndpointSecrets>{
          {"default", {"fuzz-secret", "fuzz-secret-2"}}, {"shop", {"shop"}}});

  const absl::string_view digits = absl::StripAsciiWhitespace(input);
  const absl::StatusOr<pw::Digest> digest = pw::DecodeSignature(input);
  const bool well_formed =
      digits.size() == 2 * pw::kDigestBytes && IsHex(digits);
  FUZZ_CHECK(digest.ok() == well_formed) << digest.status();
  if (digest.ok()) {
    const std::string hex = absl::BytesToHexString(absl::string_view(
        reinterpret_cast<const char*>(digest->data()), digest->size()));
    FUZZ_CHECK(hex == absl::AsciiStrToLower(digits));
  } else {
    CheckRefused(digest.status());
  }

  // The input as the header of a fixed body: only a digest of a secret
  // could match, and these inputs are not one.
  const absl::StatusOr<absl::string_view> as_header =
      verifier->Verify("{}", input, "");
  FUZZ_CHECK(!as_header.ok()) << "matched " << *as_header;
  CheckRefused(as_header.status());

  // The input as a body, signed by each side.
  const absl::StatusOr<absl::string_view> signed_body =
      verifier->Verify(input, pw::SignBody("fuzz-secret-2", input), "default");
  FUZZ_CHECK(signed_body.ok() && *signed_body == "default")
      << signed_body.status();
  const absl::StatusOr<absl::string_view> other_endpoint =
      verifier->Verify(input, pw::SignBody("shop", input), "default");
  FUZZ_CHECK(!other_endpoint.ok());
  FUZZ_CHECK(pw::ErrorReason(other_endpoint.status()) == pw::kSignatureMismatch)
      << other_endpoint.status();
  return 0;
}
