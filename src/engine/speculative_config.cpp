#include "engine/speculative_config.h"

#include <nlohmann/json.hpp>

#include "core/error.h"

namespace strata {

namespace {

int32_t positive_int(const nlohmann::json& j, const char* key) {
  const nlohmann::json& v = j.at(key);
  if (!v.is_number_integer() || v.get<int64_t>() < 1 || v.get<int64_t>() > 64) {
    fail("--speculative-config: \"{}\" must be an integer from 1 to 64 (got {})", key, v.dump());
  }
  return v.get<int32_t>();
}

}  // namespace

SpeculativeConfig SpeculativeConfig::parse(std::string_view text) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    fail("--speculative-config: not JSON: {}", e.what());
  }
  if (!j.is_object()) fail("--speculative-config: expected a JSON object (got {})", j.dump());
  for (const auto& [key, value] : j.items()) {
    if (key != "method" && key != "model" && key != "num_speculative_tokens" && key != "prompt_lookup_min" &&
        key != "prompt_lookup_max") {
      fail("--speculative-config: unknown key \"{}\" (known: method, model, num_speculative_tokens, "
           "prompt_lookup_min, prompt_lookup_max)",
           key);
    }
  }
  if (!j.contains("method") || !j["method"].is_string()) fail("--speculative-config: \"method\" (a string) is required");
  SpeculativeConfig c;
  c.method = j["method"].get<std::string>();
  if (c.method == "draft_model") c.method = "draft";
  // vLLM maps its per-architecture MTP names to "mtp"; of those, DeepSeek-V3's
  // is the one for an architecture strata runs (it has none for MiniMax-M2).
  if (c.method == "deepseek_mtp") c.method = "mtp";
  if (c.method != "ngram" && c.method != "draft" && c.method != "mtp") {
    fail("--speculative-config: unknown method \"{}\" (supported: ngram, draft, mtp)", c.method);
  }
  if (!j.contains("num_speculative_tokens")) fail("--speculative-config: \"num_speculative_tokens\" is required");
  c.num_speculative_tokens = positive_int(j, "num_speculative_tokens");
  if (c.method == "draft") {
    if (!j.contains("model") || !j["model"].is_string() || j["model"].get<std::string>().empty())
      fail("--speculative-config: method \"draft\" needs \"model\", the draft model's path");
    c.model = j["model"].get<std::string>();
    return c;
  }
  if (j.contains("model")) fail("--speculative-config: \"model\" is for method \"draft\" only");
  if (c.method == "mtp") {
    if (j.contains("prompt_lookup_min") || j.contains("prompt_lookup_max"))
      fail("--speculative-config: prompt_lookup_min and prompt_lookup_max are for method \"ngram\" only");
    return c;
  }
  const bool has_min = j.contains("prompt_lookup_min"), has_max = j.contains("prompt_lookup_max");
  c.prompt_lookup_min = has_min ? positive_int(j, "prompt_lookup_min") : 0;
  c.prompt_lookup_max = has_max ? positive_int(j, "prompt_lookup_max") : 0;
  if (!has_min && !has_max) c.prompt_lookup_min = c.prompt_lookup_max = 5;
  if (!has_min) c.prompt_lookup_min = c.prompt_lookup_max;
  if (!has_max) c.prompt_lookup_max = c.prompt_lookup_min;
  if (c.prompt_lookup_min > c.prompt_lookup_max) {
    fail("--speculative-config: prompt_lookup_min ({}) exceeds prompt_lookup_max ({})", c.prompt_lookup_min,
         c.prompt_lookup_max);
  }
  return c;
}

}  // namespace strata
