#include "tools/gguf_layout.h"

#include <fmt/format.h>

#include "core/error.h"
#include "formats/gguf.h"
#include "model/arch.h"
#include "tools/kimi_tokenizer.h"
#include "tokenizer/tokenizer.h"

namespace strata {

std::vector<TensorSpec> plan_tensors(const ModelConfig& c) { return arch_of(c).tensors(c); }

void write_gguf_metadata(GGUFWriter& w, const ModelConfig& c, const Tokenizer& tok, const std::string& name,
                         uint32_t file_type) {
  const ArchSpec& spec = arch_of(c);
  const std::string arch(spec.gguf_arch);
  auto key = [&](const char* k) { return arch + "." + k; };
  auto u32 = [](int64_t v) { return uint32_t(v); };

  w.set_string("general.architecture", arch);
  w.set_string("general.name", name);
  w.set_u32("general.file_type", file_type);
  w.set_u32(key("context_length"), u32(c.max_position_embeddings));
  w.set_u32(key("embedding_length"), u32(c.hidden_size));
  w.set_u32(key("block_count"), u32(c.num_hidden_layers));
  w.set_u32(key("attention.head_count"), u32(c.num_attention_heads));
  if (c.is_mla()) {  // llama.cpp caches MLA as one KV head: the latent row, its first kv_lora_rank the value
    w.set_u32(key("attention.head_count_kv"), 1);
    w.set_u32(key("attention.key_length"), u32(c.kv_key_floats()));
    w.set_u32(key("attention.value_length"), u32(c.kv_lora_rank));
  } else {
    w.set_u32(key("attention.head_count_kv"), u32(c.num_key_value_heads));
    w.set_u32(key("attention.key_length"), u32(c.head_dim));
    w.set_u32(key("attention.value_length"), u32(c.head_dim));
  }
  w.set_f32(key("rope.freq_base"), float(c.rope_theta));
  w.set_u32(key("rope.dimension_count"), u32(c.rope_dims()));
  w.set_f32(key("attention.layer_norm_rms_epsilon"), float(c.rms_norm_eps));
  spec.write_gguf(c, w);

  // Vocabulary, padded to the embedding size as llama.cpp's converter does.
  std::vector<std::string> tokens = tok.vocab_strings();
  const auto& types = tok.vocab_types();
  std::vector<int32_t> token_types(types.begin(), types.end());
  if (int64_t(tokens.size()) > c.vocab_size) {
    fail("gguf: the tokenizer has {} tokens, more than vocab_size {}", tokens.size(),
         c.vocab_size);
  }
  constexpr int32_t kUnusedTokenType = 5;
  for (int64_t i = int64_t(tokens.size()); i < c.vocab_size; ++i) {
    tokens.push_back(fmt::format("[PAD{}]", i));
    token_types.push_back(kUnusedTokenType);
  }
  w.set_string("tokenizer.ggml.model", "gpt2");
  w.set_string("tokenizer.ggml.pre", std::string(tok.gguf_pre()));
  w.set_strings("tokenizer.ggml.tokens", tokens);
  w.set_i32s("tokenizer.ggml.token_type", token_types);
  // A tiktoken vocabulary (Kimi K2) has no merge list: derive one, as
  // llama.cpp's converter does, since llama.cpp merges nothing without it.
  w.set_strings("tokenizer.ggml.merges",
                tok.merges().empty() && tok.gguf_pre() == "kimi-k2" ? merges_from_ranks(tok) : tok.merges());
  if (c.eos_token_id >= 0) w.set_u32("tokenizer.ggml.eos_token_id", u32(c.eos_token_id));
  if (c.bos_token_id >= 0) {
    w.set_u32("tokenizer.ggml.bos_token_id", u32(c.bos_token_id));
    w.set_u32("tokenizer.ggml.padding_token_id", u32(c.bos_token_id));
  }
  w.set_bool("tokenizer.ggml.add_bos_token", false);
  if (!tok.chat_template().empty()) w.set_string("tokenizer.chat_template", tok.chat_template());
}

}  // namespace strata
