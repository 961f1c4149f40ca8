#include "bench/edit_dataset.h"

#include <memory>

#include "core/error.h"
#include "engine/engine.h"

namespace strata::bench {

std::vector<std::vector<int32_t>> edit_prompts(Engine& engine, const std::vector<std::vector<int32_t>>& prompts,
                                               int32_t continuation_len) {
  std::vector<std::shared_ptr<RequestStream>> streams;
  for (const std::vector<int32_t>& prompt : prompts) {
    Request r;
    r.prompt = prompt;
    r.params.max_tokens = continuation_len;
    r.params.ignore_eos = true;
    streams.push_back(engine.submit(std::move(r)));
  }
  while (engine.has_unfinished()) engine.step();
  std::vector<std::vector<int32_t>> edited;
  for (size_t i = 0; i < prompts.size(); ++i) {
    std::vector<int32_t> p = prompts[i];
    while (auto event = streams[i]->try_next()) {
      if (!event->error.empty()) fail("edit dataset: generating a continuation failed: {}", event->error);
      p.insert(p.end(), event->token_ids.begin(), event->token_ids.end());
    }
    p.insert(p.end(), prompts[i].begin(), prompts[i].end());
    edited.push_back(std::move(p));
  }
  return edited;
}

}  // namespace strata::bench
