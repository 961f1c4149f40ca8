#pragma once
// Extracts tool calls from model output (the content part, after reasoning
// has been split off) into OpenAI tool_calls:
//   Hermes/Qwen3: <tool_call>{"name": ..., "arguments": {...}}</tool_call>
//   Kimi-K2: <|tool_calls_section_begin|><|tool_call_begin|>functions.NAME:IDX
//            <|tool_call_argument_begin|>{json}<|tool_call_end|>...<|tool_calls_section_end|>
//            (ids are functions.NAME:IDX; the singular <|tool_call_section_begin|>
//            spelling, calls outside a section and calls missing <|tool_call_end|>
//            before the next call or the section's end are accepted, as vLLM
//            and llama.cpp do; unparsable ids or arguments stay content)
//   MiniMax-M2: <minimax:tool_call>\n<invoke name="NAME">\n<parameter name="K">V</parameter>\n
//               ...</invoke>\n...</minimax:tool_call>
// Text around calls stays content; a call whose body cannot be parsed is
// left in the content verbatim, never dropped. Section markers and the
// whitespace between calls inside a section are markup; other text inside a
// section is content.
//
// MiniMax-M2 parameter values are text; like vLLM's minimax_m2 parser they
// are converted by the JSON-schema types the request's tool declares for
// them (anyOf/oneOf/allOf, type lists and enum values included), trying
// integer, number, boolean, object/array, then string; "null", "none" and
// "nil" are null. Names may be quoted. An invoke is malformed (left as
// content) when its name is empty or not closed by '>', or when its body
// holds anything but whitespace and complete <parameter name=K>V</parameter>
// elements.
//
// Streaming and whole-text parsing share one state machine, so the streamed
// deltas always add up to the whole-text result. A call is emitted once its
// closing tag arrives, as vLLM's clients expect: first a delta with id, name
// and empty arguments, then a delta with the arguments.
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <memory>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace strata {

enum class ToolCallFormat { Hermes, KimiK2, MiniMaxM2 };

struct ToolCall {
  std::string id;
  std::string name;
  std::string arguments;  // a JSON object as a string
};

// One tool_calls[] entry of a streamed chunk: `id` and `name` are set only in
// the first delta of a call, later deltas carry argument text.
struct ToolCallDelta {
  int index = 0;
  std::string id;
  std::string name;
  std::string arguments;
};

struct ToolCallStreamDelta {
  std::string content;
  std::vector<ToolCallDelta> tool_calls;
};

struct ParsedToolCalls {
  std::string content;
  std::vector<ToolCall> tool_calls;
};

class ToolCallParser {
 public:
  // make_id makes ids for formats whose markup carries none (Hermes);
  // defaults to vLLM's "chatcmpl-tool-<32 hex>".
  explicit ToolCallParser(ToolCallFormat format, std::function<std::string()> make_id = {});
  // tools: the request's OpenAI `tools` array (or null), whose parameter
  // schemas type MiniMax-M2 values; without it values are JSON if they
  // parse, else strings.
  ToolCallParser(ToolCallFormat format, const nlohmann::ordered_json& tools, std::function<std::string()> make_id = {});

  // vLLM's --tool-call-parser names: "hermes" and "qwen3" → Hermes, "kimi_k2" → KimiK2,
  // "minimax_m2" → MiniMaxM2.
  static std::optional<ToolCallFormat> format_named(std::string_view name);
  // The format a chat template teaches the model, from its markup; null if none.
  static std::optional<ToolCallFormat> format_in_template(std::string_view chat_template);
  // The markers that open a section of calls (Kimi-K2: both spellings; none for Hermes).
  static std::vector<std::string_view> section_openers(ToolCallFormat format);
  // Every marker the format's markup uses.
  static std::vector<std::string_view> marker_strings(ToolCallFormat format);

  ToolCallStreamDelta feed(std::string_view text);
  ToolCallStreamDelta finish();

  // Whole output at once (a fresh state; ids come from make_id).
  ParsedToolCalls parse(std::string_view text) const;

 private:
  struct Markers {
    std::string_view call_open, call_close, section_open, section_close;
    std::string_view section_open_alt, section_close_alt;  // other spellings (Kimi-K2)
    std::string_view argument_begin;                       // Kimi-K2: between a call's id and its arguments
    bool calls_need_section = false;  // MiniMax-M2: an invoke outside <minimax:tool_call> is text
    bool call_ends_early = false;     // Kimi-K2: a call also ends where the section closes or the next call begins
  };
  static Markers markers_of(ToolCallFormat format);
  void process(ToolCallStreamDelta& out);
  std::optional<ToolCall> parse_call_body(std::string_view body) const;
  std::optional<ToolCall> parse_minimax_invoke(std::string_view body) const;

  ToolCallFormat format_;
  Markers markers_;
  std::function<std::string()> make_id_;
  std::shared_ptr<const nlohmann::ordered_json> tools_;  // null when the request declared none
  bool in_call_ = false;
  bool in_section_ = false;  // between section markers (Kimi-K2, MiniMax-M2)
  int next_index_ = 0;
  std::string pending_;
};

}  // namespace strata
