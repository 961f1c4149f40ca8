#pragma once
// A Kimi K2-style tokenizer folder for synthetic models: tiktoken.model and
// tokenizer_config.json (Kimi's special tokens and chat template), the files
// Kimi K2 Thinking ships instead of a tokenizer.json.
#include <string>
#include <vector>

namespace strata {

class Tokenizer;

// Kimi-K2-Thinking's chat template, exactly as llama.cpp's
// models/templates/Kimi-K2-Thinking.jinja holds it.
const std::string& kimi_k2_thinking_chat_template();

// Writes into the existing folder `dir`: tiktoken.model with the base
// vocabulary of `base` (its normal tokens, ids 0 up to the first added one,
// as raw bytes ranked by id), and tokenizer_config.json naming Kimi's special
// tokens at Kimi's offsets past them ([BOS] first, <|im_end|>, <|im_user|>,
// <think>, the tool-call markers...), [BOS]/[EOS] as bos/eos, and
// `chat_template` (Kimi-K2-Thinking's when empty). Tokenizer::from_hf then
// loads the folder through from_tiktoken.
void write_kimi_tokenizer(const Tokenizer& base, const std::string& dir, const std::string& chat_template = {});

// BPE merges ("left right" in byte-level strings, by rank) equivalent to a
// tiktoken vocabulary's ranks, as llama.cpp's converter derives them for
// GGUF: each ranked token of two or more bytes, encoded from its bytes with
// only the lower ranks, must end as two parts, which are its merge. llama.cpp
// merges nothing without them. Throws when a token cannot be built that way.
std::vector<std::string> merges_from_ranks(const Tokenizer& tiktoken);

}  // namespace strata
