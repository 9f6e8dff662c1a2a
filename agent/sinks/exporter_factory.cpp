#include "agent/sinks/exporter_factory.hpp"

#include <exception>
#include <utility>

#include "agent/config/config.hpp"
#include "agent/export/http_exporter.hpp"
#include "agent/sinks/console_exporter.hpp"
#include "agent/sinks/file_exporter.hpp"
#include "agent/sinks/null_exporter.hpp"

namespace spanring::agent {

std::unique_ptr<Exporter> make_exporter(boost::asio::io_context& io, const ExporterConfig& config,
                                        ResultCallback on_result, std::string& error) {
  try {
    switch (config.type) {
      case ExporterType::kOtlp: return std::make_unique<HttpExporter>(io, config.otlp, std::move(on_result));
      case ExporterType::kConsole: {
        ConsoleOptions o;
        o.max_traces = config.console.max_traces;
        return make_console_exporter(io, std::move(on_result), o);
      }
      case ExporterType::kFile: return make_file_exporter(io, config.file.path, std::move(on_result), error);
      case ExporterType::kNone: return make_null_exporter(io, std::move(on_result));
    }
  } catch (const std::exception& e) {  // HttpExporter refuses an invalid config by throwing
    error = e.what();
  }
  return nullptr;
}

}  // namespace spanring::agent
