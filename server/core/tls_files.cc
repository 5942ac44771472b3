#include "server/core/tls_files.h"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <fstream>
#include <memory>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "server/core/errors.h"
#include "server/core/private_file.h"
#include "server/core/status_macros.h"

namespace paradym::webhooks {
namespace {

struct BioFree {
  void operator()(BIO* bio) const { BIO_free(bio); }
};
struct X509Free {
  void operator()(X509* x509) const { X509_free(x509); }
};
struct KeyFree {
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};

std::unique_ptr<BIO, BioFree> Bio(const std::string& pem) {
  return std::unique_ptr<BIO, BioFree>(
      BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
}

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return MakeError(absl::StatusCode::kFailedPrecondition, kInvalidConfig,
                     absl::StrCat("cannot read ", path));
  }
  std::ostringstream contents;
  contents << in.rdbuf();
  return contents.str();
}

// The first certificate in `pem`, or null.
std::unique_ptr<X509, X509Free> FirstCertificate(const std::string& pem) {
  auto bio = Bio(pem);
  return std::unique_ptr<X509, X509Free>(
      bio ? PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr) : nullptr);
}

}  // namespace

absl::StatusOr<TlsMaterial> LoadTlsMaterial(const TlsFiles& files) {
  if (files.cert_file.empty() || files.key_file.empty()) {
    return MakeError(absl::StatusCode::kInvalidArgument, kInvalidConfig,
                     "TLS needs both a certificate file and its key file");
  }
  TlsMaterial material;
  ASSIGN_OR_RETURN(material.cert_chain_pem, ReadFile(files.cert_file));
  auto certificate = FirstCertificate(material.cert_chain_pem);
  if (certificate == nullptr) {
    return MakeError(
        absl::StatusCode::kFailedPrecondition, kInvalidConfig,
        absl::StrCat(files.cert_file, " holds no PEM certificate"));
  }
  ASSIGN_OR_RETURN(material.private_key_pem, ReadPrivateFile(files.key_file));
  auto key_bio = Bio(material.private_key_pem);
  std::unique_ptr<EVP_PKEY, KeyFree> private_key(
      key_bio
          ? PEM_read_bio_PrivateKey(key_bio.get(), nullptr, nullptr, nullptr)
          : nullptr);
  if (private_key == nullptr) {
    return MakeError(
        absl::StatusCode::kFailedPrecondition, kInvalidConfig,
        absl::StrCat(files.key_file,
                     " holds no PEM private key (or it is encrypted)"));
  }
  if (X509_check_private_key(certificate.get(), private_key.get()) != 1) {
    return MakeError(
        absl::StatusCode::kFailedPrecondition, kInvalidConfig,
        absl::StrCat(files.key_file, " is not the key of the certificate in ",
                     files.cert_file));
  }
  if (!files.ca_file.empty()) {
    ASSIGN_OR_RETURN(material.ca_pem, ReadFile(files.ca_file));
    if (FirstCertificate(material.ca_pem) == nullptr) {
      return MakeError(
          absl::StatusCode::kFailedPrecondition, kInvalidConfig,
          absl::StrCat(files.ca_file, " holds no PEM certificate"));
    }
  }
  return material;
}

}  // namespace paradym::webhooks
