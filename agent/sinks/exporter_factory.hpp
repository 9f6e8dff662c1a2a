// The exporter the config's exporter.type names: OTLP/HTTP (agent/export), console, file or none
// (the sinks here). Each is an Exporter itself (agent/export/exporter.hpp); nothing wraps it.
#pragma once

#include <boost/asio/io_context.hpp>

#include <memory>
#include <string>

#include "agent/export/exporter.hpp"

namespace spanring::agent {

struct ExporterConfig;  // agent/config/config.hpp

// Returns nullptr and sets `error` when the exporter cannot be made (an invalid OTLP config, a
// file that cannot be opened). `on_result` gets every accepted batch's result.
std::unique_ptr<Exporter> make_exporter(boost::asio::io_context& io, const ExporterConfig& config,
                                        ResultCallback on_result, std::string& error);

}  // namespace spanring::agent
