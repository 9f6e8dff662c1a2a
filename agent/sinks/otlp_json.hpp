// OTLP/JSON (SPEC §2.4) writer: the proto3 JSON mapping with OTLP's exceptions, written straight
// from the generated messages, so the file exporter needs no JSON library and no reflection.
//
// The rules, all from the OTLP spec rather than plain proto3 JSON:
//   - keys are lowerCamelCase, in field-number order;
//   - traceId / spanId / parentSpanId (span and link) are lowercase hex, other bytes are base64;
//   - enums are integers;
//   - 64-bit integers (intValue, *UnixNano) are decimal strings, 32-bit ones plain numbers;
//   - scalars equal to their default and empty repeated fields are omitted; a set sub-message is
//     written even when empty, and a set AnyValue member is written even when it is 0/""/false;
//   - doubles are the shortest text that reads back to the same value; NaN and ±Infinity are the
//     strings "NaN", "Infinity", "-Infinity".
// Strings are escaped per RFC 8259 (`"`, `\`, control characters); valid UTF-8 passes through
// unchanged and each invalid byte becomes U+FFFD, so the output is always valid JSON even when a
// message was built in memory from unchecked bytes.
#pragma once

#include <string>
#include <string_view>

#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"

namespace spanring::agent {

// Appends `request` as one JSON object (no trailing newline) to `out`.
void append_otlp_json(const opentelemetry::proto::collector::trace::v1::ExportTraceServiceRequest& request,
                      std::string& out);

// Appends `s` as a JSON string (quotes included) by the rules above: RFC 8259 escapes, each
// invalid UTF-8 byte as U+FFFD. Shared by every JSON the agent and spanringctl write.
void append_json_string(std::string& out, std::string_view s);
// Appends `bytes` as a quoted lowercase hex string (trace and span ids, as OTLP/JSON writes them).
void append_json_hex(std::string& out, std::string_view bytes);

}  // namespace spanring::agent
