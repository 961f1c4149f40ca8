#include "kernels/shape_choices.h"

#include <algorithm>
#include <atomic>
#include <mutex>
#include <string>

#include "core/error.h"

namespace strata {

namespace {

struct ShapeChoice {
  std::string definition;
  std::vector<int64_t> shape;
  int64_t max_tokens;
  const Solution* solution;
};

// Written before serving starts (and by tests); read without locking.
std::vector<ShapeChoice>& choices() {
  static std::vector<ShapeChoice> all;
  return all;
}
std::atomic<bool> g_any{false};
std::mutex g_write;

}  // namespace

void add_shape_choice(std::string_view definition, std::vector<int64_t> shape, int64_t max_tokens,
                      std::string_view solution) {
  const Solution* found = nullptr;
  for (const Solution& s : all_solutions())
    if (s.name == solution) found = &s;
  if (!found) fail("kernel table: unknown solution '{}'", solution);
  if (found->definition != definition) {
    fail("kernel table: solution '{}' is of {}, not {}", solution, found->definition, definition);
  }
  if (!solution_runs_here(*found)) fail("kernel table: solution '{}' does not run on this CPU", solution);
  add_shape_choice(definition, std::move(shape), max_tokens, *found);
}

void add_shape_choice(std::string_view definition, std::vector<int64_t> shape, int64_t max_tokens,
                      const Solution& solution) {
  if (solution.definition != definition) {
    fail("kernel table: solution '{}' is of {}, not {}", solution.name, solution.definition, definition);
  }
  std::lock_guard lock(g_write);
  auto& all = choices();
  all.push_back({std::string(definition), std::move(shape), max_tokens, &solution});
  std::stable_sort(all.begin(), all.end(), [](const ShapeChoice& a, const ShapeChoice& b) { return a.max_tokens < b.max_tokens; });
  g_any.store(true, std::memory_order_release);
}

void clear_shape_choices() {
  std::lock_guard lock(g_write);
  g_any.store(false, std::memory_order_release);
  choices().clear();
}

bool any_shape_choices() { return g_any.load(std::memory_order_relaxed); }

const Solution* shape_choice(std::string_view definition, std::span<const int64_t> shape, int64_t tokens) {
  for (const ShapeChoice& c : choices()) {
    if (c.max_tokens >= tokens && c.definition == definition &&
        std::equal(c.shape.begin(), c.shape.end(), shape.begin(), shape.end())) {
      return c.solution;
    }
  }
  return nullptr;
}

std::vector<const Solution*> shape_choices_for(std::string_view definition, std::span<const int64_t> shape) {
  std::vector<const Solution*> found;
  for (const ShapeChoice& c : choices()) {
    if (c.definition == definition && std::equal(c.shape.begin(), c.shape.end(), shape.begin(), shape.end())) {
      found.push_back(c.solution);
    }
  }
  return found;
}

}  // namespace strata
