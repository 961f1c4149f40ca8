#include "tools/kimi_tokenizer.h"

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <unordered_map>
#include <utility>

#include "core/error.h"
#include "tokenizer/base64.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/tokenizer_impl.h"

namespace strata {

namespace {

// Kimi K2's named special tokens, by offset from the first special id
// (163584 in the real vocabulary: [BOS] 163584 ... [PAD] 163839).
constexpr std::pair<int32_t, const char*> kKimiSpecialTokens[] = {
    {0, "[BOS]"},
    {1, "[EOS]"},
    {2, "<|im_end|>"},
    {3, "<|im_user|>"},
    {4, "<|im_assistant|>"},
    {6, "<|start_header_id|>"},
    {7, "<|end_header_id|>"},
    {9, "[EOT]"},
    {10, "<|im_system|>"},
    {11, "<|tool_calls_section_begin|>"},
    {12, "<|tool_calls_section_end|>"},
    {13, "<|tool_call_begin|>"},
    {14, "<|tool_call_argument_begin|>"},
    {15, "<|tool_call_end|>"},
    {17, "<|im_middle|>"},
    {18, "<|media_begin|>"},
    {19, "<|media_content|>"},
    {20, "<|media_end|>"},
    {21, "<|media_pad|>"},
    {22, "<think>"},
    {23, "</think>"},
    {254, "[UNK]"},
    {255, "[PAD]"},
};

}  // namespace

const std::string& kimi_k2_thinking_chat_template() {
  static const std::string kTemplate = R"jinja({%- macro render_content(msg) -%}
    {%- set c = msg.get('content') -%}
    {%- if c is string -%}
      {{ c }}
    {%- elif c is not none -%}
      {% for content in c -%}
        {% if content['type'] == 'image' or 'image' in content or 'image_url' in content -%}
          <|media_start|>image<|media_content|><|media_pad|><|media_end|>
        {% else -%}
          {{ content['text'] }}
        {%- endif -%}
      {%- endfor -%}
    {%- endif -%}
{%- endmacro -%}

{% macro set_roles(message) -%}
  {%- set role_name =  message.get('name') or  message['role'] -%}
  {%- if message['role'] == 'user' -%}
    <|im_user|>{{role_name}}<|im_middle|>
  {%- elif message['role'] == 'assistant' -%}
    <|im_assistant|>{{role_name}}<|im_middle|>
  {%- else -%}
    <|im_system|>{{role_name}}<|im_middle|>
  {%- endif -%}
{%- endmacro -%}

{%- set tool_response_queue = namespace(ids=[]) -%}
{%- set tool_call_counter = namespace(value=0) -%}

{%- macro render_toolcalls(message) -%}
  <|tool_calls_section_begin|>
  {%- for tool_call in message['tool_calls'] -%}
    {%- set formatted_id = 'functions.' + tool_call['function']['name'] + ':' + (tool_call_counter.value | string) -%}
    {%- set tool_call_counter.value = tool_call_counter.value + 1 -%}
    {%- set _ = tool_response_queue.ids.append(formatted_id) -%}
    <|tool_call_begin|>{{ formatted_id }}<|tool_call_argument_begin|>{% if tool_call['function']['arguments'] is string %}{{ tool_call['function']['arguments'] }}{% else %}{{ tool_call['function']['arguments'] | tojson }}{% endif %}<|tool_call_end|>
  {%- endfor -%}
  <|tool_calls_section_end|>
{%- endmacro -%}


{# Find last non-tool-call assisitant message #}
{%- set ns = namespace(last_non_tool_call_assistant_msg=-1) -%}
{%- for idx in range(messages|length-1, -1, -1) -%}
    {%- if messages[idx]['role'] == 'assistant' and not messages[idx].get('tool_calls') -%}
        {%- set ns.last_non_tool_call_assistant_msg = idx -%}
    {%- endif -%}
{%- endfor -%}

{# split all messages into history & suffix, reasoning_content in suffix should be reserved.#}
{%- set hist_msgs = messages[:ns.last_non_tool_call_assistant_msg+1] -%}
{%- set suffix_msgs = messages[ns.last_non_tool_call_assistant_msg+1:] -%}

{%- if tools -%}
  <|im_system|>tool_declare<|im_middle|>{{ tools | tojson }}<|im_end|>
{%- endif -%}

{%- if messages|length == 0 or messages[0]['role'] != 'system' -%}
  <|im_system|>system<|im_middle|>You are Kimi, an AI assistant created by Moonshot AI.<|im_end|>
{%- endif -%}

{%- for message in hist_msgs -%}
  {{set_roles(message)}}
  {%- if message['role'] == 'assistant' -%}
    <think></think>{{render_content(message)}}
    {%- if message.get('tool_calls') -%}
      {{render_toolcalls(message)}}
    {%- endif -%}
  {%- elif message['role'] == 'tool' -%}
    {%- if tool_response_queue.ids -%}
      {%- set tool_call_id = tool_response_queue.ids.pop(0) -%}
    {%- else -%}
      {%- set tool_call_id = 'functions.' + message.get('name', 'unknown') + ':' + (tool_call_counter.value | string) -%}
    {%- endif -%}
    ## Return of {{ tool_call_id }}
{{render_content(message)}}
  {%- elif message['content'] is not none -%}
    {{render_content(message)}}
  {%- endif -%}
  <|im_end|>
{%- endfor -%}

{%- for message in suffix_msgs -%}
  {{set_roles(message)}}
  {%- if message['role'] == 'assistant' -%}
    {%- set rc = message.get('reasoning_content', '') -%}
    <think>{{rc}}</think>{{render_content(message)}}
    {%- if message.get('tool_calls') -%}
     {{render_toolcalls(message)}}
    {%- endif -%}
  {%- elif message['role'] == 'tool' -%}
    {%- if tool_response_queue.ids -%}
      {%- set tool_call_id = tool_response_queue.ids.pop(0) -%}
    {%- else -%}
      {%- set tool_call_id = 'functions.' + message.get('name', 'unknown') + ':' + (tool_call_counter.value | string) -%}
    {%- endif -%}
    ## Return of {{ tool_call_id }}
{{render_content(message)}}
  {%- elif message['content'] is not none -%}
    {{render_content(message)}}
  {%- endif -%}
  <|im_end|>
{%- endfor -%}


{%- if add_generation_prompt -%}
  <|im_assistant|>assistant<|im_middle|>
{%- endif -%}
)jinja";
  return kTemplate;
}

void write_kimi_tokenizer(const Tokenizer& base, const std::string& dir, const std::string& chat_template) {
  namespace fs = std::filesystem;
  const std::vector<int32_t>& types = base.vocab_types();
  int32_t ranked = 0;
  while (ranked < static_cast<int32_t>(types.size()) && types[ranked] == kTokenNormal) ++ranked;
  if (ranked < 256) fail("kimi tokenizer: the base vocabulary has only {} normal tokens before its first added one", ranked);

  const fs::path model_path = fs::path(dir) / "tiktoken.model";
  std::ofstream model(model_path, std::ios::binary);
  for (int32_t id = 0; id < ranked; ++id) model << base64::encode(base.token_bytes(id)) << ' ' << id << '\n';
  if (!model.flush()) fail("cannot write {}", model_path.string());

  nlohmann::ordered_json decoder = nlohmann::ordered_json::object();
  for (const auto& [offset, content] : kKimiSpecialTokens) {
    decoder[std::to_string(ranked + offset)] = {{"content", content}, {"lstrip", false}, {"normalized", false},
                                                 {"rstrip", false}, {"single_word", false}, {"special", true}};
  }
  const nlohmann::ordered_json config = {
      {"added_tokens_decoder", decoder},
      {"bos_token", "[BOS]"},
      {"eos_token", "[EOS]"},
      {"pad_token", "[PAD]"},
      {"unk_token", "[UNK]"},
      {"add_bos_token", false},
      {"tokenizer_class", "TikTokenTokenizer"},
      {"chat_template", chat_template.empty() ? kimi_k2_thinking_chat_template() : chat_template},
  };
  const fs::path config_path = fs::path(dir) / "tokenizer_config.json";
  std::ofstream out(config_path, std::ios::binary);
  out << config.dump(2) << '\n';
  if (!out.flush()) fail("cannot write {}", config_path.string());
}

std::vector<std::string> merges_from_ranks(const Tokenizer& tiktoken) {
  const std::vector<int32_t>& types = tiktoken.vocab_types();
  const std::vector<std::string>& strings = tiktoken.vocab_strings();
  int32_t ranked = 0;
  while (ranked < static_cast<int32_t>(types.size()) && types[ranked] == kTokenNormal) ++ranked;
  std::unordered_map<std::string, int32_t> rank_of;
  rank_of.reserve(size_t(ranked));
  for (int32_t id = 0; id < ranked; ++id) rank_of.emplace(tiktoken.token_bytes(id), id);
  std::vector<std::string> merges;
  std::vector<std::string> parts;
  for (int32_t rank = 0; rank < ranked; ++rank) {
    const std::string bytes = tiktoken.token_bytes(rank);
    if (bytes.size() < 2) continue;
    parts.clear();
    for (char b : bytes) parts.emplace_back(1, b);
    // tiktoken's rule, stopping before the token's own rank.
    for (;;) {
      size_t best = parts.size();
      int32_t best_rank = rank;
      for (size_t i = 0; i + 1 < parts.size(); ++i) {
        const auto it = rank_of.find(parts[i] + parts[i + 1]);
        if (it != rank_of.end() && it->second < best_rank) {
          best = i;
          best_rank = it->second;
        }
      }
      if (best == parts.size()) break;
      parts[best] += parts[best + 1];
      parts.erase(parts.begin() + std::ptrdiff_t(best) + 1);
    }
    if (parts.size() != 2) {
      fail("tiktoken ranks: token {} is not the merge of two lower-ranked tokens ({} parts remain)", rank, parts.size());
    }
    merges.push_back(strings[size_t(rank_of.at(parts[0]))] + " " + strings[size_t(rank_of.at(parts[1]))]);
  }
  return merges;
}

}  // namespace strata
