// The exporter the config's exporter.type names: OTLP/HTTP (agent/export), console, file or none
// (the sinks here). Each is an Exporter itself (agent/export/exporter.hpp); nothing wraps it.
#pragma once

#include <boost/asio/io_context.hpp>

#include <memory>
#include <string>

#include "agent/base/status.hpp"
#include "agent/export/exporter.hpp"

namespace spanring::agent {

struct ExporterConfig;  // agent/config/config.hpp

// Makes the configured exporter into `out`; an invalid OTLP config or a file that cannot be
// opened is a Status naming it, and `out` stays empty. `on_result` gets every accepted batch's
// result.
Status make_exporter(boost::asio::io_context& io, const ExporterConfig& config, ResultCallback on_result,
                     std::unique_ptr<Exporter>& out);

}  // namespace spanring::agent
