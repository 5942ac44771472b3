#include "client/connection.h"

#include <optional>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "client/input_files.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"

namespace paradym::webhooks::cli {
namespace {

// The channel credentials the flags ask for: TLS or plaintext.
absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> CredentialsFromFlags(
    const CommandLine& line) {
  grpc::SslCredentialsOptions tls;
  for (const auto& [flag, out] :
       {std::pair<const char*, std::string*>{"ca-file", &tls.pem_root_certs},
        {"cert-file", &tls.pem_cert_chain},
        {"key-file", &tls.pem_private_key}}) {
    const std::optional<std::string> path = line.Value(flag);
    if (!path) continue;
    std::optional<std::string> contents = ReadFile(*path);
    if (!contents) {
      return absl::InvalidArgumentError(
          absl::StrCat("cannot read --", flag, " ", *path));
    }
    *out = std::move(*contents);
  }
  if (line.Has("cert-file") != line.Has("key-file")) {
    return absl::InvalidArgumentError("--cert-file and --key-file go together");
  }
  if (line.Has("tls") || line.Has("ca-file") || line.Has("cert-file")) {
    return grpc::SslCredentials(tls);
  }
  return grpc::InsecureChannelCredentials();
}

}  // namespace

const std::vector<std::string>& Connection::Flags() {
  static const auto* flags = new std::vector<std::string>{
      "address", "tls", "ca-file", "cert-file", "key-file", "token-file"};
  return *flags;
}

absl::StatusOr<Connection> Connection::FromFlags(const CommandLine& line) {
  Connection connection;
  connection.address_ = line.Value("address").value_or("127.0.0.1:50051");
  absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> credentials =
      CredentialsFromFlags(line);
  if (!credentials.ok()) return credentials.status();
  if (auto token_file = line.Value("token-file")) {
    std::optional<std::string> token = ReadFirstLine(*token_file);
    if (!token || token->empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("cannot read a token from --token-file ", *token_file));
    }
    connection.token_ = std::move(*token);
  }
  connection.credentials_ = *std::move(credentials);
  connection.Reset();
  return connection;
}

void Connection::Reset() {
  stub_ = ::paradym::webhooks::v1::WebhookService::NewStub(
      grpc::CreateChannel(address_, credentials_));
}

void Connection::Prepare(grpc::ClientContext& context) const {
  if (!token_.empty()) {
    context.AddMetadata("authorization", absl::StrCat("Bearer ", token_));
  }
}

std::string DescribeStatus(const grpc::Status& status) {
  std::string reason;
  google::rpc::Status details;
  if (details.ParseFromString(status.error_details())) {
    for (const auto& any : details.details()) {
      google::rpc::ErrorInfo info;
      if (any.UnpackTo(&info)) reason = info.reason();
    }
  }
  // absl::StatusCode and grpc::StatusCode share their numbering and names.
  std::string text = absl::StatusCodeToString(
      static_cast<absl::StatusCode>(status.error_code()));
  if (!reason.empty()) absl::StrAppend(&text, " (", reason, ")");
  absl::StrAppend(&text, ": ", status.error_message());
  return text;
}

}  // namespace paradym::webhooks::cli
