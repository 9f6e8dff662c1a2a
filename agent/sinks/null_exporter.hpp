// exporter.type: none — spans are discarded and each batch is reported accepted (OpenTelemetry's
// `none` exporter), so the agent drains and counts as usual with no backend.
//
// Threading: every method must be called from the single thread that runs `io`. Results are
// posted to `io` in enqueue order, never delivered inside enqueue() or shutdown().
#pragma once

#include <boost/asio/io_context.hpp>

#include <memory>

#include "agent/export/exporter.hpp"

namespace spanring::agent {

// enqueue() always accepts (also after shutdown()) and holds nothing: queued_spans() and
// queued_bytes() are 0. shutdown() posts `done` behind every result already posted.
std::unique_ptr<Exporter> make_null_exporter(boost::asio::io_context& io, ResultCallback on_result);

}  // namespace spanring::agent
