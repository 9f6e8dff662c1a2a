#include "agent/export/sender_factory.hpp"

#include <openssl/x509.h>

#include <fstream>
#include <utility>

#include "agent/export/grpc_sender.hpp"
#include "agent/export/http_sender.hpp"
#include "agent/export/tls.hpp"

namespace spanring::agent {

namespace {

// What the system trust store is to OpenSSL (Debian: /usr/lib/ssl/cert.pem ->
// /etc/ssl/certs/ca-certificates.crt), given to gRPC too, whose own default is a bundle of its own.
std::string system_roots() {
  const char* file = X509_get_default_cert_file();
  std::ifstream in(file, std::ios::binary);
  return in ? std::string(std::istreambuf_iterator<char>(in), {}) : std::string();
}

}  // namespace

Status make_sender(boost::asio::any_io_executor executor, const HttpExportConfig& config,
                   std::shared_ptr<Sender>& out) {
  out.reset();
  auto url = resolved_endpoint(config);
  if (!url) return Status::invalid("exporter.otlp.endpoint: invalid URL \"" + config.endpoint + "\"");
  if (config.protocol == Protocol::kGrpc) {
    GrpcSenderOptions o;
    o.url = std::move(*url);
    o.timeout = config.timeout;
    o.compression = config.compression;
    o.headers = config.headers;
    o.user_agent = config.user_agent;
    o.server_name = config.tls.server_name;
    if (o.url.tls) {
      const TlsConfig& tls = config.tls;
      Status st;
      if (!tls.ca_file.empty()) {
        st = read_pem("exporter.otlp.tls.ca_file", tls.ca_file, o.root_certs);
      } else {
        o.root_certs = system_roots();
      }
      if (st.ok() && !tls.cert_file.empty()) st = read_pem("exporter.otlp.tls.cert_file", tls.cert_file, o.client_cert);
      if (st.ok() && !tls.key_file.empty()) st = read_pem("exporter.otlp.tls.key_file", tls.key_file, o.client_key);
      if (!st.ok()) return st;
    }
    out = std::make_shared<GrpcSender>(executor, std::move(o));
    return Status();
  }
  HttpSenderOptions o;
  o.url = std::move(*url);
  o.timeout = config.timeout;
  o.json = config.protocol == Protocol::kHttpJson;
  o.compression = config.compression;
  o.headers = config.headers;
  o.user_agent = config.user_agent;
  o.server_name = config.tls.server_name;
  o.verify = !config.tls.insecure_skip_verify;
  if (o.url.tls) {
    if (Status st = make_tls_context(config.tls, o.tls_context); !st.ok()) return st;
  }
  out = std::make_shared<HttpSender>(executor, std::move(o));
  return Status();
}

}  // namespace spanring::agent
