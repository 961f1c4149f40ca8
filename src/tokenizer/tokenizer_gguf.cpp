// Tokenizer::from_gguf: the vocabulary llama.cpp embeds in a GGUF file
// (tokenizer.ggml.*). Control and user-defined tokens are the added tokens;
// control tokens are the special ones.
#include <algorithm>

#include "core/error.h"
#include "formats/gguf.h"
#include "tokenizer/tokenizer_impl.h"

namespace strata {

std::unique_ptr<Tokenizer> Tokenizer::from_gguf(const GGUFFile& gguf) {
  auto impl = std::make_unique<Impl>();
  impl->source = gguf.describe();
  const std::string& path = impl->source;

  const std::string model = gguf.get_string("tokenizer.ggml.model");
  if (model != "gpt2") {
    fail("{}: unsupported tokenizer.ggml.model '{}' (only gpt2 byte-level BPE is supported)", path, model);
  }
  // llama.cpp names the pre-tokenizer. "qwen2" is the Qwen2 regex, and the
  // Hugging Face tokenizer it comes from normalizes to NFC; "gpt-4o" and
  // "minimax-m2" are the GPT-4o regex (llama.cpp runs one splitter for both),
  // and their tokenizers have no normalizer.
  const std::string pre = gguf.get_string("tokenizer.ggml.pre", "default");
  if (pre == "qwen2") {
    impl->pre_tokenizer = PreTokenizer::kQwen2;
    impl->nfc = true;
  } else if (pre == "gpt-4o" || pre == "minimax-m2") {
    impl->pre_tokenizer = PreTokenizer::kGpt4o;
    impl->nfc = false;
  } else if (pre == "kimi-k2") {
    impl->pre_tokenizer = PreTokenizer::kKimiK2;
    impl->nfc = false;
  } else if (pre == "deepseek-v3") {
    impl->pre_tokenizer = PreTokenizer::kDeepSeekV3;
    impl->nfc = false;
  } else {
    fail("{}: unsupported tokenizer.ggml.pre '{}' (supported: qwen2, gpt-4o, minimax-m2, kimi-k2, deepseek-v3)", path,
         pre);
  }

  impl->vocab = gguf.get_strings("tokenizer.ggml.tokens");
  const size_t size = impl->vocab.size();
  if (gguf.has("tokenizer.ggml.token_type")) {
    const std::vector<int64_t>& types = gguf.get_ints("tokenizer.ggml.token_type");
    if (types.size() != size) {
      fail("{}: tokenizer.ggml.token_type has {} entries for {} tokens", path, types.size(), size);
    }
    impl->types.assign(types.begin(), types.end());
  } else {
    impl->types.assign(size, kTokenNormal);
  }
  for (size_t id = 0; id < size; ++id) {
    const int32_t type = impl->types[id];
    if (type != kTokenControl && type != kTokenUserDefined) continue;
    AddedToken token;
    token.content = impl->vocab[id];
    token.id = static_cast<int32_t>(id);
    token.special = type == kTokenControl;
    impl->added.push_back(std::move(token));
  }

  // kimi-k2 vocabularies come from tiktoken: ids are ranks, and the normal
  // tokens before the first special one merge by tiktoken's rule, so merges
  // are optional here (llama.cpp loads a file without them but then merges
  // nothing; strata's writer derives them).
  if (impl->pre_tokenizer == PreTokenizer::kKimiK2) {
    impl->ranked_tokens = static_cast<int32_t>(
        std::find_if(impl->types.begin(), impl->types.end(), [](int32_t t) { return t != kTokenNormal; }) -
        impl->types.begin());
  }
  static const std::vector<std::string> kNoMerges;
  const std::vector<std::string>& merges = impl->ranked_tokens > 0 && !gguf.has("tokenizer.ggml.merges")
                                               ? kNoMerges
                                               : gguf.get_strings("tokenizer.ggml.merges");
  std::vector<std::pair<std::string, std::string>> merge_pairs;
  merge_pairs.reserve(merges.size());
  for (const std::string& m : merges) {
    const size_t space = m.find(' ', 1);
    if (space == std::string::npos) fail("{}: malformed tokenizer.ggml.merges entry '{}'", path, m);
    merge_pairs.emplace_back(m.substr(0, space), m.substr(space + 1));
  }
  impl->merges = merges;
  impl->finish(merge_pairs);

  if (gguf.has("tokenizer.ggml.bos_token_id")) {
    impl->bos = impl->checked_id(gguf.get_int("tokenizer.ggml.bos_token_id"), "tokenizer.ggml.bos_token_id");
  }
  for (const char* key : {"tokenizer.ggml.eos_token_id", "tokenizer.ggml.eot_token_id", "tokenizer.ggml.eom_token_id"}) {
    if (!gguf.has(key)) continue;
    const int32_t id = impl->checked_id(gguf.get_int(key), key);
    if (std::find(impl->eos.begin(), impl->eos.end(), id) == impl->eos.end()) impl->eos.push_back(id);
  }
  impl->add_bos = gguf.get_bool("tokenizer.ggml.add_bos_token", false);
  impl->chat_template = gguf.get_string("tokenizer.chat_template", "");
  impl->add_end_tokens();
  return std::unique_ptr<Tokenizer>(new Tokenizer(std::move(impl)));
}

}  // namespace strata
