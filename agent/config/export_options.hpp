// The exporter's settings from the agent's config. Lives beside load_config() so a test can
// check the promise it makes: a config that loads gives an HttpExportConfig that validates, with
// every duration as written (nothing truncated; "500us" stays 500 microseconds).
#pragma once

#include "agent/config/config.hpp"
#include "agent/export/export.hpp"

namespace spanring::agent {

HttpExportConfig http_export_config(const AgentConfig& config);

}  // namespace spanring::agent
