// spanring-agent's command line. Deliberately tiny: everything tunable lives in the config
// file, so the systemd unit and a manual run differ only in --config.
#include <string>
#include <string_view>

#include "agent/config/config.hpp"

#ifndef SPANRING_AGENT_VERSION
#error "SPANRING_AGENT_VERSION must be defined by the build (the project version)"
#endif

namespace spanring::agent {

Status parse_command_line(int argc, const char* const* argv, CommandLine& out) {
  out = CommandLine{};
  std::string error;
  bool have_config = false;
  auto set_config = [&](std::string_view option, std::string_view value) {
    if (have_config) {
      error = "--config given twice (see --help)";
      return false;
    }
    if (value.empty()) {
      error = std::string(option) + " needs a file path (see --help)";
      return false;
    }
    out.config_path.assign(value);
    have_config = true;
    return true;
  };

  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i] == nullptr ? std::string_view() : argv[i];
    if (arg == "--help" || arg == "-h") {
      out.help = true;
    } else if (arg == "--version") {
      out.version = true;
    } else if (arg == "--check-config") {
      out.check_config = true;
    } else if (arg == "--config" || arg == "-c") {
      if (i + 1 >= argc || argv[i + 1] == nullptr) {
        return Status::invalid(std::string(arg) + " needs a file path (see --help)");
      }
      if (!set_config(arg, argv[++i])) return Status::invalid(error);
    } else if (arg.starts_with("--config=")) {
      if (!set_config("--config", arg.substr(9))) return Status::invalid(error);
    } else if (arg.starts_with("-")) {
      return Status::invalid("unknown option '" + std::string(arg) + "' (see --help)");
    } else {
      return Status::invalid("unexpected argument '" + std::string(arg) + "' (see --help)");
    }
  }
  return Status();
}

std::string usage() {
  return "Usage: spanring-agent [--config FILE] [--check-config] [--help] [--version]\n"
         "\n"
         "Drains spanring shared-memory span rings of local engines and exports the spans\n"
         "(OTLP/HTTP protobuf by default; OTLP/gRPC and OTLP/HTTP JSON, over TLS too).\n"
         "\n"
         "Options:\n"
         "  -c, --config FILE   YAML configuration file. Without it the agent runs on built-in\n"
         "                      defaults plus OTEL_* environment variables; keys in the file\n"
         "                      win over the environment.\n"
         "      --check-config  load and validate the configuration, report problems, and exit\n"
         "                      (status 0 when valid)\n"
         "  -h, --help          show this text and exit\n"
         "      --version       show the version and exit\n"
         "\n"
         "Every configuration key, with its default, is documented in agent.example.yaml\n"
         "(agent/config/agent.example.yaml in the source tree).\n"
         "\n"
         "Environment (the config file wins; the TRACES_ form wins over the generic one):\n"
         "  OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT  http:// or https://\n"
         "  OTEL_EXPORTER_OTLP_[TRACES_]PROTOCOL     grpc | http/protobuf | http/json\n"
         "  OTEL_EXPORTER_OTLP_[TRACES_]HEADERS      k1=v1,k2=v2\n"
         "  OTEL_EXPORTER_OTLP_[TRACES_]TIMEOUT      milliseconds per attempt\n"
         "  OTEL_EXPORTER_OTLP_[TRACES_]COMPRESSION  none | gzip\n"
         "  OTEL_EXPORTER_OTLP_[TRACES_]CERTIFICATE  PEM CA file (exporter.otlp.tls.ca_file)\n"
         "  OTEL_EXPORTER_OTLP_[TRACES_]CLIENT_CERTIFICATE, _CLIENT_KEY  PEM files for mutual TLS\n"
         "  OTEL_EXPORTER_OTLP_[TRACES_]INSECURE     true: plaintext gRPC to a host:port endpoint\n"
         "  OTEL_TRACES_EXPORTER                     otlp | console | none\n"
         "An invalid value is an error (unless the config file sets that key); other OTEL_*\n"
         "variables of trace SDKs are warned about.\n";
}

std::string version_text() { return "spanring-agent " SPANRING_AGENT_VERSION "\n"; }

}  // namespace spanring::agent
