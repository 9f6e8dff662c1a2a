// Names for the spans of an LLM inference engine: OpenTelemetry semantic conventions (GenAI
// [DEV] as of semconv v1.41.0, exceptions, error.type) plus spanring's own cache and eviction
// attributes. One spelling for every engine, so the agent and dashboards see the same keys.
//
//   const spanring::llm::LlmKeys& k = spanring::llm::llm_keys();      // interned once
//   spanring::Span req(k.llm_inference, spanring::SpanKind::kServer);
//   req.set_attribute(k.operation_name, k.chat);                       // interned value, too
//   req.set_attribute(k.request_max_tokens, 512);
//
// Use the Keys on the hot path (a 2-byte id per name); the string_views are for code that
// needs the text (tests, the C API, building other Keys).
#pragma once

#include <string_view>

#include "spanring/tracer.hpp"

namespace spanring::llm {

// ---------------------------------------------------------------------------------------------
// GenAI semantic conventions (all [DEV]). Names and types from semconv v1.41.0.

inline constexpr std::string_view kGenAiOperationName = "gen_ai.operation.name";    // string, required
inline constexpr std::string_view kGenAiProviderName = "gen_ai.provider.name";      // string, required
inline constexpr std::string_view kGenAiRequestModel = "gen_ai.request.model";      // string
inline constexpr std::string_view kGenAiRequestMaxTokens = "gen_ai.request.max_tokens";    // int
inline constexpr std::string_view kGenAiRequestTemperature = "gen_ai.request.temperature";  // double
inline constexpr std::string_view kGenAiRequestTopP = "gen_ai.request.top_p";      // double
inline constexpr std::string_view kGenAiRequestTopK = "gen_ai.request.top_k";      // double
inline constexpr std::string_view kGenAiRequestSeed = "gen_ai.request.seed";       // int
inline constexpr std::string_view kGenAiRequestStream = "gen_ai.request.stream";   // bool
inline constexpr std::string_view kGenAiResponseModel = "gen_ai.response.model";   // string
inline constexpr std::string_view kGenAiResponseId = "gen_ai.response.id";         // string
// string[]: set it as an array (Span::set_attribute(key, std::span<const std::string_view>),
// ABI 2.0), one reason per choice, e.g. {"stop"}.
inline constexpr std::string_view kGenAiResponseFinishReasons = "gen_ai.response.finish_reasons";
inline constexpr std::string_view kGenAiUsageInputTokens = "gen_ai.usage.input_tokens";    // int, incl. cached
inline constexpr std::string_view kGenAiUsageOutputTokens = "gen_ai.usage.output_tokens";  // int
inline constexpr std::string_view kGenAiUsageCacheReadInputTokens = "gen_ai.usage.cache_read.input_tokens";  // int
inline constexpr std::string_view kGenAiConversationId = "gen_ai.conversation.id";  // string

// gen_ai.operation.name values an inference server uses.
inline constexpr std::string_view kOperationChat = "chat";
inline constexpr std::string_view kOperationTextCompletion = "text_completion";
inline constexpr std::string_view kOperationEmbeddings = "embeddings";

// ---------------------------------------------------------------------------------------------
// Errors (stable): error.type on the failed span, plus an `exception` event that
// Span::record_exception writes with these attribute names.

inline constexpr std::string_view kErrorType = "error.type";  // low-cardinality class; "_OTHER" fallback
inline constexpr std::string_view kErrorTypeOther = "_OTHER";
inline constexpr std::string_view kExceptionEvent = "exception";
inline constexpr std::string_view kExceptionType = "exception.type";
inline constexpr std::string_view kExceptionMessage = "exception.message";
inline constexpr std::string_view kExceptionStacktrace = "exception.stacktrace";

// ---------------------------------------------------------------------------------------------
// spanring's own attributes: the KV cache.

inline constexpr std::string_view kCacheHit = "cache.hit";      // bool
inline constexpr std::string_view kCacheLayer = "cache.layer";  // int, transformer layer
inline constexpr std::string_view kCacheTier = "cache.tier";    // string: kCacheTierHot | kCacheTierCold
inline constexpr std::string_view kCacheTierHot = "hot";        // GPU/host memory
inline constexpr std::string_view kCacheTierCold = "cold";      // SSD: a hit reads it back (ssd_read)
inline constexpr std::string_view kEvictionPolicy = "eviction.policy";  // string, e.g. kEvictionPolicyLru
inline constexpr std::string_view kEvictionTokens = "eviction.tokens";  // int, tokens evicted
inline constexpr std::string_view kEvictionPolicyLru = "lru";

// ---------------------------------------------------------------------------------------------
// Span names. One request is a tree:
//   llm_inference (SERVER)
//   ├── cache_lookup × layers        (a cold hit has an ssd_read child)
//   ├── eviction × n                 (children: score_calculation, ssd_write, cleanup)
//   ├── attention_compute
//   └── response_generation

inline constexpr std::string_view kSpanLlmInference = "llm_inference";
inline constexpr std::string_view kSpanCacheLookup = "cache_lookup";
inline constexpr std::string_view kSpanSsdRead = "ssd_read";
inline constexpr std::string_view kSpanEviction = "eviction";
inline constexpr std::string_view kSpanScoreCalculation = "score_calculation";
inline constexpr std::string_view kSpanSsdWrite = "ssd_write";
inline constexpr std::string_view kSpanCleanup = "cleanup";
inline constexpr std::string_view kSpanAttentionCompute = "attention_compute";
inline constexpr std::string_view kSpanResponseGeneration = "response_generation";

// ---------------------------------------------------------------------------------------------
// Interned Keys for all of the above, built on first use. Keys are process-wide and survive
// init/shutdown and fork (see Key), so calling llm_keys() before init() is fine.

struct LlmKeys {
  // span names
  Key llm_inference{kSpanLlmInference};
  Key cache_lookup{kSpanCacheLookup};
  Key ssd_read{kSpanSsdRead};
  Key eviction{kSpanEviction};
  Key score_calculation{kSpanScoreCalculation};
  Key ssd_write{kSpanSsdWrite};
  Key cleanup{kSpanCleanup};
  Key attention_compute{kSpanAttentionCompute};
  Key response_generation{kSpanResponseGeneration};

  // attribute keys
  Key operation_name{kGenAiOperationName};
  Key provider_name{kGenAiProviderName};
  Key request_model{kGenAiRequestModel};
  Key request_max_tokens{kGenAiRequestMaxTokens};
  Key request_temperature{kGenAiRequestTemperature};
  Key request_top_p{kGenAiRequestTopP};
  Key request_stream{kGenAiRequestStream};
  Key response_model{kGenAiResponseModel};
  Key response_finish_reasons{kGenAiResponseFinishReasons};
  Key usage_input_tokens{kGenAiUsageInputTokens};
  Key usage_output_tokens{kGenAiUsageOutputTokens};
  Key usage_cache_read_input_tokens{kGenAiUsageCacheReadInputTokens};
  Key error_type{kErrorType};
  Key cache_hit{kCacheHit};
  Key cache_layer{kCacheLayer};
  Key cache_tier{kCacheTier};
  Key eviction_policy{kEvictionPolicy};
  Key eviction_tokens{kEvictionTokens};

  // frequent string values (set_attribute(Key, Key) sends them as ids too)
  Key chat{kOperationChat};
  Key text_completion{kOperationTextCompletion};
  Key tier_hot{kCacheTierHot};
  Key tier_cold{kCacheTierCold};
  Key policy_lru{kEvictionPolicyLru};
};

// The process's LlmKeys. Thread-safe (function-local static); one instance across all
// translation units because the function is inline.
inline const LlmKeys& llm_keys() noexcept {
  static const LlmKeys keys;
  return keys;
}

}  // namespace spanring::llm
