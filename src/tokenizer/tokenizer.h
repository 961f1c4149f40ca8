#pragma once
// Byte-level BPE tokenizer (GPT-2 / Qwen style), loaded from a Hugging Face
// tokenizer.json, from a tiktoken.model (Kimi K2) or from the vocabulary
// embedded in a GGUF file.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace strata {

class GGUFFile;

class Tokenizer {
 public:
  // tokenizer_config_path may be empty; when given, its chat_template,
  // bos/eos tokens and add_bos_token are read. A folder without
  // tokenizer.json but with a tiktoken.model (Kimi K2) loads that instead,
  // with from_tiktoken, so HF model folders of either kind load the same way.
  static std::unique_ptr<Tokenizer> from_hf(const std::string& tokenizer_json_path,
                                            const std::string& tokenizer_config_path);
  // A tiktoken vocabulary ("base64(token bytes) rank" per line; ids are
  // ranks) with Kimi K2's pre-tokenizer, and its tokenizer_config.json
  // (required: its added_tokens_decoder names the special tokens). Every id
  // from the first unranked one up to 256 past it is a special token;
  // unnamed ones are "<|reserved_token_ID|>", as tokenization_kimi.py does.
  static std::unique_ptr<Tokenizer> from_tiktoken(const std::string& tiktoken_model_path,
                                                  const std::string& tokenizer_config_path);
  static std::unique_ptr<Tokenizer> from_gguf(const GGUFFile& gguf);
  ~Tokenizer();

  // Special/added tokens written in the text are recognised when parse_special
  // (non-special added tokens, like <think>, always are). No BOS is added
  // (see add_bos()). Invalid UTF-8 is first replaced by U+FFFD per maximal
  // invalid subpart, as a JavaScript/Python string decoded from it would hold.
  std::vector<int32_t> encode(std::string_view text, bool parse_special = true) const;
  // A prompt's ids: BOS first when the tokenizer asks for it (add_bos()), then encode(text).
  std::vector<int32_t> encode_prompt(std::string_view text) const;
  std::string decode(const std::vector<int32_t>& ids, bool skip_special = false) const;
  // The raw bytes a token stands for (may be an incomplete UTF-8 sequence).
  std::string token_bytes(int32_t id) const;
  std::optional<int32_t> token_id(std::string_view token) const;  // by its vocabulary string
  int32_t vocab_size() const;  // number of ids known (base vocabulary + added tokens)
  bool is_special(int32_t id) const;

  std::optional<int32_t> bos_id() const;
  // The eos token (tokenizer_config's eos_token; GGUF's eos/eot/eom ids) first,
  // then whichever of <|im_end|>, <|endoftext|>, <|eot_id|>, <|eom_id|> and
  // <|end_of_text|> are added tokens of this vocabulary.
  std::vector<int32_t> eos_ids() const;
  bool add_bos() const;
  const std::string& chat_template() const;
  // Replaces the template (synth writes a model with another one).
  void set_chat_template(std::string source);
  // GGUF's tokenizer.ggml.pre for this pre-tokenizer ("qwen2", "gpt-4o",
  // "kimi-k2" or "deepseek-v3"), as llama.cpp's converter writes it.
  std::string_view gguf_pre() const;

  // The vocabulary as GGUF stores it, for writers: token strings in id order
  // (byte-level encoded as in tokenizer.json), GGUF token types
  // (1 normal, 3 control, 4 user-defined; 5 unused for ids tokenizer.json
  // leaves out, named "[PAD<id>]"), and merges "a b" in rank order (none
  // for tiktoken vocabularies, whose ranks are their ids; GGUF writers
  // derive them for llama.cpp with merges_from_ranks, tools/kimi_tokenizer.h).
  const std::vector<std::string>& vocab_strings() const;
  const std::vector<int32_t>& vocab_types() const;
  const std::vector<std::string>& merges() const;

  struct Impl;

 private:
  explicit Tokenizer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Turns a stream of token ids into text, holding back bytes until they form
// complete UTF-8 characters, so a streamed reply never shows a broken
// character. Invalid sequences come out as U+FFFD.
class StreamDecoder {
 public:
  explicit StreamDecoder(const Tokenizer& tokenizer, bool skip_special = false);
  std::string push(int32_t id);  // text that became complete with this token
  std::string flush();           // whatever is left, with U+FFFD for a broken tail

 private:
  const Tokenizer& tokenizer_;
  bool skip_special_;
  std::string pending_;
};

}  // namespace strata
