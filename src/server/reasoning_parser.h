#pragma once
// Splits model output into reasoning (between <think> and </think>) and
// content, like vLLM's qwen3 reasoning parser: an opening <think> at the
// start of the output is dropped; when the prompt already opened the
// reasoning (templates that end the prompt with "<think>"), the output starts
// inside it and everything before </think> is reasoning. Output that ends
// before </think> (e.g. max_tokens hit while thinking) is all reasoning.
//
// Streaming and whole-text parsing share one state machine, so the
// concatenated deltas always equal the whole-text result, however the text
// is split (tags split across tokens are held back until they resolve).
#include <string>
#include <string_view>
#include <vector>

namespace strata {

struct ReasoningDelta {
  std::string reasoning;
  std::string content;
};

class ReasoningParser {
 public:
  static constexpr std::string_view kOpenTag = "<think>";
  static constexpr std::string_view kCloseTag = "</think>";

  // starts_in_reasoning: the prompt ends inside an open <think> block; see
  // prompt_opens_reasoning(). implicit_ends: markers that also end the
  // reasoning, without </think>, and start the content (Kimi K2's tool-call
  // section, as vLLM's kimi_k2 reasoning parser reads it).
  explicit ReasoningParser(bool starts_in_reasoning = false, std::vector<std::string_view> implicit_ends = {});

  // True when the rendered prompt's last <think> is not closed.
  static bool prompt_opens_reasoning(std::string_view prompt);

  // Streaming: feed each decoded text chunk; call finish() at the end to
  // release text held back as a possible partial tag.
  ReasoningDelta feed(std::string_view text);
  ReasoningDelta finish();

  // Whole output at once (uses a fresh state with the same starting mode).
  ReasoningDelta parse(std::string_view text) const;

  // Whether any reasoning section was seen (opened by tag or by the prompt).
  bool saw_reasoning() const { return saw_reasoning_; }

 private:
  enum class State { BeforeOutput, Reasoning, Content };
  void process(ReasoningDelta& out);

  bool starts_in_reasoning_;
  std::vector<std::string_view> implicit_ends_;
  State state_;
  bool saw_reasoning_;
  std::string pending_;  // text not yet classified (may hold a partial tag)
};

}  // namespace strata
