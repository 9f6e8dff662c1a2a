// TLS material of the OTLP exporter (exporter.otlp.tls): the OpenSSL client context of the HTTPS
// sender, and the PEM text the gRPC sender hands to grpc::SslCredentials. Both are built from
// the files when the exporter is built — at start and on every reload (SIGHUP) — so a rotated
// certificate is picked up then; connections already open keep the old one until they close.
#pragma once

#include <boost/asio/ssl/context.hpp>

#include <memory>
#include <string>

#include "agent/base/status.hpp"
#include "agent/export/export_config.hpp"

namespace spanring::agent {

// A client context: TLS 1.2 or later; the server verified against tls.ca_file, or the system
// trust store when it is empty, unless insecure_skip_verify; the client certificate and key of
// mutual TLS when set. An unreadable or invalid file is an error naming its key, the file and
// OpenSSL's reason. The host name is checked per connection (http_sender.cpp), against
// tls.server_name or the endpoint's host.
Status make_tls_context(const TlsConfig& tls, std::shared_ptr<boost::asio::ssl::context>& out);

// The contents of one PEM file, or an error naming `key` and the file.
Status read_pem(const std::string& key, const std::string& path, std::string& out);

// OpenSSL's reason for the last TLS failure of a connection: the certificate verification
// result when that is what failed ("certificate has expired", "hostname mismatch"), else the
// error code's text.
std::string tls_failure_reason(const boost::system::error_code& ec, long verify_result);

}  // namespace spanring::agent
