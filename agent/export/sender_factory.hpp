// The one place that turns the exporter's config into the sender of one attempt, by protocol:
// OTLP/HTTP protobuf or JSON (http_sender), OTLP/gRPC (grpc_sender), each plain or TLS. The
// layers above (retry_sender, the exporter's queue) take any Sender and never look at the
// protocol. Call it once per sender wanted: several senders may run side by side, one request
// each.
#pragma once

#include <boost/asio/any_io_executor.hpp>

#include <memory>

#include "agent/base/status.hpp"
#include "agent/export/export_config.hpp"
#include "agent/export/sender.hpp"

namespace spanring::agent {

// `config` must be valid (validate() empty). TLS files are read here — at start and on every
// reload, which is how rotated certificates are picked up — and a file OpenSSL or gRPC cannot
// use is an error naming its key and the file; `out` is then empty.
Status make_sender(boost::asio::any_io_executor executor, const HttpExportConfig& config,
                   std::shared_ptr<Sender>& out);

}  // namespace spanring::agent
