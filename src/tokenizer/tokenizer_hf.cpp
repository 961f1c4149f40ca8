// Tokenizer::from_hf: a Hugging Face tokenizer.json (byte-level BPE with the
// Qwen2, GPT-4o or DeepSeek-V3 pre-tokenizer) and, optionally, its
// tokenizer_config.json.
// Tokenizer::from_tiktoken: Kimi K2's tiktoken.model and tokenizer_config.json.
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/error.h"
#include "tokenizer/base64.h"
#include "tokenizer/byte_level.h"
#include "tokenizer/pretokenizer.h"
#include "tokenizer/tokenizer_impl.h"

namespace strata {

using nlohmann::json;

namespace {

json read_json(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("{}: cannot open file", path);
  std::stringstream buffer;
  buffer << in.rdbuf();
  try {
    return json::parse(buffer.str());
  } catch (const json::exception& e) {
    fail("{}: invalid JSON ({})", path, e.what());
  }
}

// A short one-line rendering of a JSON value for error messages.
std::string brief(const json& j) {
  std::string s = j.dump();
  return s.size() > 160 ? s.substr(0, 160) + "..." : s;
}

bool flag(const json& obj, const char* key, bool fallback) {
  auto it = obj.find(key);
  return it == obj.end() || it->is_null() ? fallback : it->get<bool>();
}

std::string type_of(const json& obj) {
  auto it = obj.find("type");
  return it != obj.end() && it->is_string() ? it->get<std::string>() : std::string();
}

void check_normalizer(const json& normalizer, const std::string& path, bool& nfc) {
  nfc = false;
  if (normalizer.is_null()) return;
  // An empty Sequence (DeepSeek-V3) normalizes nothing.
  if (type_of(normalizer) == "Sequence" && normalizer.value("normalizers", json::array()).empty()) return;
  if (type_of(normalizer) == "NFC") {
    nfc = true;
    return;
  }
  fail("{}: unsupported normalizer {} (supported: NFC or none)", path, brief(normalizer));
}

// Supported: Splits on one of the known regexes (or DeepSeek-V3's chain of
// three, pretokenizer.h), then ByteLevel without a regex of its own. Each
// Split keeps every match as a piece: "Isolated" (the text between matches
// too), or "Removed" with "invert" (which removes what lies between matches:
// nothing, since the single known regexes match everywhere).
PreTokenizer check_pre_tokenizer(const json& pre, const std::string& path) {
  bool ok = type_of(pre) == "Sequence" && pre.contains("pretokenizers") && pre["pretokenizers"].is_array() &&
            pre["pretokenizers"].size() >= 2;
  std::vector<std::string> regexes;
  if (ok) {
    const json& steps = pre["pretokenizers"];
    const json& byte_level = steps.back();
    ok = type_of(byte_level) == "ByteLevel" && !flag(byte_level, "add_prefix_space", false) &&
         !flag(byte_level, "use_regex", true);
    for (size_t i = 0; ok && i + 1 < steps.size(); ++i) {
      const json& split = steps[i];
      const std::string behavior = split.value("behavior", "");
      const bool invert = flag(split, "invert", false);
      ok = type_of(split) == "Split" && split.contains("pattern") && split["pattern"].is_object() &&
           split["pattern"].contains("Regex") && split["pattern"]["Regex"].is_string() &&
           ((behavior == "Isolated" && !invert) || (behavior == "Removed" && invert && steps.size() == 2));
      if (ok) regexes.push_back(split["pattern"]["Regex"].get<std::string>());
    }
  }
  if (!ok) {
    fail("{}: unsupported pre_tokenizer {} (supported: Split regexes that keep every match, followed by ByteLevel "
         "without a regex)", path, brief(pre));
  }
  const std::optional<PreTokenizer> kind = pre_tokenizer_for_regexes(regexes);
  if (!kind) {
    fail("{}: unsupported pre_tokenizer Split regex {} (supported: the Qwen2, GPT-4o and Kimi K2 regexes and "
         "DeepSeek-V3's three, character for character as their tokenizer files write them)", path,
         regexes.size() == 1 ? json(regexes[0]).dump() : json(regexes).dump());
  }
  return *kind;
}

void check_model(const json& model, const std::string& path) {
  if (!model.is_object()) fail("{}: missing 'model'", path);
  if (type_of(model) != "BPE") {
    fail("{}: unsupported tokenizer model type '{}' (only byte-level BPE is supported)", path,
         model.contains("type") ? brief(model["type"]) : "none");
  }
  if (flag(model, "byte_fallback", false)) fail("{}: BPE byte_fallback is not supported", path);
  for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
    if (model.contains(key) && !model[key].is_null() && !model[key].get<std::string>().empty()) {
      fail("{}: BPE {} is not supported", path, key);
    }
  }
  if (model.contains("dropout") && !model["dropout"].is_null() && model["dropout"].get<double>() != 0.0) {
    fail("{}: BPE dropout is not supported", path);
  }
  if (!model.contains("vocab") || !model["vocab"].is_object()) fail("{}: missing 'model.vocab'", path);
  if (!model.contains("merges") || !model["merges"].is_array()) fail("{}: missing 'model.merges'", path);
}

// Merges are written as "left right" (older files) or ["left", "right"].
std::pair<std::string, std::string> parse_merge(const json& merge, const std::string& path) {
  if (merge.is_array() && merge.size() == 2) return {merge[0].get<std::string>(), merge[1].get<std::string>()};
  if (merge.is_string()) {
    const std::string s = merge.get<std::string>();
    const size_t space = s.find(' ');
    if (space != std::string::npos && s.find(' ', space + 1) == std::string::npos) {
      return {s.substr(0, space), s.substr(space + 1)};
    }
  }
  fail("{}: malformed merge {}", path, brief(merge));
}

// bos_token / eos_token are a string, an AddedToken object or null.
std::optional<std::string> config_token(const json& config, const char* key) {
  auto it = config.find(key);
  if (it == config.end() || it->is_null()) return std::nullopt;
  if (it->is_object()) return it->at("content").get<std::string>();
  return it->get<std::string>();
}

// chat_template is a string or a list of {name, template}; take "default"
// (or the first one) from a list.
std::string config_chat_template(const json& config) {
  auto it = config.find("chat_template");
  if (it == config.end() || it->is_null()) return {};
  if (it->is_string()) return it->get<std::string>();
  for (const json& entry : *it) {
    if (entry.value("name", "") == "default") return entry.at("template").get<std::string>();
  }
  return it->empty() ? std::string() : it->front().at("template").get<std::string>();
}

void load_tokenizer_json(Tokenizer::Impl& impl, const std::string& path) {
  const json root = read_json(path);
  if (!root.is_object()) fail("{}: not a tokenizer.json (expected a JSON object)", path);
  const json& model = root.contains("model") ? root["model"] : json();
  check_model(model, path);
  check_normalizer(root.value("normalizer", json()), path, impl.nfc);
  impl.pre_tokenizer = check_pre_tokenizer(root.value("pre_tokenizer", json()), path);
  const json decoder = root.value("decoder", json());
  if (type_of(decoder) != "ByteLevel") fail("{}: unsupported decoder {} (supported: ByteLevel)", path, brief(decoder));
  impl.ignore_merges = flag(model, "ignore_merges", false);

  constexpr int64_t kMaxId = 1 << 24;
  // Only integers: a float converted to an integer type out of range is undefined behaviour.
  auto check_id = [&](const json& id, const std::string& token) {
    if (!id.is_number_integer() || id.get<int64_t>() < 0 || id.get<int64_t>() >= kMaxId) {
      fail("{}: token '{}' has an invalid id {}", path, token, id.dump());
    }
    return id.get<size_t>();
  };
  size_t size = 0;
  for (const auto& [token, id] : model["vocab"].items()) size = std::max(size, check_id(id, token) + 1);
  const json added = root.value("added_tokens", json::array());
  for (const json& t : added) size = std::max(size, check_id(t.at("id"), t.at("content").get<std::string>()) + 1);

  // Ids nobody uses become unused placeholders, as llama.cpp's converter
  // writes them. Real vocabularies leave few; one far-off id would make
  // millions (24 s to load one that fuzzing made), so they are bounded.
  constexpr size_t kMaxUnusedIds = 1 << 16;
  const size_t defined = model["vocab"].size() + added.size();
  if (size > defined + kMaxUnusedIds) {
    fail("{}: token ids run to {} but only {} are defined (at most {} ids may be left unused)", path, size - 1,
         defined, kMaxUnusedIds);
  }
  impl.vocab.assign(size, std::string());
  impl.types.assign(size, kTokenUnused);
  std::vector<bool> seen(size, false);
  for (const auto& [token, id] : model["vocab"].items()) {
    const size_t i = id.get<size_t>();
    if (seen[i]) fail("{}: token id {} is used twice in model.vocab", path, i);
    seen[i] = true;
    impl.vocab[i] = token;
    impl.types[i] = kTokenNormal;
  }
  for (const json& t : added) {
    AddedToken token;
    token.content = t.at("content").get<std::string>();
    token.id = t.at("id").get<int32_t>();
    token.special = flag(t, "special", false);
    token.lstrip = flag(t, "lstrip", false);
    token.rstrip = flag(t, "rstrip", false);
    token.normalized = flag(t, "normalized", !token.special);
    seen[token.id] = true;
    impl.vocab[token.id] = token.content;
    impl.types[token.id] = token.special ? kTokenControl : kTokenUserDefined;
    impl.added.push_back(std::move(token));
  }
  for (size_t i = 0; i < size; ++i) {
    if (!seen[i]) impl.vocab[i] = "[PAD" + std::to_string(i) + "]";
  }

  std::vector<std::pair<std::string, std::string>> merge_pairs;
  merge_pairs.reserve(model["merges"].size());
  impl.merges.reserve(model["merges"].size());
  for (const json& m : model["merges"]) {
    merge_pairs.push_back(parse_merge(m, path));
    impl.merges.push_back(merge_pairs.back().first + " " + merge_pairs.back().second);
  }
  impl.finish(merge_pairs);
}

void load_tokenizer_config(Tokenizer::Impl& impl, const std::string& path) {
  const json config = read_json(path);
  if (!config.is_object()) fail("{}: not a tokenizer_config.json (expected a JSON object)", path);
  auto id_of = [&](const char* key) -> std::optional<int32_t> {
    const std::optional<std::string> token = config_token(config, key);
    if (!token) return std::nullopt;
    auto it = impl.token_ids.find(*token);
    if (it == impl.token_ids.end()) fail("{}: {} '{}' is not in the vocabulary", path, key, *token);
    return it->second;
  };
  impl.bos = id_of("bos_token");
  if (auto eos = id_of("eos_token")) impl.eos.push_back(*eos);
  impl.add_bos = flag(config, "add_bos_token", false);
  impl.chat_template = config_chat_template(config);
  // Newer models ship the template as chat_template.jinja beside the config
  // (transformers reads it from there).
  const std::filesystem::path jinja = std::filesystem::path(path).parent_path() / "chat_template.jinja";
  if (impl.chat_template.empty() && std::filesystem::exists(jinja)) {
    std::ifstream in(jinja, std::ios::binary);
    impl.chat_template.assign(std::istreambuf_iterator<char>(in), {});
  }
}

// tokenization_kimi.py reserves this many special ids after the ranked tokens.
constexpr int32_t kTiktokenReservedSpecialTokens = 256;

void load_tiktoken_model(Tokenizer::Impl& impl, const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("{}: cannot open file", path);
  std::vector<std::string> bytes_by_rank;
  std::vector<bool> seen;
  size_t line_number = 0;
  for (std::string line; std::getline(in, line);) {
    ++line_number;
    if (line.empty()) continue;
    const size_t space = line.find(' ');
    const std::optional<std::string> bytes = space == std::string::npos ? std::nullopt : base64::decode(line.substr(0, space));
    int64_t rank = -1;
    try {
      size_t used = 0;
      rank = std::stoll(line.substr(space + 1), &used);
      if (used != line.size() - space - 1) rank = -1;
    } catch (const std::exception&) {
    }
    if (!bytes || bytes->empty() || rank < 0 || rank >= (1 << 24)) {
      fail("{}:{}: expected 'base64-token rank', got '{}'", path, line_number, line.substr(0, 80));
    }
    if (static_cast<size_t>(rank) >= bytes_by_rank.size()) {
      bytes_by_rank.resize(rank + 1);
      seen.resize(rank + 1, false);
    }
    if (seen[rank]) fail("{}:{}: rank {} is used twice", path, line_number, rank);
    seen[rank] = true;
    bytes_by_rank[rank] = *bytes;
  }
  for (size_t rank = 0; rank < seen.size(); ++rank) {
    if (!seen[rank]) fail("{}: rank {} is missing (ranks must be 0..{} without gaps)", path, rank, seen.size() - 1);
  }
  if (bytes_by_rank.empty()) fail("{}: no tokens", path);
  impl.ranked_tokens = static_cast<int32_t>(bytes_by_rank.size());
  impl.vocab.reserve(bytes_by_rank.size() + kTiktokenReservedSpecialTokens);
  for (const std::string& bytes : bytes_by_rank) impl.vocab.push_back(byte_level::encode(bytes));
  impl.types.assign(impl.vocab.size(), kTokenNormal);
}

// The special tokens of tokenizer_config.json's added_tokens_decoder
// ({"163584": {"content": "[BOS]", "special": true, ...}}), which must all lie
// past the ranked tokens; the rest of the reserved ids are named
// <|reserved_token_ID|>.
void load_tiktoken_special_tokens(Tokenizer::Impl& impl, const std::string& path) {
  const json config = read_json(path);
  if (!config.is_object()) fail("{}: not a tokenizer_config.json (expected a JSON object)", path);
  const json decoder = config.value("added_tokens_decoder", json::object());
  if (!decoder.is_object()) fail("{}: added_tokens_decoder is not an object", path);
  const int32_t first = impl.ranked_tokens;
  const int32_t end = first + kTiktokenReservedSpecialTokens;
  std::map<int32_t, json> named;
  for (const auto& [key, token] : decoder.items()) {
    int32_t id = -1;
    try {
      size_t used = 0;
      id = std::stoi(key, &used);
      if (used != key.size()) id = -1;
    } catch (const std::exception&) {
    }
    // Kimi K2's tokenization_kimi.py has exactly this many special ids after the ranked tokens.
    if (id < first || id >= first + kTiktokenReservedSpecialTokens) {
      fail("{}: added_tokens_decoder id '{}' is not one of the {} special ids after the {} tokens of tiktoken.model",
           path, key, kTiktokenReservedSpecialTokens, first);
    }
    named[id] = token;
  }
  for (int32_t id = first; id < end; ++id) {
    AddedToken token;
    token.id = id;
    token.special = true;
    if (auto it = named.find(id); it != named.end()) {
      token.content = it->second.at("content").get<std::string>();
      token.special = flag(it->second, "special", true);
      token.lstrip = flag(it->second, "lstrip", false);
      token.rstrip = flag(it->second, "rstrip", false);
    } else {
      token.content = "<|reserved_token_" + std::to_string(id) + "|>";
    }
    impl.vocab.push_back(token.content);
    impl.types.push_back(token.special ? kTokenControl : kTokenUserDefined);
    impl.added.push_back(std::move(token));
  }
}

}  // namespace

std::unique_ptr<Tokenizer> Tokenizer::from_hf(const std::string& tokenizer_json_path,
                                              const std::string& tokenizer_config_path) {
  const std::filesystem::path tiktoken = std::filesystem::path(tokenizer_json_path).parent_path() / "tiktoken.model";
  if (!std::filesystem::exists(tokenizer_json_path) && std::filesystem::exists(tiktoken)) {
    return from_tiktoken(tiktoken.string(), tokenizer_config_path);
  }
  auto impl = std::make_unique<Impl>();
  impl->source = tokenizer_json_path;
  std::string reading = tokenizer_json_path;
  try {
    load_tokenizer_json(*impl, tokenizer_json_path);
    if (!tokenizer_config_path.empty()) {
      reading = tokenizer_config_path;
      load_tokenizer_config(*impl, tokenizer_config_path);
    }
  } catch (const json::exception& e) {
    fail("{}: unexpected content ({})", reading, e.what());
  }
  impl->add_end_tokens();
  return std::unique_ptr<Tokenizer>(new Tokenizer(std::move(impl)));
}

std::unique_ptr<Tokenizer> Tokenizer::from_tiktoken(const std::string& tiktoken_model_path,
                                                    const std::string& tokenizer_config_path) {
  if (tokenizer_config_path.empty()) {
    fail("{}: a tiktoken vocabulary needs its tokenizer_config.json (for the special tokens)", tiktoken_model_path);
  }
  auto impl = std::make_unique<Impl>();
  impl->source = tiktoken_model_path;
  impl->nfc = false;
  impl->pre_tokenizer = PreTokenizer::kKimiK2;
  load_tiktoken_model(*impl, tiktoken_model_path);
  try {
    load_tiktoken_special_tokens(*impl, tokenizer_config_path);
    impl->finish({});
    load_tokenizer_config(*impl, tokenizer_config_path);
  } catch (const json::exception& e) {
    fail("{}: unexpected content ({})", tokenizer_config_path, e.what());
  }
  impl->add_end_tokens();
  return std::unique_ptr<Tokenizer>(new Tokenizer(std::move(impl)));
}

}  // namespace strata
