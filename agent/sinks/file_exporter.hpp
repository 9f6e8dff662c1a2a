// File exporter: appends each batch as one line of OTLP/JSON (an ExportTraceServiceRequest, see
// otlp_json.hpp) to a file, the JSON Lines layout the OpenTelemetry file exporter uses. Good for
// debugging and for feeding other tools; not a durable store (no fsync, no rotation).
//
// Threading: every method must be called from the single thread that runs `io` (the agent's
// event loop). Results are posted to `io`, in enqueue order, never delivered inside enqueue()
// or shutdown(), so on_result may call back into the exporter.
#pragma once

#include <boost/asio/io_context.hpp>

#include <memory>
#include <string>

#include "agent/export/exporter.hpp"

namespace spanring::agent {

// Opens `path` for appending (created with mode 0644 if missing). On failure returns nullptr and
// sets `error` to "cannot open <path> for appending: <reason>".
//
// enqueue() writes the batch before it returns, so queued_spans()/queued_bytes() are always 0.
// Outcomes: kAccepted once the line is handed to the kernel; kFailedPermanent when the write fails
// (message carries the errno text; a short write may leave a partial line, which JSON Lines
// readers report and skip). enqueue() returns
// false only after shutdown(). Destroying the exporter drops results not yet delivered.
std::unique_ptr<Exporter> make_file_exporter(boost::asio::io_context& io, const std::string& path,
                                             ResultCallback on_result, std::string& error);

}  // namespace spanring::agent
