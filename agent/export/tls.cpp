#include "agent/export/tls.hpp"

#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <fstream>
#include <sstream>

namespace spanring::agent {

namespace ssl = boost::asio::ssl;

namespace {

std::string quoted(const std::string& s) { return "\"" + s + "\""; }

Status file_error(const char* key, const std::string& path, const boost::system::error_code& ec) {
  return Status::invalid(std::string("exporter.otlp.tls.") + key + ": cannot load " + quoted(path) + ": " +
                         ec.message());
}

}  // namespace

Status read_pem(const std::string& key, const std::string& path, std::string& out) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  if (in) text << in.rdbuf();
  if (!in || in.bad()) return Status::invalid(key + ": cannot read " + quoted(path));
  out = std::move(text).str();
  if (out.find("-----BEGIN ") == std::string::npos) {
    return Status::invalid(key + ": " + quoted(path) + " holds no PEM block");
  }
  return Status();
}

Status make_tls_context(const TlsConfig& tls, std::shared_ptr<ssl::context>& out) {
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_client);
  SSL_CTX_set_min_proto_version(ctx->native_handle(), TLS1_2_VERSION);
  boost::system::error_code ec;
  if (tls.ca_file.empty()) {
    ctx->set_default_verify_paths(ec);
    if (ec) return Status::invalid("exporter.otlp.tls: cannot load the system trust store: " + ec.message());
  } else {
    ctx->load_verify_file(tls.ca_file, ec);
    if (ec) return file_error("ca_file", tls.ca_file, ec);
  }
  if (!tls.cert_file.empty()) {
    ctx->use_certificate_chain_file(tls.cert_file, ec);
    if (ec) return file_error("cert_file", tls.cert_file, ec);
  }
  if (!tls.key_file.empty()) {
    ctx->use_private_key_file(tls.key_file, ssl::context::pem, ec);
    // OpenSSL checks here that the key belongs to the certificate ("key values mismatch").
    if (ec) return file_error("key_file", tls.key_file, ec);
  }
  ctx->set_verify_mode(tls.insecure_skip_verify ? ssl::verify_none : ssl::verify_peer);
  out = std::move(ctx);
  return Status();
}

std::string tls_failure_reason(const boost::system::error_code& ec, long verify_result) {
  if (verify_result != X509_V_OK) {
    return std::string("certificate verify failed: ") + X509_verify_cert_error_string(verify_result);
  }
  return ec.message();
}

}  // namespace spanring::agent
