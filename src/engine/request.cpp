#include "engine/request.h"

#include "core/error.h"
#include "core/service_errors.h"

namespace strata {

void GenerationParams::validate() const {
  sampling.validate();
  penalties.validate();
  if (max_tokens < 1) refuse("max_tokens must be at least 1 (got {})", max_tokens);
  if (min_tokens < 0 || min_tokens > max_tokens) {
    refuse("min_tokens must be between 0 and max_tokens {} (got {})", max_tokens, min_tokens);
  }
  for (const std::string& s : stop) {
    if (s.empty()) refuse("stop strings must not be empty");
  }
  if (logprobs && *logprobs < 0) refuse("logprobs must be >= 0 (got {})", *logprobs);
}

const char* to_string(FinishReason reason) {
  switch (reason) {
    case FinishReason::Stop: return "stop";
    case FinishReason::Length: return "length";
    case FinishReason::Abort: return "abort";
  }
  return "?";
}

std::optional<StreamEvent> RequestStream::next() {
  std::unique_lock lock(mutex_);
  ready_.wait(lock, [&] { return !events_.empty() || finished_; });
  if (events_.empty()) return std::nullopt;
  StreamEvent event = std::move(events_.front());
  events_.pop_front();
  return event;
}

std::optional<StreamEvent> RequestStream::try_next() {
  std::lock_guard lock(mutex_);
  if (events_.empty()) return std::nullopt;
  StreamEvent event = std::move(events_.front());
  events_.pop_front();
  return event;
}

bool RequestStream::finished() const {
  std::lock_guard lock(mutex_);
  return finished_;
}

void RequestStream::push(StreamEvent event) {
  {
    std::lock_guard lock(mutex_);
    finished_ = finished_ || event.finish.has_value();
    events_.push_back(std::move(event));
  }
  ready_.notify_all();
}

}  // namespace strata
