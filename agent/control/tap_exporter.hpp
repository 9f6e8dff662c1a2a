// TapExporter: the exporter the agent sees when the control socket is on. It forwards every call
// to the real exporter and, only while a spanringctl client taps (tail, dump), copies each batch
// the real exporter accepted to the control server. Spans are never taken away from the export,
// and with nobody tapping the cost per batch is one branch.
#pragma once

#include <memory>
#include <string>

#include "agent/control/control_server.hpp"
#include "agent/export/exporter.hpp"

namespace spanring::agent::control {

// The bytes a tapping client receives for one batch: the serialized OTLP request. The one place
// that knows how a batch holds its request.
std::string tap_bytes(const ExportBatch& batch);

std::unique_ptr<Exporter> make_tap_exporter(std::unique_ptr<Exporter> inner, ControlServer& server);

}  // namespace spanring::agent::control
