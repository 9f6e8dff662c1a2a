// Agent configuration: defaults, the example file, one testdata/ file per invalid case (each
// error must name file:line:column and the key path), OTEL_* environment, command line.
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "agent/config/config.hpp"
#include "agent/config/text.hpp"
#include "agent/config/yaml_walker.hpp"

namespace spanring::agent {
namespace {

using namespace std::chrono_literals;

std::string testdata(std::string_view name) {
  return std::string(SPANRING_AGENT_TESTDATA_DIR) + "/" + std::string(name);
}

struct Loaded {
  bool ok = false;
  AgentConfig config;
  std::vector<std::string> errors;
  std::vector<std::string> warnings;
};

// Loads with a fake environment, so the test never depends on the machine's OTEL_* variables.
Loaded load(const std::string& path, const std::map<std::string, std::string>& env = {}) {
  Loaded out;
  auto getenv_fn = [&env](const char* name) -> const char* {
    const auto it = env.find(name);
    return it == env.end() ? nullptr : it->second.c_str();
  };
  out.ok = load_config(path, out.config, out.errors, out.warnings, getenv_fn);
  return out;
}

// A fresh directory for files a test writes (FIFOs, sparse files, YAML naming them).
std::filesystem::path scratch_dir(std::string_view name) {
  const auto dir = std::filesystem::temp_directory_path() /
                   ("spanring-config-test-" + std::to_string(::getpid()) + "-" + std::string(name));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

std::string write_text(const std::filesystem::path& path, std::string_view text) {
  std::ofstream(path) << text;
  return path.string();
}

// The single error a file must produce.
std::string only_error(std::string_view file) {
  const Loaded loaded = load(testdata(file));
  EXPECT_FALSE(loaded.ok);
  EXPECT_EQ(loaded.errors.size(), 1u);
  return loaded.errors.empty() ? std::string() : loaded.errors.front();
}

void expect_same_settings(const AgentConfig& a, const AgentConfig& b) {
  EXPECT_EQ(a.agent, b.agent);
  EXPECT_EQ(a.discovery, b.discovery);
  EXPECT_EQ(a.drain, b.drain);
  EXPECT_EQ(a.exporter, b.exporter);
  EXPECT_EQ(a.batch, b.batch);
  EXPECT_EQ(a.metrics, b.metrics);
  EXPECT_EQ(a.shutdown, b.shutdown);
  EXPECT_EQ(a.log, b.log);
  EXPECT_EQ(a.state, b.state);
}

// ---- defaults and valid files --------------------------------------------------------------

TEST(AgentConfig, DefaultsAreTheDocumentedValues) {
  const AgentConfig c;
  EXPECT_EQ(c.discovery.scan_interval, 1s);
  EXPECT_EQ(c.drain.min_poll_interval, 1ms);
  EXPECT_EQ(c.drain.max_poll_interval, 100ms);
  EXPECT_EQ(c.drain.max_spans_per_pass, 65536u);
  EXPECT_EQ(c.exporter.type, ExporterType::kOtlp);
  EXPECT_EQ(c.exporter.otlp.endpoint, "http://localhost:4318/v1/traces");
  EXPECT_TRUE(c.exporter.otlp.headers.empty());
  EXPECT_EQ(c.exporter.otlp.timeout, 10s);
  EXPECT_EQ(c.exporter.otlp.compression, Compression::kNone);
  EXPECT_TRUE(c.exporter.otlp.retry.enabled);
  EXPECT_EQ(c.exporter.otlp.retry.initial_interval, 1s);
  EXPECT_EQ(c.exporter.otlp.retry.max_interval, 30s);
  EXPECT_EQ(c.exporter.otlp.retry.max_elapsed_time, 5min);
  EXPECT_EQ(c.exporter.file.path, "spans.jsonl");
  EXPECT_EQ(c.exporter.console.max_traces, 5u);
  EXPECT_EQ(c.batch.max_spans, 512u);
  EXPECT_EQ(c.batch.timeout, 1s);
  EXPECT_EQ(c.exporter.otlp.queue.max_batches, 16384u);
  EXPECT_EQ(c.exporter.otlp.queue.max_spans, 4194304u);
  EXPECT_EQ(c.exporter.otlp.queue.max_bytes, 1073741824u);
  EXPECT_EQ(c.exporter.otlp.queue.storage, QueueStorage::kDisk);
  EXPECT_EQ(c.exporter.otlp.queue.directory, "");
  EXPECT_EQ(c.exporter.otlp.max_in_flight, 16u);
  EXPECT_EQ(c.metrics.listen, "127.0.0.1:9464");
  EXPECT_EQ(c.shutdown.deadline, 5s);
  EXPECT_EQ(c.log.level, LogLevel::kInfo);
  EXPECT_TRUE(c.state.remove_drained_segments);
  EXPECT_TRUE(c.sampling.IsNull());
}

TEST(LoadConfig, WithoutFileOrEnvironmentGivesDefaults) {
  const Loaded loaded = load("");
  ASSERT_TRUE(loaded.ok);
  EXPECT_TRUE(loaded.errors.empty());
  EXPECT_TRUE(loaded.warnings.empty());
  EXPECT_EQ(loaded.config.source, "(defaults)");
  expect_same_settings(loaded.config, AgentConfig{});
}

// The example documents the defaults: if code and example drift apart, this fails.
TEST(LoadConfig, ExampleFileLoadsAndStatesExactlyTheDefaults) {
  const Loaded loaded = load(SPANRING_AGENT_EXAMPLE_CONFIG);
  ASSERT_TRUE(loaded.ok) << (loaded.errors.empty() ? "" : loaded.errors.front());
  EXPECT_EQ(loaded.config.source, SPANRING_AGENT_EXAMPLE_CONFIG);
  expect_same_settings(loaded.config, AgentConfig{});
}

TEST(LoadConfig, EmptyFileGivesDefaults) {
  const Loaded loaded = load(testdata("empty.yaml"));
  ASSERT_TRUE(loaded.ok);
  expect_same_settings(loaded.config, AgentConfig{});
}

TEST(LoadConfig, SectionsWithNothingUnderThemKeepDefaults) {
  const Loaded loaded = load(testdata("empty_sections.yaml"));
  ASSERT_TRUE(loaded.ok) << (loaded.errors.empty() ? "" : loaded.errors.front());
  expect_same_settings(loaded.config, AgentConfig{});
}

TEST(LoadConfig, FileSetsEveryKey) {
  const Loaded loaded = load(testdata("full.yaml"));
  ASSERT_TRUE(loaded.ok) << (loaded.errors.empty() ? "" : loaded.errors.front());
  const AgentConfig& c = loaded.config;
  EXPECT_EQ(c.agent.drain_threads, 3u);
  EXPECT_EQ(c.discovery.scan_interval, 250ms);
  EXPECT_EQ(c.drain.min_poll_interval, 2ms);
  EXPECT_EQ(c.drain.max_poll_interval, 2s);
  EXPECT_EQ(c.drain.max_spans_per_pass, 1000u);
  EXPECT_EQ(c.exporter.type, ExporterType::kConsole);
  EXPECT_EQ(c.exporter.otlp.endpoint, "http://collector:4318/custom/traces");
  const std::map<std::string, std::string> headers{{"Authorization", "Bearer abc"},
                                                   {"X-Tenant", "team-a"}};
  EXPECT_EQ(c.exporter.otlp.headers, headers);
  EXPECT_EQ(c.exporter.otlp.timeout, 1500ms);
  EXPECT_EQ(c.exporter.otlp.compression, Compression::kGzip);
  EXPECT_FALSE(c.exporter.otlp.retry.enabled);
  EXPECT_EQ(c.exporter.otlp.retry.initial_interval, 500ms);
  EXPECT_EQ(c.exporter.otlp.retry.max_interval, 1min);
  EXPECT_EQ(c.exporter.otlp.retry.max_elapsed_time, 2h);
  EXPECT_EQ(c.exporter.file.path, "/var/log/spanring/spans.jsonl");
  EXPECT_EQ(c.exporter.console.max_traces, 0u);
  EXPECT_EQ(c.batch.max_spans, 1024u);
  EXPECT_EQ(c.batch.timeout, 200ms);  // a bare integer is milliseconds
  EXPECT_EQ(c.exporter.otlp.queue.max_batches, 8u);
  EXPECT_EQ(c.exporter.otlp.queue.max_spans, 8192u);
  EXPECT_EQ(c.exporter.otlp.queue.max_bytes, 1000000000u);
  EXPECT_EQ(c.exporter.otlp.queue.storage, QueueStorage::kMemory);
  EXPECT_EQ(c.exporter.otlp.queue.directory, "/srv/spanring/queue");
  EXPECT_EQ(c.exporter.otlp.max_in_flight, 4u);
  EXPECT_EQ(c.metrics.listen, "[::1]:0");
  EXPECT_EQ(c.shutdown.deadline, 30s);
  EXPECT_EQ(c.log.level, LogLevel::kDebug);
  EXPECT_FALSE(c.state.remove_drained_segments);
  EXPECT_EQ(c.source, testdata("full.yaml"));
}

TEST(LoadConfig, SamplingSectionIsKeptWithItsPositionsForTheSamplingParser) {
  const Loaded loaded = load(testdata("sampling_placeholder.yaml"));
  ASSERT_TRUE(loaded.ok) << (loaded.errors.empty() ? "" : loaded.errors.front());
  ASSERT_TRUE(loaded.config.sampling.IsMap());
  const YAML::Node param = loaded.config.sampling["strategies"][0]["param"];
  EXPECT_EQ(param.Scalar(), "0.5");
  EXPECT_EQ(param.Mark().line, 4);  // 0-based: the fifth line of the file
}

TEST(LoadConfig, EmptyListenDisablesTheMetricsEndpoint) {
  const Loaded loaded = load(testdata("metrics_disabled.yaml"));
  ASSERT_TRUE(loaded.ok) << (loaded.errors.empty() ? "" : loaded.errors.front());
  EXPECT_EQ(loaded.config.metrics.listen, "");
}

// ---- invalid files: one testdata file each ---------------------------------------------------

TEST(LoadConfigErrors, UnknownKeyNamesPositionPathAndTheKnownKeys) {
  EXPECT_EQ(only_error("unknown_key.yaml"),
            testdata("unknown_key.yaml") +
                ":4:5: exporter.otlp.timout: unknown key; expected one of protocol, endpoint, "
                "tls, headers, timeout, compression, max_in_flight, retry");
}

TEST(LoadConfigErrors, ListWhereIntegerExpectedIsAWrongType) {
  EXPECT_EQ(only_error("wrong_type.yaml"),
            testdata("wrong_type.yaml") +
                ":2:23: drain.max_spans_per_pass: expected an integer from 0 to 4294967295, got "
                "a list");
}

TEST(LoadConfigErrors, DrainThreadsAboveTheCapNameTheKeyAndTheCap) {
  EXPECT_EQ(only_error("drain_threads_too_many.yaml"),
            testdata("drain_threads_too_many.yaml") +
                ":2:18: agent.drain_threads: must be at most 4 (0 = one per core, at most 4), got 64");
}

TEST(LoadConfigErrors, NegativeIntegerIsRejected) {
  EXPECT_EQ(only_error("integer_with_sign.yaml"),
            testdata("integer_with_sign.yaml") +
                ":2:14: batch.max_spans: expected an integer from 0 to 4294967295, got \"-1\"");
}

TEST(LoadConfigErrors, BadDurationQuotesTheValue) {
  EXPECT_EQ(only_error("bad_duration.yaml"),
            testdata("bad_duration.yaml") +
                ":3:14: exporter.otlp.timeout: expected a duration like 10s or 500ms, got \"abc\"");
}

TEST(LoadConfigErrors, BadEnumListsTheChoices) {
  EXPECT_EQ(only_error("bad_enum.yaml"),
            testdata("bad_enum.yaml") +
                ":2:9: exporter.type: expected one of otlp, console, file, none, got \"zipkin\"");
}

TEST(LoadConfigErrors, EndpointWithoutHttpSchemeIsRejected) {
  EXPECT_EQ(only_error("invalid_endpoint.yaml"),
            testdata("invalid_endpoint.yaml") +
                ":3:15: exporter.otlp.endpoint: expected a URL like "
                "http://localhost:4318/v1/traces (or https://...), got \"localhost:4318/v1/traces\" "
                "(must start with http:// or https://)");
}

// https:// was refused while the agent had no TLS; it is an ordinary endpoint now.
TEST(LoadConfig, HttpsEndpointIsAccepted) {
  const Loaded loaded = load(testdata("https_endpoint.yaml"));
  ASSERT_TRUE(loaded.ok) << loaded.errors.front();
  EXPECT_EQ(loaded.config.exporter.otlp.endpoint, "https://collector.example.com:4318/v1/traces");
}

TEST(LoadConfigErrors, MinPollIntervalAboveMaxIsReportedAtTheMinimum) {
  EXPECT_EQ(only_error("min_greater_than_max.yaml"),
            testdata("min_greater_than_max.yaml") +
                ":3:22: drain.min_poll_interval: must be <= drain.max_poll_interval (100ms), got "
                "200ms");
}

TEST(LoadConfigErrors, QueueSmallerThanBatchIsReportedWhereTheFileSetTheBatch) {
  EXPECT_EQ(only_error("queue_smaller_than_batch.yaml"),
            testdata("queue_smaller_than_batch.yaml") +
                ":3:14: queue.max_spans: must be >= batch.max_spans (5000000), got 4194304");
}

TEST(LoadConfigErrors, ListenWithoutHostIsRejected) {
  EXPECT_EQ(only_error("bad_listen.yaml"),
            testdata("bad_listen.yaml") +
                ":2:11: metrics.listen: expected host:port like 127.0.0.1:9464 (port 0 = any free "
                "port), or \"\" to disable, got \"9464\"");
}

TEST(LoadConfigErrors, UnknownSizeUnitIsRejected) {
  EXPECT_EQ(only_error("bad_size.yaml"),
            testdata("bad_size.yaml") +
                ":2:14: queue.max_bytes: expected a size like 65536, 512KiB or 64MiB, got \"64 "
                "mebibytes\"");
}

TEST(LoadConfigErrors, YesIsNotABoolean) {
  EXPECT_EQ(only_error("yes_is_not_a_boolean.yaml"),
            testdata("yes_is_not_a_boolean.yaml") +
                ":2:28: state.remove_drained_segments: expected true or false, got \"yes\"");
}

TEST(LoadConfigErrors, DuplicateKeyPointsAtTheSecondAndNamesTheFirstLine) {
  EXPECT_EQ(only_error("duplicate_key.yaml"),
            testdata("duplicate_key.yaml") + ":4:3: batch.max_spans: duplicate key (first at line 2)");
}

TEST(LoadConfigErrors, EmptyValueIsReportedAtItsKey) {
  EXPECT_EQ(only_error("empty_value.yaml"),
            testdata("empty_value.yaml") +
                ":4:5: exporter.otlp.timeout: expected a duration like 10s or 500ms, got null");
}

TEST(LoadConfigErrors, ScalarWhereSectionExpectedIsAWrongType) {
  EXPECT_EQ(only_error("section_not_a_map.yaml"),
            testdata("section_not_a_map.yaml") + ":1:8: drain: expected a map of keys, got \"5\"");
}

TEST(LoadConfigErrors, InvalidHeaderNameIsReportedAtTheName) {
  EXPECT_EQ(only_error("bad_header_name.yaml"),
            testdata("bad_header_name.yaml") +
                ":5:7: exporter.otlp.headers.bad header: is not a valid HTTP header name");
}

TEST(LoadConfigErrors, HeaderOwnedByTheExporterIsRejected) {
  EXPECT_EQ(only_error("reserved_header.yaml"),
            testdata("reserved_header.yaml") +
                ":4:7: exporter.otlp.headers.Content-Type: is set by the exporter and cannot be "
                "configured");
}

TEST(LoadConfigErrors, InvalidYamlReportsTheParserPosition) {
  const std::string error = only_error("invalid_yaml.yaml");
  EXPECT_TRUE(error.starts_with(testdata("invalid_yaml.yaml") + ":3:1: invalid YAML: "))
      << error;
}

TEST(LoadConfigErrors, MissingFileSaysItCannotBeRead) {
  const Loaded loaded = load(testdata("does_not_exist.yaml"));
  EXPECT_FALSE(loaded.ok);
  ASSERT_EQ(loaded.errors.size(), 1u);
  EXPECT_EQ(loaded.errors.front(), testdata("does_not_exist.yaml") +
                                       ": config file cannot be opened: No such file or directory");
}

// --config /dev/zero used to read until std::bad_alloc aborted the agent.
TEST(LoadConfigInput, DeviceIsRefusedWithoutBeingRead) {
  const Loaded loaded = load("/dev/zero");
  EXPECT_FALSE(loaded.ok);
  const std::vector<std::string> expected{
      "/dev/zero: config file is a character device, not a regular file"};
  EXPECT_EQ(loaded.errors, expected);
}

// --config naming a FIFO used to block in open() until a writer came, forever.
TEST(LoadConfigInput, FifoIsRefusedWithoutBlocking) {
  const auto dir = scratch_dir("fifo");
  const std::string fifo = (dir / "agent.yaml").string();
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  const Loaded loaded = load(fifo);
  EXPECT_FALSE(loaded.ok);
  const std::vector<std::string> expected{
      fifo + ": config file is a FIFO (named pipe), not a regular file"};
  EXPECT_EQ(loaded.errors, expected);
  std::filesystem::remove_all(dir);
}

TEST(LoadConfigInput, DirectoryIsNamedAsOne) {
  const auto dir = scratch_dir("dir");
  const Loaded loaded = load(dir.string());
  EXPECT_FALSE(loaded.ok);
  const std::vector<std::string> expected{dir.string() +
                                          ": config file is a directory, not a regular file"};
  EXPECT_EQ(loaded.errors, expected);
  std::filesystem::remove_all(dir);
}

// A sparse file: no disk space used, and the size alone refuses it before any read.
TEST(LoadConfigInput, FileAboveTheSizeLimitIsRefused) {
  const auto dir = scratch_dir("big");
  const std::string big = write_text(dir / "agent.yaml", "log:\n  level: info\n");
  std::filesystem::resize_file(big, (std::uintmax_t{16} << 20) + 1);
  const Loaded loaded = load(big);
  EXPECT_FALSE(loaded.ok);
  const std::vector<std::string> expected{
      big + ": config file is 16777217 bytes, more than the limit of 16777216"};
  EXPECT_EQ(loaded.errors, expected);
  std::filesystem::remove_all(dir);
}

TEST(LoadConfigErrors, EveryErrorInAFileIsReported) {
  const Loaded loaded = load(testdata("multiple_errors.yaml"));
  EXPECT_FALSE(loaded.ok);
  const std::vector<std::string> expected{
      testdata("multiple_errors.yaml") +
          ":2:18: discovery.scan_interval: expected a duration like 10s or 500ms, got \"soon\"",
      testdata("multiple_errors.yaml") +
          ":4:10: log.level: expected one of debug, info, warn, error, got \"verbose\""};
  EXPECT_EQ(loaded.errors, expected);
}

TEST(LoadConfigErrors, ConfigErrorOverloadCarriesTheSameMessage) {
  AgentConfig config;
  std::vector<ConfigError> errors;
  std::vector<std::string> warnings;
  EXPECT_FALSE(load_config(testdata("bad_enum.yaml"), config, errors, warnings,
                           [](const char*) -> const char* { return nullptr; }));
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors.front().message,
            testdata("bad_enum.yaml") +
                ":2:9: exporter.type: expected one of otlp, console, file, none, got \"zipkin\"");
}

TEST(ValidateConfig, ConfigBuiltInCodeIsCheckedWithItsSourceAsPrefix) {
  AgentConfig config;
  config.batch.max_spans = 0;
  config.metrics.listen = "localhost";
  std::vector<std::string> errors;
  EXPECT_FALSE(validate_config(config, errors));
  const std::vector<std::string> expected{
      "(defaults): batch.max_spans: must be at least 1, got 0",
      "(defaults): metrics.listen: expected host:port like 127.0.0.1:9464 (port 0 = any free "
      "port), or \"\" to disable, got \"localhost\""};
  EXPECT_EQ(errors, expected);
}

TEST(ValidateConfig, DefaultsAreValid) {
  std::vector<std::string> errors;
  EXPECT_TRUE(validate_config(AgentConfig{}, errors));
  EXPECT_TRUE(errors.empty());
}

// ---- OTEL_* environment ----------------------------------------------------------------------

struct EndpointCase {
  std::string variable;
  std::string value;
  std::string endpoint;
};

class EnvEndpoint : public testing::TestWithParam<EndpointCase> {};

TEST_P(EnvEndpoint, BecomesTheTracesUrl) {
  const EndpointCase& c = GetParam();
  const Loaded loaded = load("", {{c.variable, c.value}});
  ASSERT_TRUE(loaded.ok);
  EXPECT_TRUE(loaded.warnings.empty());
  EXPECT_EQ(loaded.config.exporter.otlp.endpoint, c.endpoint);
}

INSTANTIATE_TEST_SUITE_P(
    Spec, EnvEndpoint,
    testing::Values(
        EndpointCase{"OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318",
                     "http://collector:4318/v1/traces"},
        EndpointCase{"OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/",
                     "http://collector:4318/v1/traces"},
        EndpointCase{"OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/mycollector/",
                     "http://collector:4318/mycollector/v1/traces"},
        EndpointCase{"OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/mycollector",
                     "http://collector:4318/mycollector/v1/traces"},
        EndpointCase{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://collector:4318",
                     "http://collector:4318/"},
        EndpointCase{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://collector:4318/custom",
                     "http://collector:4318/custom"}));

TEST(LoadConfigEnv, TracesEndpointWinsOverTheGenericOne) {
  const Loaded loaded = load("", {{"OTEL_EXPORTER_OTLP_ENDPOINT", "http://generic:4318"},
                                  {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://traces:4318/t"}});
  ASSERT_TRUE(loaded.ok);
  EXPECT_EQ(loaded.config.exporter.otlp.endpoint, "http://traces:4318/t");
}

TEST(LoadConfigEnv, EmptyTracesEndpointFallsBackToTheGenericOne) {
  const Loaded loaded = load("", {{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", ""},
                                  {"OTEL_EXPORTER_OTLP_ENDPOINT", "http://base:4318"}});
  ASSERT_TRUE(loaded.ok);
  EXPECT_TRUE(loaded.warnings.empty());
  EXPECT_EQ(loaded.config.exporter.otlp.endpoint, "http://base:4318/v1/traces");
}

// An unusable OTEL_* value used to be warned about and ignored: with an https:// endpoint the
// agent fell back to http://localhost:4318 while --check-config said "valid". Now it is an error
// naming the variable, unless something else decides that setting (the file, or the TRACES_
// form), in which case it is only warned about.
std::vector<std::string> env_errors(const std::map<std::string, std::string>& env) {
  const Loaded loaded = load("", env);
  EXPECT_FALSE(loaded.ok);
  return loaded.errors;
}

TEST(LoadConfigEnv, InvalidTracesEndpointIsAnErrorWithTheReason) {
  const std::vector<std::string> expected{
      "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: expected a URL like "
      "http://localhost:4318/v1/traces (or https://...), got \"http://collector:0/\" (port 0 is out of "
      "range 1-65535) (from \"http://collector:0\")"};
  EXPECT_EQ(env_errors({{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://collector:0"}}), expected);
}

TEST(LoadConfigEnv, HttpsEndpointIsUsed) {
  const Loaded loaded = load("", {{"OTEL_EXPORTER_OTLP_ENDPOINT", "https://collector:4318"}});
  ASSERT_TRUE(loaded.ok) << loaded.errors.front();
  EXPECT_EQ(loaded.config.exporter.otlp.endpoint, "https://collector:4318/v1/traces");
}

TEST(LoadConfigEnv, MisspelledSchemeIsAnError) {
  const auto errors = env_errors({{"OTEL_EXPORTER_OTLP_ENDPOINT", "htp://x"}});
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_TRUE(errors[0].starts_with("OTEL_EXPORTER_OTLP_ENDPOINT: expected a URL like http://"))
      << errors[0];
}

TEST(LoadConfigEnv, InvalidGenericEndpointIsOnlyAWarningWhenTheTracesFormIsSet) {
  const Loaded loaded = load("", {{"OTEL_EXPORTER_OTLP_ENDPOINT", "htp://collector:4318"},
                                  {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://c:4318/t"}});
  ASSERT_TRUE(loaded.ok) << loaded.errors.front();
  EXPECT_EQ(loaded.config.exporter.otlp.endpoint, "http://c:4318/t");
  ASSERT_EQ(loaded.warnings.size(), 1u);
  EXPECT_TRUE(loaded.warnings[0].ends_with(
      "; ignored: the TRACES_ form of the variable is set and wins"))
      << loaded.warnings[0];
}

TEST(LoadConfigEnv, InvalidEndpointIsOnlyAWarningWhenTheFileSetsTheEndpoint) {
  const Loaded loaded = load(testdata("file_over_env.yaml"),
                             {{"OTEL_EXPORTER_OTLP_ENDPOINT", "htp://collector:4318"}});
  ASSERT_TRUE(loaded.ok) << loaded.errors.front();
  EXPECT_EQ(loaded.config.exporter.otlp.endpoint, "http://from-file:4318/v1/traces");
  ASSERT_EQ(loaded.warnings.size(), 1u);
  EXPECT_TRUE(loaded.warnings[0].starts_with("OTEL_EXPORTER_OTLP_ENDPOINT: expected a URL like"))
      << loaded.warnings[0];
  EXPECT_TRUE(loaded.warnings[0].ends_with(
      "; ignored: " + testdata("file_over_env.yaml") + " sets exporter.otlp.endpoint"))
      << loaded.warnings[0];
}

TEST(LoadConfigEnv, InvalidVariableNextToAFileErrorIsReportedToo) {
  const Loaded loaded =
      load(testdata("bad_duration.yaml"), {{"OTEL_EXPORTER_OTLP_COMPRESSION", "x"}});
  EXPECT_FALSE(loaded.ok);
  ASSERT_EQ(loaded.errors.size(), 2u);
  EXPECT_EQ(loaded.errors[1], "OTEL_EXPORTER_OTLP_COMPRESSION: expected none or gzip, got \"x\"");
}

TEST(LoadConfigEnv, HeadersArePercentDecodedAndTracesFormWins) {
  const Loaded loaded =
      load("", {{"OTEL_EXPORTER_OTLP_HEADERS", "x-generic=1"},
                {"OTEL_EXPORTER_OTLP_TRACES_HEADERS",
                 " Authorization = Bearer%20abc%3D , x-tenant=team%2Ca,,"}});
  ASSERT_TRUE(loaded.ok);
  EXPECT_TRUE(loaded.warnings.empty());
  const std::map<std::string, std::string> expected{{"Authorization", "Bearer abc="},
                                                    {"x-tenant", "team,a"}};
  EXPECT_EQ(loaded.config.exporter.otlp.headers, expected);
}

TEST(LoadConfigEnv, MalformedHeadersAreAnError) {
  const std::vector<std::string> expected{
      "OTEL_EXPORTER_OTLP_HEADERS: expected key=value pairs separated by commas, got "
      "\"a=1,broken,c=3\""};
  EXPECT_EQ(env_errors({{"OTEL_EXPORTER_OTLP_HEADERS", "a=1,broken,c=3"}}), expected);
}

TEST(LoadConfigEnv, BadPercentEncodingIsAnError) {
  const std::vector<std::string> expected{
      "OTEL_EXPORTER_OTLP_HEADERS: invalid percent-encoding, got \"a=%2\""};
  EXPECT_EQ(env_errors({{"OTEL_EXPORTER_OTLP_HEADERS", "a=%2"}}), expected);
}

TEST(LoadConfigEnv, ReservedHeaderIsAnError) {
  const std::vector<std::string> expected{
      "OTEL_EXPORTER_OTLP_HEADERS: header \"host\" is set by the exporter and cannot be "
      "configured, got \"a=1,host=h\""};
  EXPECT_EQ(env_errors({{"OTEL_EXPORTER_OTLP_HEADERS", "a=1,host=h"}}), expected);
}

TEST(LoadConfigEnv, InvalidHeaderNameIsAnError) {
  const std::vector<std::string> expected{
      "OTEL_EXPORTER_OTLP_HEADERS: header \"bad name\" is not a valid HTTP header name, got "
      "\"bad%20name=1\""};
  EXPECT_EQ(env_errors({{"OTEL_EXPORTER_OTLP_HEADERS", "bad%20name=1"}}), expected);
}

TEST(LoadConfigEnv, TimeoutIsMillisecondsAndTracesFormWins) {
  EXPECT_EQ(load("", {{"OTEL_EXPORTER_OTLP_TIMEOUT", "2500"}}).config.exporter.otlp.timeout,
            2500ms);
  EXPECT_EQ(load("", {{"OTEL_EXPORTER_OTLP_TIMEOUT", "2500"},
                      {"OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "700"}})
                .config.exporter.otlp.timeout,
            700ms);
}

TEST(LoadConfigEnv, ZeroTimeoutMeansNoLimit) {
  const Loaded loaded = load("", {{"OTEL_EXPORTER_OTLP_TIMEOUT", "0"}});
  ASSERT_TRUE(loaded.ok);
  EXPECT_EQ(loaded.config.exporter.otlp.timeout, 0s);
}

TEST(LoadConfigEnv, TimeoutThatIsNotAnIntegerOfMillisecondsIsAnError) {
  for (const char* junk : {"10s", "abc", "-1", "1.5", "99999999999999999999"}) {
    const std::vector<std::string> expected{"OTEL_EXPORTER_OTLP_TRACES_TIMEOUT: expected integer "
                                            "milliseconds, got \"" + std::string(junk) + "\""};
    EXPECT_EQ(env_errors({{"OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", junk}}), expected) << junk;
  }
}

TEST(LoadConfigEnv, CompressionIsCaseInsensitive) {
  const Loaded loaded = load("", {{"OTEL_EXPORTER_OTLP_COMPRESSION", "GZip"}});
  ASSERT_TRUE(loaded.ok);
  EXPECT_EQ(loaded.config.exporter.otlp.compression, Compression::kGzip);
}

TEST(LoadConfigEnv, TracesCompressionWinsAndNoneTurnsGzipOff) {
  const Loaded loaded = load("", {{"OTEL_EXPORTER_OTLP_COMPRESSION", "gzip"},
                                  {"OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "none"}});
  ASSERT_TRUE(loaded.ok);
  EXPECT_TRUE(loaded.warnings.empty());
  EXPECT_EQ(loaded.config.exporter.otlp.compression, Compression::kNone);
}

TEST(LoadConfigEnv, UnknownCompressionIsAnError) {
  const std::vector<std::string> expected{
      "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION: expected none or gzip, got \"zstd\""};
  EXPECT_EQ(env_errors({{"OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "zstd"}}), expected);
}

TEST(LoadConfigEnv, TracesExporterSelectsTheExporter) {
  EXPECT_EQ(load("", {{"OTEL_TRACES_EXPORTER", "console"}}).config.exporter.type,
            ExporterType::kConsole);
  EXPECT_EQ(load("", {{"OTEL_TRACES_EXPORTER", "NONE"}}).config.exporter.type,
            ExporterType::kNone);
}

TEST(LoadConfigEnv, TracesExporterOutsideTheSpecValuesIsAnError) {
  // "file" is a config-file-only exporter; zipkin is deprecated and not implemented.
  for (const char* value : {"file", "zipkin", "otlp,console"}) {
    const std::vector<std::string> expected{"OTEL_TRACES_EXPORTER: expected one of otlp, console, "
                                            "none, got \"" + std::string(value) + "\""};
    EXPECT_EQ(env_errors({{"OTEL_TRACES_EXPORTER", value}}), expected) << value;
  }
}

TEST(LoadConfigEnv, UnknownProtocolIsAnError) {
  const std::vector<std::string> expected{
      "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: expected one of grpc, http/protobuf, http/json, got \"http/xml\""};
  EXPECT_EQ(env_errors({{"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/xml"}}), expected);
}

TEST(LoadConfigEnv, GenericProtocolIsOnlyAWarningWhenTheTracesFormIsValid) {
  const Loaded loaded = load("", {{"OTEL_EXPORTER_OTLP_PROTOCOL", "thrift"},
                                  {"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/json"}});
  ASSERT_TRUE(loaded.ok);
  EXPECT_EQ(loaded.config.exporter.otlp.protocol, Protocol::kHttpJson);
  ASSERT_EQ(loaded.warnings.size(), 1u);
  EXPECT_TRUE(loaded.warnings[0].starts_with("OTEL_EXPORTER_OTLP_PROTOCOL: expected one of"))
      << loaded.warnings[0];
}

// SPEC §4: the default endpoint follows the protocol, and OTEL_EXPORTER_OTLP_ENDPOINT gets
// v1/traces appended for HTTP only.
TEST(LoadConfigEnv, GrpcUsesItsOwnDefaultEndpointAndTheBaseUrlUnchanged) {
  Loaded loaded = load("", {{"OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"}});
  ASSERT_TRUE(loaded.ok) << loaded.errors.front();
  EXPECT_EQ(loaded.config.exporter.otlp.protocol, Protocol::kGrpc);
  EXPECT_EQ(loaded.config.exporter.otlp.endpoint, "http://localhost:4317");
  loaded = load("", {{"OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"}, {"OTEL_EXPORTER_OTLP_ENDPOINT", "https://c:4317"}});
  ASSERT_TRUE(loaded.ok) << loaded.errors.front();
  EXPECT_EQ(loaded.config.exporter.otlp.endpoint, "https://c:4317");
  loaded = load("", {{"OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"}, {"OTEL_EXPORTER_OTLP_ENDPOINT", "https://c:4318"}});
  ASSERT_TRUE(loaded.ok) << loaded.errors.front();
  EXPECT_EQ(loaded.config.exporter.otlp.endpoint, "https://c:4318/v1/traces");
}

// The protocol may come from the file and the endpoint from the environment: the base URL is
// resolved for the file's protocol.
TEST(LoadConfigEnv, BaseEndpointFollowsTheFilesProtocol) {
  const auto dir = scratch_dir("grpc-file");
  const std::string path = write_text(dir / "agent.yaml", "exporter:\n  otlp:\n    protocol: grpc\n");
  const Loaded loaded = load(path, {{"OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4317"}});
  ASSERT_TRUE(loaded.ok) << loaded.errors.front();
  EXPECT_EQ(loaded.config.exporter.otlp.endpoint, "http://c:4317");
  // Without any endpoint, the file's protocol picks the spec's default.
  const Loaded defaulted = load(path);
  ASSERT_TRUE(defaulted.ok) << defaulted.errors.front();
  EXPECT_EQ(defaulted.config.exporter.otlp.endpoint, "http://localhost:4317");
  std::filesystem::remove_all(dir);
}

// A gRPC endpoint without a scheme is TLS unless OTEL_EXPORTER_OTLP_INSECURE=true (SPEC §4).
TEST(LoadConfigEnv, InsecureMakesASchemelessGrpcEndpointPlaintext) {
  Loaded loaded = load("", {{"OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"}, {"OTEL_EXPORTER_OTLP_ENDPOINT", "c:4317"}});
  ASSERT_TRUE(loaded.ok) << loaded.errors.front();
  ASSERT_TRUE(resolved_endpoint(loaded.config.exporter.otlp).has_value());
  EXPECT_TRUE(resolved_endpoint(loaded.config.exporter.otlp)->tls);
  loaded = load("", {{"OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"},
                     {"OTEL_EXPORTER_OTLP_ENDPOINT", "c:4317"},
                     {"OTEL_EXPORTER_OTLP_INSECURE", "TRUE"}});
  ASSERT_TRUE(loaded.ok) << loaded.errors.front();
  EXPECT_FALSE(resolved_endpoint(loaded.config.exporter.otlp)->tls);
  // The scheme wins over the variable.
  loaded = load("", {{"OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"},
                     {"OTEL_EXPORTER_OTLP_ENDPOINT", "https://c:4317"},
                     {"OTEL_EXPORTER_OTLP_TRACES_INSECURE", "true"}});
  ASSERT_TRUE(loaded.ok) << loaded.errors.front();
  EXPECT_TRUE(resolved_endpoint(loaded.config.exporter.otlp)->tls);
  loaded = load("", {{"OTEL_EXPORTER_OTLP_INSECURE", "yes"}});
  ASSERT_TRUE(loaded.ok);
  ASSERT_EQ(loaded.warnings.size(), 1u);
  EXPECT_EQ(loaded.warnings[0], "OTEL_EXPORTER_OTLP_INSECURE: expected true or false, got \"yes\"; ignored");
}

// The TLS variables feed exporter.otlp.tls.*; a file that cannot be read is an error naming the
// variable, so --check-config catches it before the first export.
TEST(LoadConfigEnv, TlsVariablesFeedTheTlsKeysAndUnreadableFilesNameTheVariable) {
  const auto dir = scratch_dir("tls-env");
  const std::string ca = write_text(dir / "ca.pem", "-----BEGIN CERTIFICATE-----\n");
  const std::string cert = write_text(dir / "c.pem", "-----BEGIN CERTIFICATE-----\n");
  const std::string key = write_text(dir / "k.pem", "-----BEGIN PRIVATE KEY-----\n");
  Loaded loaded = load("", {{"OTEL_EXPORTER_OTLP_CERTIFICATE", "/nonexistent/ca.pem"},
                            {"OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE", ca},
                            {"OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE", cert},
                            {"OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY", key}});
  ASSERT_TRUE(loaded.ok) << loaded.errors.front();
  EXPECT_EQ(loaded.config.exporter.otlp.tls.ca_file, ca);
  EXPECT_EQ(loaded.config.exporter.otlp.tls.cert_file, cert);
  EXPECT_EQ(loaded.config.exporter.otlp.tls.key_file, key);
  loaded = load("", {{"OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE", "/nonexistent/ca.pem"}});
  ASSERT_FALSE(loaded.ok);
  ASSERT_EQ(loaded.errors.size(), 1u);
  EXPECT_EQ(loaded.errors[0],
            "(defaults): exporter.otlp.tls.ca_file: cannot read \"/nonexistent/ca.pem\": No such file or "
            "directory (set by OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE)");
  loaded = load("", {{"OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE", cert}});
  ASSERT_FALSE(loaded.ok);
  EXPECT_EQ(loaded.errors[0],
            "(defaults): exporter.otlp.tls.cert_file: a client certificate needs exporter.otlp.tls.key_file too "
            "(set by OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE)");
  std::filesystem::remove_all(dir);
}

// The file's TLS section: every mistake is reported at its line with its key.
TEST(LoadConfigErrors, TlsSectionMistakesNameTheKey) {
  const auto dir = scratch_dir("tls-file");
  const std::string key = write_text(dir / "k.pem", "-----BEGIN PRIVATE KEY-----\n");
  const auto errors_of = [&](const std::string& yaml) {
    return load(write_text(dir / "agent.yaml", yaml)).errors;
  };
  auto errors = errors_of("exporter:\n  otlp:\n    tls:\n      ca_file: /nonexistent/ca.pem\n");
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0], (dir / "agent.yaml").string() +
                           ":4:16: exporter.otlp.tls.ca_file: cannot read \"/nonexistent/ca.pem\": No such file "
                           "or directory");
  errors = errors_of("exporter:\n  otlp:\n    tls:\n      key_file: " + key + "\n");
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0], (dir / "agent.yaml").string() +
                           ":4:17: exporter.otlp.tls.key_file: a client key needs exporter.otlp.tls.cert_file too");
  errors = errors_of("exporter:\n  otlp:\n    protocol: grpc\n    tls:\n      insecure_skip_verify: true\n");
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_TRUE(errors[0].find(":5:29: exporter.otlp.tls.insecure_skip_verify: is not supported with protocol grpc") !=
              std::string::npos)
      << errors[0];
  errors = errors_of("exporter:\n  otlp:\n    protocol: http/xml\n");
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0], (dir / "agent.yaml").string() +
                           ":3:15: exporter.otlp.protocol: expected one of grpc, http/protobuf, http/json, got "
                           "\"http/xml\"");
  std::filesystem::remove_all(dir);
}

// Variables of a trace SDK the agent does not implement: one warning each, naming what to use.
TEST(LoadConfigEnv, UnsupportedVariablesGetOneWarningEachNamingTheAlternative) {
  const std::map<std::string, std::string> env{
      {"OTEL_TRACES_SAMPLER", "traceidratio"},
      {"OTEL_TRACES_SAMPLER_ARG", "0.1"},
      {"OTEL_BSP_SCHEDULE_DELAY", "5000"},
      {"OTEL_BSP_EXPORT_TIMEOUT", "30000"},
      {"OTEL_BSP_MAX_QUEUE_SIZE", "2048"},
      {"OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "512"},
      {"OTEL_PROPAGATORS", "b3"},
      {"OTEL_SDK_DISABLED", "true"},
      {"OTEL_SERVICE_NAME", "svc"},
      {"OTEL_RESOURCE_ATTRIBUTES", "a=b"},
      {"OTEL_CONFIG_FILE", "/otel.yaml"},
  };
  const Loaded loaded = load("", env);
  ASSERT_TRUE(loaded.ok) << loaded.errors.front();
  expect_same_settings(loaded.config, AgentConfig{});
  ASSERT_EQ(loaded.warnings.size(), env.size());
  for (const auto& [name, value] : env) {
    int found = 0;
    for (const std::string& w : loaded.warnings) {
      if (w.starts_with(name + " is not supported by spanring-agent and is ignored; ")) ++found;
    }
    EXPECT_EQ(found, 1) << name;
  }
  const auto warning_for = [&](const std::string& name) {
    for (const std::string& w : loaded.warnings) {
      if (w.starts_with(name + " ")) return w;
    }
    return std::string();
  };
  EXPECT_NE(warning_for("OTEL_TRACES_SAMPLER").find("sampling section"), std::string::npos);
  EXPECT_NE(warning_for("OTEL_BSP_MAX_EXPORT_BATCH_SIZE").find("batch.max_spans"), std::string::npos);
  EXPECT_NE(warning_for("OTEL_BSP_SCHEDULE_DELAY").find("batch.timeout"), std::string::npos);
  EXPECT_NE(warning_for("OTEL_BSP_MAX_QUEUE_SIZE").find("queue.max_spans"), std::string::npos);
}

TEST(LoadConfigEnv, EmptyValueCountsAsUnset) {
  const Loaded loaded = load("", {{"OTEL_EXPORTER_OTLP_ENDPOINT", ""},
                                  {"OTEL_EXPORTER_OTLP_TIMEOUT", ""},
                                  {"OTEL_TRACES_EXPORTER", ""},
                                  {"OTEL_TRACES_SAMPLER", ""}});
  ASSERT_TRUE(loaded.ok);
  EXPECT_TRUE(loaded.warnings.empty());
  expect_same_settings(loaded.config, AgentConfig{});
}

TEST(LoadConfigEnv, FileWinsOverEnvironmentOnlyForKeysItSets) {
  const Loaded loaded = load(testdata("file_over_env.yaml"),
                             {{"OTEL_EXPORTER_OTLP_ENDPOINT", "http://from-env:4318"},
                              {"OTEL_EXPORTER_OTLP_TIMEOUT", "3000"}});
  ASSERT_TRUE(loaded.ok);
  EXPECT_TRUE(loaded.warnings.empty());
  EXPECT_EQ(loaded.config.exporter.otlp.endpoint, "http://from-file:4318/v1/traces");
  EXPECT_EQ(loaded.config.exporter.otlp.timeout, 3s);
}

// ---- discovery.producers ----------------------------------------------------------------------

// root (uid 0, gid 0) exists on every Linux system; other accounts are not assumed.
TEST(LoadConfigProducers, RulesAreParsedWithNamesResolvedToIds) {
  const auto dir = scratch_dir("producers");
  const std::string path = write_text(dir / "agent.yaml",
                                      "discovery:\n"
                                      "  producers:\n"
                                      "    - service: \"llm-*\"\n"
                                      "      users: [root, 1001]\n"
                                      "      groups: [root, \"2002\"]\n"
                                      "    - groups: [3003]\n");
  const Loaded loaded = load(path);
  ASSERT_TRUE(loaded.ok) << loaded.errors.front();
  const std::vector<ProducerRule> expected{
      ProducerRule{"llm-*", {0, 1001}, {0, 2002}},
      ProducerRule{"*", {}, {3003}},
  };
  EXPECT_EQ(loaded.config.discovery.producers, expected);
  std::filesystem::remove_all(dir);
}

TEST(LoadConfigProducers, UnknownNamesAndRulesWithoutUsersOrGroupsAreErrors) {
  const auto dir = scratch_dir("producers-bad");
  const std::string path = write_text(dir / "agent.yaml",
                                      "discovery:\n"
                                      "  producers:\n"
                                      "    - service: a\n"
                                      "      users: [no-such-user-spanring-test]\n"
                                      "    - service: b\n"
                                      "      groups: [root, no-such-group-spanring-test]\n"
                                      "    - service: c\n"
                                      "    - service: d\n"
                                      "      users: []\n"
                                      "    - service: e\n"
                                      "      users: vllm\n"
                                      "      colour: red\n");
  const Loaded loaded = load(path);
  EXPECT_FALSE(loaded.ok);
  const std::vector<std::string> expected{
      path + ":4:15: discovery.producers[0].users[0]: unknown user "
             "\"no-such-user-spanring-test\" (not in the passwd database)",
      path + ":6:22: discovery.producers[1].groups[1]: unknown group "
             "\"no-such-group-spanring-test\" (not in the group database)",
      path + ":7:7: discovery.producers[2]: needs users or groups (names or numeric ids) "
             "allowed to feed \"c\"",
      path + ":8:7: discovery.producers[3]: needs users or groups (names or numeric ids) "
             "allowed to feed \"d\"",
      path + ":11:14: discovery.producers[4].users: expected a list of user names or numeric "
             "ids, got \"vllm\"",
      path + ":12:7: discovery.producers[4].colour: unknown key; expected one of service, users, "
             "groups"};
  EXPECT_EQ(loaded.errors, expected);
  std::filesystem::remove_all(dir);
}

TEST(LoadConfigProducers, ProducersMustBeAList) {
  const auto dir = scratch_dir("producers-map");
  const std::string path =
      write_text(dir / "agent.yaml", "discovery:\n  producers: {service: a, users: [0]}\n");
  const Loaded loaded = load(path);
  EXPECT_FALSE(loaded.ok);
  ASSERT_EQ(loaded.errors.size(), 1u);
  EXPECT_TRUE(loaded.errors[0].starts_with(path + ":2:14: discovery.producers: expected a list"))
      << loaded.errors[0];
  std::filesystem::remove_all(dir);
}

// ---- durations reach their consumer as written ------------------------------------------------

// `retry.initial_interval: 500us` passed --check-config, then the exporter refused it at start
// ("initial_backoff: must be > 0 ms", no file:line); `timeout: 500us` silently became 0 = no
// limit. Both were truncated to whole milliseconds on the way to the exporter.
TEST(ExportOptions, SubMillisecondDurationsReachTheExporterUnchanged) {
  const auto dir = scratch_dir("subms");
  const std::string path = write_text(dir / "agent.yaml",
                                      "exporter:\n"
                                      "  otlp:\n"
                                      "    timeout: 500us\n"
                                      "    retry:\n"
                                      "      initial_interval: 500us\n"
                                      "      max_interval: 1500us\n"
                                      "      max_elapsed_time: 900us\n");
  const Loaded loaded = load(path);
  ASSERT_TRUE(loaded.ok) << (loaded.errors.empty() ? "" : loaded.errors.front());
  const HttpExportConfig& h = loaded.config.exporter.otlp;
  EXPECT_EQ(h.validate(), std::vector<std::string>{});
  EXPECT_EQ(h.timeout, 500us);
  EXPECT_EQ(h.retry.initial_interval, 500us);
  EXPECT_EQ(h.retry.max_interval, 1500us);
  EXPECT_EQ(h.retry.max_elapsed_time, 900us);
  std::filesystem::remove_all(dir);
}

// What the exporter refuses, load_config refuses first, with the file position.
TEST(ExportOptions, DefaultsAndTheExampleGiveAValidExporterConfig) {
  EXPECT_EQ(AgentConfig{}.exporter.otlp.validate(), std::vector<std::string>{});
  const Loaded loaded = load(SPANRING_AGENT_EXAMPLE_CONFIG);
  ASSERT_TRUE(loaded.ok);
  EXPECT_EQ(loaded.config.exporter.otlp.validate(), std::vector<std::string>{});
}

// The drain loop (agent/core) counts whole milliseconds; "500us" used to become 0 ms there (a
// scan interval of 0 rescans /dev/shm in a busy loop). Such values are load errors now.
TEST(LoadConfigErrors, DrainLoopDurationsMustBeWholeMilliseconds) {
  const auto dir = scratch_dir("wholems");
  const std::string path = write_text(dir / "agent.yaml",
                                      "discovery:\n"
                                      "  scan_interval: 500us\n"
                                      "drain:\n"
                                      "  min_poll_interval: 1500us\n"
                                      "  max_poll_interval: 2ms\n"
                                      "batch:\n"
                                      "  timeout: 0.5ms\n");
  const Loaded loaded = load(path);
  EXPECT_FALSE(loaded.ok);
  const std::string why = "must be a whole number of milliseconds (the drain loop's resolution), got ";
  const std::vector<std::string> expected{
      path + ":2:18: discovery.scan_interval: " + why + "500us",
      path + ":4:22: drain.min_poll_interval: " + why + "1500us",
      path + ":7:12: batch.timeout: " + why + "500us"};
  EXPECT_EQ(loaded.errors, expected);
  std::filesystem::remove_all(dir);
}

// ---- value syntaxes --------------------------------------------------------------------------

TEST(ParseDuration, AcceptsEveryUnitAndBareMilliseconds) {
  EXPECT_EQ(parse_duration("10s"), Duration(10s));
  EXPECT_EQ(parse_duration("500ms"), Duration(500ms));
  EXPECT_EQ(parse_duration("1m"), Duration(1min));
  EXPECT_EQ(parse_duration("2h"), Duration(2h));
  EXPECT_EQ(parse_duration("250us"), Duration(250us));
  EXPECT_EQ(parse_duration("100ns"), Duration(100ns));
  EXPECT_EQ(parse_duration("1500"), Duration(1500ms));
  EXPECT_EQ(parse_duration("0"), Duration(0));
  EXPECT_EQ(parse_duration("1.5s"), Duration(1500ms));
  EXPECT_EQ(parse_duration("0.25m"), Duration(15s));
  EXPECT_EQ(parse_duration("1.0005ms"), Duration(1000500ns));
  EXPECT_EQ(parse_duration("1.2345us"), Duration(1234ns));  // below 1 ns is dropped
}

TEST(ParseDuration, RejectsJunkSignsAndOverflow) {
  for (const char* text : {"", "abc", "s", "-1s", "+1s", "1.5", "1.s", ".5s", "10 s", "10sec",
                           "1d", "0x10ms", "99999999999999999999s", "3000000h"}) {
    EXPECT_EQ(parse_duration(text), std::nullopt) << text;
  }
}

// Sizes are parsed by spanring/shm/text.hpp (tests/shm/text_test.cpp); the config reaches it.
TEST(ParseSize, QueueMaxBytesTakesTheSharedSizeSyntax) {
  const auto dir = scratch_dir("sizes");
  const std::string path = write_text(dir / "agent.yaml", "queue:\n  max_bytes: 64 K\n");
  const Loaded loaded = load(path);
  ASSERT_TRUE(loaded.ok) << (loaded.errors.empty() ? "" : loaded.errors.front());
  EXPECT_EQ(loaded.config.exporter.otlp.queue.max_bytes, 65536u);
  std::filesystem::remove_all(dir);
}

TEST(ParseHostPort, AcceptsNamesAddressesAndPortZero) {
  const auto a = parse_host_port("127.0.0.1:9464");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->host, "127.0.0.1");
  EXPECT_EQ(a->port, 9464);
  const auto b = parse_host_port("[::1]:0");
  ASSERT_TRUE(b);
  EXPECT_EQ(b->host, "::1");
  EXPECT_EQ(b->port, 0);
  for (const char* text : {"", "9464", ":9464", "host", "host:", "host:65536", "[::1]", "a b:1"}) {
    EXPECT_EQ(parse_host_port(text), std::nullopt) << text;
  }
}

TEST(FormatDuration, UsesTheLargestExactUnitAndParsesBack) {
  EXPECT_EQ(format_duration(0s), "0s");
  EXPECT_EQ(format_duration(2h), "2h");
  EXPECT_EQ(format_duration(90s), "90s");
  EXPECT_EQ(format_duration(1500ms), "1500ms");
  EXPECT_EQ(format_duration(250us), "250us");
  EXPECT_EQ(format_duration(Duration(7)), "7ns");
  EXPECT_EQ(parse_duration(format_duration(1500ms)), Duration(1500ms));
}

// ---- command line ----------------------------------------------------------------------------

bool parse(std::vector<const char*> args, CommandLine& out, std::string& error) {
  args.insert(args.begin(), "spanring-agent");
  const Status st = parse_command_line(static_cast<int>(args.size()), args.data(), out);
  error = st.message();
  return st.ok();
}

TEST(CommandLine, NoArgumentsMeansNoFileAndNoFlags) {
  CommandLine cl;
  std::string error;
  ASSERT_TRUE(parse({}, cl, error));
  EXPECT_EQ(cl.config_path, "");
  EXPECT_FALSE(cl.help);
  EXPECT_FALSE(cl.version);
  EXPECT_FALSE(cl.check_config);
}

TEST(CommandLine, ConfigTakesTheNextArgumentOrAnEqualsValue) {
  for (const auto& args : std::vector<std::vector<const char*>>{
           {"--config", "/etc/a.yaml"}, {"--config=/etc/a.yaml"}, {"-c", "/etc/a.yaml"}}) {
    CommandLine cl;
    std::string error;
    ASSERT_TRUE(parse(args, cl, error)) << error;
    EXPECT_EQ(cl.config_path, "/etc/a.yaml");
  }
}

TEST(CommandLine, FlagsAreRecognised) {
  CommandLine cl;
  std::string error;
  ASSERT_TRUE(parse({"--check-config", "--version", "--help", "--config", "a.yaml"}, cl, error));
  EXPECT_TRUE(cl.check_config);
  EXPECT_TRUE(cl.version);
  EXPECT_TRUE(cl.help);
  EXPECT_EQ(cl.config_path, "a.yaml");
  CommandLine short_help;
  ASSERT_TRUE(parse({"-h"}, short_help, error));
  EXPECT_TRUE(short_help.help);
}

TEST(CommandLine, ConfigWithoutAFileIsAnError) {
  CommandLine cl;
  std::string error;
  EXPECT_FALSE(parse({"--config"}, cl, error));
  EXPECT_EQ(error, "--config needs a file path (see --help)");
  EXPECT_FALSE(parse({"--config="}, cl, error));
  EXPECT_EQ(error, "--config needs a file path (see --help)");
}

TEST(CommandLine, UnknownOptionIsAnError) {
  CommandLine cl;
  std::string error;
  EXPECT_FALSE(parse({"--verbose"}, cl, error));
  EXPECT_EQ(error, "unknown option '--verbose' (see --help)");
}

TEST(CommandLine, PositionalArgumentIsAnError) {
  CommandLine cl;
  std::string error;
  EXPECT_FALSE(parse({"agent.yaml"}, cl, error));
  EXPECT_EQ(error, "unexpected argument 'agent.yaml' (see --help)");
}

TEST(CommandLine, RepeatedConfigIsAnError) {
  CommandLine cl;
  std::string error;
  EXPECT_FALSE(parse({"--config", "a.yaml", "--config=b.yaml"}, cl, error));
  EXPECT_EQ(error, "--config given twice (see --help)");
}

TEST(CommandLine, UsageListsEveryOptionAndPointsToTheExample) {
  const std::string text = usage();
  for (const char* option : {"--config FILE", "--check-config", "--help", "--version",
                             "agent.example.yaml"}) {
    EXPECT_NE(text.find(option), std::string::npos) << option;
  }
  EXPECT_EQ(text.back(), '\n');
}

// Every OTEL_* variable that changes the configuration is listed in --help (and the README):
// each one here is shown to be read (the loaded config differs from the defaults) and named in
// usage(), its TRACES_ form as "OTEL_EXPORTER_OTLP_[TRACES_]..." or by itself.
TEST(CommandLine, UsageListsEveryOtelVariableTheAgentReads) {
  const auto dir = scratch_dir("otel-help");
  const std::string pem = write_text(dir / "x.pem", "-----BEGIN CERTIFICATE-----\n");
  const std::map<std::string, std::string> variables{
      {"OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"},
      {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://c:4318/t"},
      {"OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"},
      {"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/json"},
      {"OTEL_EXPORTER_OTLP_HEADERS", "a=b"},
      {"OTEL_EXPORTER_OTLP_TRACES_HEADERS", "a=b"},
      {"OTEL_EXPORTER_OTLP_TIMEOUT", "1"},
      {"OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "1"},
      {"OTEL_EXPORTER_OTLP_COMPRESSION", "gzip"},
      {"OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "gzip"},
      {"OTEL_EXPORTER_OTLP_CERTIFICATE", pem},
      {"OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE", pem},
      {"OTEL_EXPORTER_OTLP_INSECURE", "true"},
      {"OTEL_EXPORTER_OTLP_TRACES_INSECURE", "true"},
      {"OTEL_TRACES_EXPORTER", "console"},
  };
  const std::string text = usage();
  for (const auto& [name, value] : variables) {
    const Loaded loaded = load("", {{name, value}});
    ASSERT_TRUE(loaded.ok) << name << ": " << loaded.errors.front();
    EXPECT_FALSE(loaded.config.exporter == AgentConfig{}.exporter) << name << " is not read";
    // Listed by name: the two endpoints and OTEL_TRACES_EXPORTER; the others as the pair.
    std::string listed = name;
    const std::string prefix = "OTEL_EXPORTER_OTLP_";
    if (name.starts_with(prefix) && !name.ends_with("_ENDPOINT")) {
      if (name.starts_with(prefix + "TRACES_")) listed.erase(prefix.size(), 7);
      listed.insert(prefix.size(), "[TRACES_]");
    }
    EXPECT_NE(text.find(listed), std::string::npos) << listed;
  }
  // The client certificate and key only make sense together; --help names them on one line.
  const Loaded pair = load("", {{"OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE", pem}, {"OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY", pem}});
  ASSERT_TRUE(pair.ok) << pair.errors.front();
  EXPECT_EQ(pair.config.exporter.otlp.tls.cert_file, pem);
  EXPECT_EQ(pair.config.exporter.otlp.tls.key_file, pem);
  EXPECT_NE(text.find("OTEL_EXPORTER_OTLP_[TRACES_]CLIENT_CERTIFICATE, _CLIENT_KEY"), std::string::npos);
  std::filesystem::remove_all(dir);
}

TEST(CommandLine, VersionTextNamesTheProgramAndVersion) {
  EXPECT_EQ(version_text(), std::string("spanring-agent ") + SPANRING_TEST_PROJECT_VERSION + "\n");
}

}  // namespace
}  // namespace spanring::agent

// ---- the schema walker (agent/config/yaml_walker.hpp) -------------------------------------------

namespace spanring::agent {
namespace {

struct Walk {
  std::vector<std::string> errors;
  std::vector<std::string> visited;
};

// Walks `text` as {outer: {inner: {leaf}}, flag} and records what was visited.
Walk walk(const std::string& text) {
  Walk w;
  YamlWalker walker("w.yaml", w.errors);
  const YAML::Node root = YAML::Load(text);
  walker.map(YamlItem{root, "", root.Mark()},
             {{"outer", [&](const YamlItem& o) {
                 walker.map(o, {{"inner", [&](const YamlItem& i) {
                                   walker.map(i, {{"leaf", [&](const YamlItem& l) {
                                                     if (walker.scalar(l, "expected a string")) w.visited.push_back(l.path);
                                                   }}});
                                 }}});
               }},
              {"flag", [&](const YamlItem& f) {
                 if (walker.boolean(f)) w.visited.push_back(f.path);
               }}});
  return w;
}

TEST(YamlWalker, VisitsKnownKeysWithTheirDottedPaths) {
  const Walk w = walk("outer:\n  inner:\n    leaf: x\nflag: true\n");
  EXPECT_TRUE(w.errors.empty());
  EXPECT_EQ(w.visited, (std::vector<std::string>{"outer.inner.leaf", "flag"}));
}

TEST(YamlWalker, UnknownKeyIsReportedAtItsPositionWithTheAllowedKeys) {
  const Walk w = walk("outer:\n  inner:\n    leaf: x\n    leef: y\n");
  EXPECT_EQ(w.errors, (std::vector<std::string>{"w.yaml:4:5: outer.inner.leef: unknown key; expected one of leaf"}));
  EXPECT_EQ(w.visited, (std::vector<std::string>{"outer.inner.leaf"}));
}

TEST(YamlWalker, WrongTypesAreReportedAtTheValueWithWhatWasExpected) {
  const Walk w = walk("outer:\n  inner: [1, 2]\nflag: yes\n");
  EXPECT_EQ(w.errors, (std::vector<std::string>{"w.yaml:2:10: outer.inner: expected a map of keys, got a list",
                                                "w.yaml:3:7: flag: expected true or false, got \"yes\""}));
}

TEST(YamlWalker, NestedListValueWhereAScalarIsExpectedNamesTheFullPath) {
  const Walk w = walk("outer:\n  inner:\n    leaf:\n      - a\n");
  EXPECT_EQ(w.errors, (std::vector<std::string>{"w.yaml:4:7: outer.inner.leaf: expected a string, got a list"}));
}

TEST(YamlWalker, DuplicateKeyNamesTheFirstLine) {
  const Walk w = walk("flag: true\nflag: false\n");
  EXPECT_EQ(w.errors, (std::vector<std::string>{"w.yaml:2:1: flag: duplicate key (first at line 1)"}));
}

TEST(YamlWalker, EmptySectionIsAnEmptyMapAndANullValueIsReportedAtItsKey) {
  EXPECT_TRUE(walk("outer:\n").errors.empty());
  const Walk w = walk("outer:\n  inner:\n    leaf:\nflag: true\n");
  EXPECT_EQ(w.errors, (std::vector<std::string>{"w.yaml:3:5: outer.inner.leaf: expected a string, got null"}));
}

}  // namespace
}  // namespace spanring::agent

namespace spanring::agent {
namespace {

TEST(LoadConfigQueue, StorageOutsideTheThreeModesListsThem) {
  const auto dir = scratch_dir("storage");
  const Loaded loaded = load(write_text(dir / "agent.yaml", "queue:\n  storage: tape\n"));
  ASSERT_EQ(loaded.errors.size(), 1u);
  EXPECT_NE(loaded.errors[0].find(":2:12: queue.storage: expected one of disk, memory, rings"), std::string::npos)
      << loaded.errors[0];
}

TEST(LoadConfigQueue, RelativeDirectoryAndInFlightOutOfRangeAreErrorsNamingTheKeys) {
  const auto dir = scratch_dir("queue-keys");
  const Loaded loaded = load(write_text(dir / "agent.yaml",
                                        "exporter:\n  otlp:\n    max_in_flight: 0\nqueue:\n  directory: var/queue\n"));
  ASSERT_EQ(loaded.errors.size(), 2u);
  EXPECT_NE(loaded.errors[0].find(":3:20: exporter.otlp.max_in_flight: must be in [1, 64], got 0"), std::string::npos)
      << loaded.errors[0];
  EXPECT_NE(loaded.errors[1].find(":5:14: queue.directory: must be an absolute path, got \"var/queue\""),
            std::string::npos)
      << loaded.errors[1];
}

TEST(DefaultQueueDirectory, StateDirectoryFirstThenXdgStateHomeThenHome) {
  const auto keep = [](const char* name) {
    const char* v = std::getenv(name);
    return std::optional<std::string>(v ? std::optional<std::string>(v) : std::nullopt);
  };
  const auto state = keep("STATE_DIRECTORY"), xdg = keep("XDG_STATE_HOME"), home = keep("HOME");
  ::setenv("STATE_DIRECTORY", "/var/lib/spanring-agent:/var/lib/other", 1);
  ::setenv("XDG_STATE_HOME", "/x", 1);
  ::setenv("HOME", "/h", 1);
  EXPECT_EQ(default_queue_directory(), "/var/lib/spanring-agent/queue");
  ::unsetenv("STATE_DIRECTORY");
  EXPECT_EQ(default_queue_directory(), "/x/spanring-agent/queue");
  ::unsetenv("XDG_STATE_HOME");
  EXPECT_EQ(default_queue_directory(), "/h/.local/state/spanring-agent/queue");
  for (const auto& [name, value] : {std::pair{"STATE_DIRECTORY", state}, {"XDG_STATE_HOME", xdg}, {"HOME", home}}) {
    if (value) ::setenv(name, value->c_str(), 1);
    else ::unsetenv(name);
  }
}

}  // namespace
}  // namespace spanring::agent
