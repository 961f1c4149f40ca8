// The Jinja engine: a template NUL-joined to its context (a JSON object
// whose keys become variables, as chat_template_kwargs do). Parse and render
// errors are strata::Error; nothing else may escape.
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "input_parts.h"
#include "server/jinja/template.h"

using namespace strata;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto parts = fuzz::split_parts(data, size, 2);
  jinja::Object variables;
  if (parts.size() == 2) {
    const auto context = nlohmann::ordered_json::parse(parts[1], nullptr, false);
    if (context.is_object()) {
      for (const auto& [key, value] : context.items()) variables.set(key, jinja::Value::from_json(value));
    }
  }
  try {
    const jinja::Template tmpl(parts[0]);
    tmpl.render(variables);
  } catch (const Error&) {
  }
  return 0;
}
