#include "agent/sinks/exporter_factory.hpp"

#include <exception>
#include <stdexcept>
#include <utility>

#include "agent/config/config.hpp"
#include "agent/export/http_exporter.hpp"
#include "agent/sinks/console_exporter.hpp"
#include "agent/sinks/file_exporter.hpp"
#include "agent/sinks/null_exporter.hpp"

namespace spanring::agent {

Status make_exporter(boost::asio::io_context& io, const ExporterConfig& config, ResultCallback on_result,
                     std::unique_ptr<Exporter>& out) {
  out.reset();
  switch (config.type) {
    case ExporterType::kOtlp: {
      // Validated here, so HttpExporter's own check (a precondition: it throws) never fires.
      if (const auto errors = config.otlp.validate(); !errors.empty()) {
        std::string text = "invalid OTLP exporter config:";
        for (const auto& e : errors) text += " " + e + ";";
        text.pop_back();
        return Status::invalid(text);
      }
      // The disk queue is opened here, and TLS files are loaded: a locked or unwritable
      // queue.directory or a TLS file OpenSSL cannot load is a Status, not an exception crossing
      // this boundary.
      try {
        out = std::make_unique<HttpExporter>(io, config.otlp, std::move(on_result));
      } catch (const std::invalid_argument& e) {
        return Status::invalid(e.what());
      } catch (const std::exception& e) {
        return Status::unavailable(e.what());
      }
      return Status();
    }
    case ExporterType::kConsole: {
      ConsoleOptions o;
      o.max_traces = config.console.max_traces;
      out = make_console_exporter(io, std::move(on_result), o);
      return Status();
    }
    case ExporterType::kFile: {
      std::string error;
      out = make_file_exporter(io, config.file.path, std::move(on_result), error);
      return out ? Status() : Status::unavailable(error);
    }
    case ExporterType::kNone: out = make_null_exporter(io, std::move(on_result)); return Status();
  }
  return Status::invalid("unknown exporter type");
}

}  // namespace spanring::agent
