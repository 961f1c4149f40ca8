#pragma once
// Upper bounds on what one request may ask of the server, so that no single
// request makes it do unbounded work; past them a request is refused with
// 400 naming the field. (The body size is --max-request-bytes, the prompt
// plus max_tokens the context length, the number of waiting choices
// --max-queued-requests.)
#include <cstdint>

namespace strata::request_limits {

inline constexpr int64_t kMaxChoices = 128;         // n
inline constexpr int64_t kMaxLogprobs = 20;         // logprobs, top_logprobs (OpenAI's)
inline constexpr int64_t kMaxStopStrings = 64;      // checked against every new token's text
inline constexpr int64_t kMaxStopStringBytes = 1024;
inline constexpr int64_t kMaxStopTokenIds = 1024;
inline constexpr int64_t kMaxTools = 128;           // each is rendered into the prompt
// The model's chat template (a request cannot bring its own): the largest
// published ones are tens of KiB; a larger one is refused at start-up.
inline constexpr int64_t kMaxChatTemplateBytes = 1 << 20;

}  // namespace strata::request_limits
