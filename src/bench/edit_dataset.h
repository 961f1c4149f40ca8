#pragma once
// The `edit` workload, where speculative decoding pays: a request's prompt
// is a text P, then C, the model's own greedy continuation of P, then P
// again. Asked to go on, a model tends to repeat C, as an editor repeats the
// code it was given with a change or a summary quotes its source: prompt
// lookup finds the span, and a draft model or an MTP module that follows
// the target predicts it. `strata generate --edit` and
// `strata bench engine --dataset edit` build their prompts here.
#include <cstdint>
#include <vector>

namespace strata {
class Engine;
}

namespace strata::bench {

// P + C + P for each prompt P, C being `engine`'s greedy continuation of P,
// continuation_len tokens long (all prompts run together, stepped on this
// thread: the engine must not have been started).
std::vector<std::vector<int32_t>> edit_prompts(Engine& engine, const std::vector<std::vector<int32_t>>& prompts,
                                               int32_t continuation_len);

}  // namespace strata::bench
