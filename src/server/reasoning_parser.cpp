#include "server/reasoning_parser.h"

#include <algorithm>

namespace strata {

namespace {

constexpr std::string_view kThinkOpen = ReasoningParser::kOpenTag;
constexpr std::string_view kThinkClose = ReasoningParser::kCloseTag;

bool is_space(char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }

// Length of the longest suffix of `text` that is a proper prefix of `tag`:
// those bytes may be the start of a tag split across chunks.
size_t partial_tag_suffix(std::string_view text, std::string_view tag) {
  for (size_t n = std::min(text.size(), tag.size() - 1); n > 0; --n)
    if (text.substr(text.size() - n) == tag.substr(0, n)) return n;
  return 0;
}

}  // namespace

ReasoningParser::ReasoningParser(bool starts_in_reasoning, std::vector<std::string_view> implicit_ends)
    : starts_in_reasoning_(starts_in_reasoning),
      implicit_ends_(std::move(implicit_ends)),
      state_(starts_in_reasoning ? State::Reasoning : State::BeforeOutput),
      saw_reasoning_(starts_in_reasoning) {}

bool ReasoningParser::prompt_opens_reasoning(std::string_view prompt) {
  size_t open = prompt.rfind(kThinkOpen);
  if (open == std::string_view::npos) return false;
  return prompt.find(kThinkClose, open) == std::string_view::npos;
}

void ReasoningParser::process(ReasoningDelta& out) {
  while (!pending_.empty()) {
    if (state_ == State::BeforeOutput) {
      // Only a <think> that starts the output (after whitespace) opens reasoning.
      size_t first = 0;
      while (first < pending_.size() && is_space(pending_[first])) ++first;
      std::string_view rest = std::string_view(pending_).substr(first);
      if (rest.substr(0, kThinkOpen.size()) == kThinkOpen) {
        pending_.erase(0, first + kThinkOpen.size());
        state_ = State::Reasoning;
        saw_reasoning_ = true;
        continue;
      }
      if (kThinkOpen.substr(0, rest.size()) == rest) return;  // could still become <think>
      state_ = State::Content;
      continue;
    }
    if (state_ == State::Content) {
      out.content += pending_;
      pending_.clear();
      return;
    }
    size_t close = pending_.find(kThinkClose);
    if (close != std::string::npos) {
      out.reasoning.append(pending_, 0, close);
      pending_.erase(0, close + kThinkClose.size());
      state_ = State::Content;
      continue;
    }
    size_t implicit_end = std::string::npos;
    for (std::string_view end : implicit_ends_) implicit_end = std::min(implicit_end, pending_.find(end));
    if (implicit_end != std::string::npos) {
      out.reasoning.append(pending_, 0, implicit_end);
      pending_.erase(0, implicit_end);  // the marker is content
      state_ = State::Content;
      continue;
    }
    size_t keep = partial_tag_suffix(pending_, kThinkClose);
    for (std::string_view end : implicit_ends_) keep = std::max(keep, partial_tag_suffix(pending_, end));
    out.reasoning.append(pending_, 0, pending_.size() - keep);
    pending_.erase(0, pending_.size() - keep);
    return;
  }
}

ReasoningDelta ReasoningParser::feed(std::string_view text) {
  ReasoningDelta out;
  pending_ += text;
  process(out);
  return out;
}

ReasoningDelta ReasoningParser::finish() {
  ReasoningDelta out;
  if (state_ == State::Reasoning)
    out.reasoning = std::move(pending_);
  else
    out.content = std::move(pending_);
  pending_.clear();
  return out;
}

ReasoningDelta ReasoningParser::parse(std::string_view text) const {
  ReasoningParser fresh(starts_in_reasoning_, implicit_ends_);
  ReasoningDelta all = fresh.feed(text);
  ReasoningDelta tail = fresh.finish();
  all.reasoning += tail.reasoning;
  all.content += tail.content;
  return all;
}

}  // namespace strata
