#include "server/tool_call_parser.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <random>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "server/jinja/value.h"

namespace strata {

namespace {

std::string random_tool_call_id() {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  return fmt::format("chatcmpl-tool-{:016x}{:016x}", rng(), rng());
}

size_t partial_marker_suffix(std::string_view text, std::string_view marker) {
  for (size_t n = std::min(text.size(), marker.size() - 1); n > 0; --n)
    if (text.substr(text.size() - n) == marker.substr(0, n)) return n;
  return 0;
}

bool is_space(char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

bool all_space(std::string_view s) { return std::all_of(s.begin(), s.end(), is_space); }

// The earliest occurrence in `text` of any non-empty marker: its position
// and the marker (npos when none occurs).
std::pair<size_t, std::string_view> find_first(std::string_view text, std::initializer_list<std::string_view> markers) {
  std::pair<size_t, std::string_view> best{std::string_view::npos, {}};
  for (std::string_view m : markers) {
    if (m.empty()) continue;
    size_t at = text.find(m);
    if (at < best.first) best = {at, m};
  }
  return best;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = char(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// A name as MiniMax-M2 writes it: trimmed, one pair of matching quotes removed.
std::string_view unquote(std::string_view s) {
  s = trim(s);
  if (s.size() >= 2 && (s.front() == '"' || s.front() == '\'') && s.back() == s.front()) s = s.substr(1, s.size() - 2);
  return s;
}

using json = nlohmann::ordered_json;

// The JSON-schema types a parameter schema allows, lower-cased: "type" (a
// name or a list), the kinds of its "enum" values, and those of its
// anyOf/oneOf/allOf branches. A schema that names none is a string.
void collect_schema_types(const json& schema, std::vector<std::string>& types) {
  if (!schema.is_object()) return;
  if (auto it = schema.find("type"); it != schema.end()) {
    if (it->is_string()) types.push_back(lower(it->get<std::string>()));
    if (it->is_array())
      for (const json& t : *it)
        if (t.is_string()) types.push_back(lower(t.get<std::string>()));
  }
  if (auto it = schema.find("enum"); it != schema.end() && it->is_array()) {
    for (const json& v : *it) {
      if (v.is_null()) types.push_back("null");
      else if (v.is_boolean()) types.push_back("boolean");
      else if (v.is_number_integer()) types.push_back("integer");
      else if (v.is_number()) types.push_back("number");
      else if (v.is_string()) types.push_back("string");
      else if (v.is_array()) types.push_back("array");
      else types.push_back("object");
    }
  }
  for (const char* branch : {"anyOf", "oneOf", "allOf"})
    if (auto it = schema.find(branch); it != schema.end() && it->is_array())
      for (const json& choice : *it) collect_schema_types(choice, types);
}

// One optional sign, as Python's int() and float() read it ("+5" and "-5", not "+-5").
bool take_sign(std::string_view& text) {
  if (text.empty() || (text.front() != '+' && text.front() != '-')) return false;
  bool negative = text.front() == '-';
  text.remove_prefix(1);
  return negative;
}

std::optional<json> as_integer(std::string_view text) {
  bool negative = take_sign(text);
  if (text.empty() || !std::isdigit(static_cast<unsigned char>(text.front()))) return std::nullopt;
  uint64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size() || v > uint64_t(INT64_MAX)) return std::nullopt;
  return json(negative ? -int64_t(v) : int64_t(v));
}

// Python's float(), then an int when the value is whole (vLLM returns 2 for "2.0").
std::optional<json> as_number(std::string_view text) {
  // Python's float() also reads "inf" and "nan", which vLLM then fails to turn into ints.
  if (text.empty() || text.find_first_not_of("0123456789+-.eE") != std::string_view::npos) return std::nullopt;
  bool negative = take_sign(text);
  if (text.empty() || text.front() == '+' || text.front() == '-') return std::nullopt;
  double v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size() || !std::isfinite(v)) return std::nullopt;
  if (negative) v = -v;
  if (v == std::trunc(v) && std::fabs(v) < 9.2e18) return json(int64_t(v));
  return json(v);
}

std::optional<json> as_boolean(std::string_view text) {
  std::string v = lower(trim(text));
  if (v == "true" || v == "1" || v == "yes" || v == "on") return json(true);
  if (v == "false" || v == "0" || v == "no" || v == "off") return json(false);
  return std::nullopt;
}

std::optional<json> as_json(std::string_view text) {
  json v = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (v.is_discarded()) return std::nullopt;
  return v;
}

// A parameter's text as the first of its schema types it converts to, in
// vLLM's order; failing all, JSON if it parses, else the text. `types` is
// empty for a parameter the tool does not declare.
json convert_parameter(const std::string& text, const std::vector<std::string>& types) {
  std::string lowered = lower(text);
  if (lowered == "null" || lowered == "none" || lowered == "nil") return nullptr;
  auto allows = [&](std::initializer_list<std::string_view> names) {
    for (std::string_view name : names)
      if (std::find(types.begin(), types.end(), name) != types.end()) return true;
    return false;
  };
  if (allows({"integer", "int"}))
    if (auto v = as_integer(text)) return *v;
  if (allows({"number", "float"}))
    if (auto v = as_number(text)) return *v;
  if (allows({"boolean", "bool"}))
    if (auto v = as_boolean(text)) return *v;
  if (allows({"object", "array"}))
    if (auto v = as_json(text)) return *v;
  if (allows({"string", "str", "text"})) return text;
  if (auto v = as_json(text)) return *v;
  return text;
}

}  // namespace

ToolCallParser::ToolCallParser(ToolCallFormat format, std::function<std::string()> make_id)
    : ToolCallParser(format, json(), std::move(make_id)) {}

ToolCallParser::ToolCallParser(ToolCallFormat format, const json& tools, std::function<std::string()> make_id)
    : format_(format), markers_(markers_of(format)), make_id_(make_id ? std::move(make_id) : random_tool_call_id) {
  if (tools.is_array()) tools_ = std::make_shared<const json>(tools);
}

ToolCallParser::Markers ToolCallParser::markers_of(ToolCallFormat format) {
  Markers m;
  switch (format) {
    case ToolCallFormat::Hermes:
      m.call_open = "<tool_call>";
      m.call_close = "</tool_call>";
      break;
    case ToolCallFormat::KimiK2:
      m.call_open = "<|tool_call_begin|>";
      m.call_close = "<|tool_call_end|>";
      m.section_open = "<|tool_calls_section_begin|>";
      m.section_close = "<|tool_calls_section_end|>";
      // The model sometimes writes the section markers singular, as vLLM's parser accepts.
      m.section_open_alt = "<|tool_call_section_begin|>";
      m.section_close_alt = "<|tool_call_section_end|>";
      m.argument_begin = "<|tool_call_argument_begin|>";
      m.call_ends_early = true;
      break;
    case ToolCallFormat::MiniMaxM2:
      m.call_open = "<invoke name=";
      m.call_close = "</invoke>";
      m.section_open = "<minimax:tool_call>";
      m.section_close = "</minimax:tool_call>";
      m.calls_need_section = true;
      break;
  }
  return m;
}

std::optional<ToolCallFormat> ToolCallParser::format_named(std::string_view name) {
  if (name == "hermes" || name == "qwen3" || name == "qwen3_xml_json") return ToolCallFormat::Hermes;
  if (name == "kimi_k2") return ToolCallFormat::KimiK2;
  if (name == "minimax_m2") return ToolCallFormat::MiniMaxM2;
  return std::nullopt;
}

std::optional<ToolCallFormat> ToolCallParser::format_in_template(std::string_view chat_template) {
  if (chat_template.find("<minimax:tool_call>") != std::string_view::npos) return ToolCallFormat::MiniMaxM2;
  if (chat_template.find("<|tool_calls_section_begin|>") != std::string_view::npos) return ToolCallFormat::KimiK2;
  if (chat_template.find("<tool_call>") != std::string_view::npos) return ToolCallFormat::Hermes;
  return std::nullopt;
}

std::vector<std::string_view> ToolCallParser::section_openers(ToolCallFormat format) {
  const Markers m = markers_of(format);
  std::vector<std::string_view> out;
  for (std::string_view s : {m.section_open, m.section_open_alt})
    if (!s.empty()) out.push_back(s);
  return out;
}

std::vector<std::string_view> ToolCallParser::marker_strings(ToolCallFormat format) {
  const Markers m = markers_of(format);
  std::vector<std::string_view> out;
  for (std::string_view s : {m.call_open, m.call_close, m.section_open, m.section_close, m.section_open_alt,
                             m.section_close_alt, m.argument_begin})
    if (!s.empty()) out.push_back(s);
  return out;
}

// body: what follows "<invoke name=" up to "</invoke>".
std::optional<ToolCall> ToolCallParser::parse_minimax_invoke(std::string_view body) const {
  constexpr std::string_view kParamOpen = "<parameter name=", kParamClose = "</parameter>";
  size_t header_end = body.find('>');
  if (header_end == std::string_view::npos) return std::nullopt;
  std::string name(unquote(body.substr(0, header_end)));
  if (name.empty()) return std::nullopt;

  const json* properties = nullptr;
  if (tools_) {
    for (const json& tool : *tools_) {
      if (!tool.is_object() || !tool.contains("function") || !tool["function"].is_object()) continue;
      const json& function = tool["function"];
      if (auto n = function.find("name"); n == function.end() || *n != name) continue;
      if (auto p = function.find("parameters"); p != function.end() && p->is_object())
        if (auto props = p->find("properties"); props != p->end() && props->is_object()) properties = &*props;
      break;  // the first tool of that name decides, as in vLLM
    }
  }

  json arguments = json::object();
  std::string_view rest = body.substr(header_end + 1);
  while (!all_space(rest)) {
    size_t first = rest.find_first_not_of(" \t\r\n\f\v");
    if (rest.substr(first, kParamOpen.size()) != kParamOpen) return std::nullopt;
    rest.remove_prefix(first + kParamOpen.size());
    size_t close = rest.find(kParamClose);
    size_t key_end = rest.find('>');
    if (close == std::string_view::npos || key_end > close) return std::nullopt;
    std::string key(unquote(rest.substr(0, key_end)));
    if (key.empty()) return std::nullopt;
    std::string value(trim(rest.substr(key_end + 1, close - key_end - 1)));
    std::vector<std::string> types;
    if (properties) {
      if (auto schema = properties->find(key); schema != properties->end()) {
        collect_schema_types(*schema, types);
        if (types.empty()) types.push_back("string");
      }
    }
    arguments[key] = convert_parameter(value, types);
    rest.remove_prefix(close + kParamClose.size());
  }
  // Serialized as Python's json.dumps(ensure_ascii=False) does, like vLLM.
  return ToolCall{make_id_(), std::move(name), jinja::Value::from_json(arguments).to_json()};
}

std::optional<ToolCall> ToolCallParser::parse_call_body(std::string_view body) const {
  if (format_ == ToolCallFormat::MiniMaxM2) return parse_minimax_invoke(body);
  if (format_ == ToolCallFormat::Hermes) {
    auto json = nlohmann::ordered_json::parse(body, nullptr, /*allow_exceptions=*/false);
    if (!json.is_object() || !json.contains("name") || !json["name"].is_string()) return std::nullopt;
    nlohmann::ordered_json arguments = json.contains("arguments") ? json["arguments"] : nlohmann::ordered_json::object();
    // Arguments are re-serialized as Python's json.dumps(ensure_ascii=False) does, like vLLM.
    std::string args = arguments.is_string() ? arguments.get<std::string>() : jinja::Value::from_json(arguments).to_json();
    return ToolCall{make_id_(), json["name"].get<std::string>(), std::move(args)};
  }
  // Kimi-K2: "functions.NAME:IDX<|tool_call_argument_begin|>{json}". The id
  // is "functions.NAME:IDX" even when the model leaves out "functions.";
  // NAME may hold dots, IDX must be digits, the arguments must be JSON (no
  // repair: a broken call stays content).
  size_t split = body.find(markers_.argument_begin);
  if (split == std::string_view::npos) return std::nullopt;
  std::string_view id = trim(body.substr(0, split));
  std::string_view arguments = trim(body.substr(split + markers_.argument_begin.size()));
  constexpr std::string_view kFunctions = "functions.";
  if (id.starts_with(kFunctions)) id.remove_prefix(kFunctions.size());
  size_t colon = id.rfind(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == id.size()) return std::nullopt;
  std::string_view name = id.substr(0, colon), index = id.substr(colon + 1);
  if (!std::all_of(index.begin(), index.end(), [](char c) { return c >= '0' && c <= '9'; })) return std::nullopt;
  if (std::any_of(name.begin(), name.end(), is_space) || !nlohmann::ordered_json::accept(arguments)) return std::nullopt;
  return ToolCall{std::string(kFunctions) + std::string(id), std::string(name), std::string(arguments)};
}

void ToolCallParser::process(ToolCallStreamDelta& out) {
  while (!pending_.empty()) {
    if (in_call_) {
      // The call ends at its closing marker. A section that closes first cuts
      // it short: the call is then text, except for Kimi-K2, whose calls may
      // also end where the section closes or the next call begins (as vLLM's
      // parser reads them; those markers are left for the next step).
      const auto [end_at, end_marker] =
          find_first(pending_, {markers_.call_close, markers_.section_close, markers_.section_close_alt,
                                markers_.call_ends_early ? markers_.call_open : std::string_view()});
      if (end_at == std::string::npos) return;  // wait for the whole call
      std::optional<ToolCall> call;
      size_t end = end_at;
      if (end_marker == markers_.call_close || markers_.call_ends_early) {
        call = parse_call_body(std::string_view(pending_).substr(0, end_at));
        if (end_marker == markers_.call_close) end += end_marker.size();
      }
      if (call) {
        int index = next_index_++;
        out.tool_calls.push_back({index, call->id, call->name, ""});
        out.tool_calls.push_back({index, "", "", call->arguments});
      } else {
        // Not a valid call: keep the model's text.
        out.content += std::string(markers_.call_open) + pending_.substr(0, end);
      }
      pending_.erase(0, end);
      in_call_ = false;
      continue;
    }
    // Outside calls: find the next marker that can occur here.
    std::vector<std::string_view> wanted;
    if (in_section_ || !markers_.calls_need_section) wanted.push_back(markers_.call_open);
    const std::string_view section_markers[] = {in_section_ ? markers_.section_close : markers_.section_open,
                                                in_section_ ? markers_.section_close_alt : markers_.section_open_alt};
    for (std::string_view m : section_markers)
      if (!m.empty()) wanted.push_back(m);
    size_t best = std::string::npos;
    std::string_view hit;
    for (std::string_view m : wanted) {
      size_t at = pending_.find(m);
      if (at < best) {
        best = at;
        hit = m;
      }
    }
    if (in_section_) {
      // Text between calls is held until the next marker shows whether it is
      // markup (whitespace) or content.
      if (best == std::string::npos) return;
      std::string_view between = std::string_view(pending_).substr(0, best);
      if (!all_space(between)) out.content += between;
    } else {
      // Hold back only a possible partial marker.
      size_t text_end = best;
      if (best == std::string::npos) {
        size_t keep = 0;
        for (std::string_view m : wanted) keep = std::max(keep, partial_marker_suffix(pending_, m));
        text_end = pending_.size() - keep;
      }
      out.content.append(pending_, 0, text_end);
      if (best == std::string::npos) {
        pending_.erase(0, text_end);
        return;
      }
    }
    pending_.erase(0, best + hit.size());
    if (hit == markers_.call_open) in_call_ = true;
    else in_section_ = hit == markers_.section_open || hit == markers_.section_open_alt;
  }
}

ToolCallStreamDelta ToolCallParser::feed(std::string_view text) {
  ToolCallStreamDelta out;
  pending_ += text;
  process(out);
  return out;
}

ToolCallStreamDelta ToolCallParser::finish() {
  ToolCallStreamDelta out;
  // An unterminated call (output cut off), a dangling partial marker or
  // non-blank text in an unclosed section is content.
  if (in_call_) out.content += markers_.call_open;
  if (in_call_ || !in_section_ || !all_space(pending_)) out.content += pending_;
  pending_.clear();
  in_call_ = false;
  return out;
}

ParsedToolCalls ToolCallParser::parse(std::string_view text) const {
  ToolCallParser fresh(format_, make_id_);
  fresh.tools_ = tools_;
  ParsedToolCalls result;
  auto absorb = [&](ToolCallStreamDelta delta) {
    result.content += delta.content;
    for (ToolCallDelta& d : delta.tool_calls) {
      if (size_t(d.index) >= result.tool_calls.size()) result.tool_calls.resize(size_t(d.index) + 1);
      ToolCall& call = result.tool_calls[size_t(d.index)];
      if (!d.id.empty()) call.id = d.id;
      if (!d.name.empty()) call.name = d.name;
      call.arguments += d.arguments;
    }
  };
  absorb(fresh.feed(text));
  absorb(fresh.finish());
  return result;
}

}  // namespace strata
