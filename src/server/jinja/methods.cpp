// Python str, dict and list methods that chat templates call.
#include <cctype>

#include "core/error.h"
#include "server/jinja/builtins.h"
#include "server/jinja/operators.h"

namespace strata::jinja {
namespace {

bool is_py_space(std::string_view c) {
  return c.size() == 1 && (c[0] == ' ' || c[0] == '\t' || c[0] == '\n' || c[0] == '\r' || c[0] == '\f' || c[0] == '\v' ||
                           (c[0] >= 0x1c && c[0] <= 0x1f));
}

const std::string& string_arg(const CallArgs& args, size_t index, std::string_view name, std::string_view method) {
  const Value* v = args.get(index, name);
  if (!v || !v->is_string()) fail("{}() argument '{}' must be a string", method, name);
  return v->as_string();
}

int64_t int_arg(const CallArgs& args, size_t index, std::string_view name, int64_t default_value) {
  const Value* v = args.get(index, name);
  if (!v || v->is_none()) return default_value;
  if (!v->is_int() && !v->is_bool()) fail("argument '{}' must be an integer", name);
  return v->as_int();
}

std::vector<std::string> prefixes_arg(const CallArgs& args, std::string_view method) {
  const Value* v = args.get(0, "prefix");
  if (!v) fail("{}() takes at least 1 argument", method);
  std::vector<std::string> out;
  if (v->is_string()) {
    out.push_back(v->as_string());
  } else if (v->is_sequence_type()) {
    for (const Value& item : v->items()) {
      if (!item.is_string()) fail("{}() tuple items must be strings", method);
      out.push_back(item.as_string());
    }
  } else {
    fail("{}() argument must be str or a tuple of str, not {}", method, v->type_name());
  }
  return out;
}

Value split(const std::string& s, const CallArgs& args, bool from_right) {
  const Value* sep_value = args.get(0, "sep");
  int64_t maxsplit = int_arg(args, 1, "maxsplit", -1);
  std::vector<std::string> parts;
  if (!sep_value || sep_value->is_none()) {
    // Runs of whitespace separate; leading/trailing whitespace is ignored.
    auto chars = utf8_chars(s);
    std::vector<std::pair<size_t, size_t>> words;  // [begin, end) in chars
    size_t i = 0;
    while (i < chars.size()) {
      while (i < chars.size() && is_py_space(chars[i])) ++i;
      if (i >= chars.size()) break;
      size_t b = i;
      while (i < chars.size() && !is_py_space(chars[i])) ++i;
      words.emplace_back(b, i);
    }
    auto join_range = [&](size_t b, size_t e) {
      std::string out;
      for (size_t k = b; k < e; ++k) out += chars[k];
      return out;
    };
    if (maxsplit < 0 || size_t(maxsplit) >= words.size()) {
      for (auto [b, e] : words) parts.push_back(join_range(b, e));
    } else if (!from_right) {
      for (int64_t k = 0; k < maxsplit; ++k) parts.push_back(join_range(words[k].first, words[k].second));
      if (size_t(maxsplit) < words.size()) {
        size_t rest = words[maxsplit].first, end = chars.size();
        while (end > rest && is_py_space(chars[end - 1])) --end;
        parts.push_back(join_range(rest, end));
      }
    } else {
      size_t keep = words.size() - size_t(maxsplit);
      size_t begin = 0;
      while (begin < chars.size() && is_py_space(chars[begin])) ++begin;
      parts.push_back(join_range(begin, words[keep - 1].second));
      for (size_t k = keep; k < words.size(); ++k) parts.push_back(join_range(words[k].first, words[k].second));
    }
  } else {
    if (!sep_value->is_string()) fail("split() separator must be str or None");
    const std::string& sep = sep_value->as_string();
    if (sep.empty()) fail("empty separator");
    if (!from_right) {
      size_t start = 0;
      while (true) {
        size_t hit = (maxsplit < 0 || int64_t(parts.size()) < maxsplit) ? s.find(sep, start) : std::string::npos;
        if (hit == std::string::npos) {
          parts.push_back(s.substr(start));
          break;
        }
        parts.push_back(s.substr(start, hit - start));
        start = hit + sep.size();
      }
    } else {
      size_t end = s.size();
      std::vector<std::string> reversed;
      while (true) {
        size_t hit = std::string::npos;
        if ((maxsplit < 0 || int64_t(reversed.size()) < maxsplit) && end >= sep.size())
          hit = s.rfind(sep, end - sep.size());
        if (hit == std::string::npos) {
          reversed.push_back(s.substr(0, end));
          break;
        }
        reversed.push_back(s.substr(hit + sep.size(), end - hit - sep.size()));
        end = hit;
      }
      parts.assign(reversed.rbegin(), reversed.rend());
    }
  }
  Array out;
  for (auto& p : parts) out.emplace_back(std::move(p));
  return Value::list(std::move(out));
}

std::string replace(const std::string& s, const std::string& old, const std::string& replacement, int64_t count) {
  std::string out;
  size_t start = 0;
  int64_t done = 0;
  if (old.empty()) {
    // Python inserts the replacement between every character.
    auto chars = utf8_chars(s);
    for (size_t i = 0; i <= chars.size(); ++i) {
      if (count < 0 || done < count) {
        out += replacement;
        ++done;
      }
      if (i < chars.size()) out += chars[i];
    }
    return out;
  }
  while (count < 0 || done < count) {
    size_t hit = s.find(old, start);
    if (hit == std::string::npos) break;
    out.append(s, start, hit - start);
    out += replacement;
    start = hit + old.size();
    ++done;
  }
  out.append(s, start);
  return out;
}

std::string format(const std::string& pattern, const CallArgs& args) {
  std::string out;
  size_t next_auto = 0;
  for (size_t i = 0; i < pattern.size(); ++i) {
    char c = pattern[i];
    if (c == '{' && i + 1 < pattern.size() && pattern[i + 1] == '{') {
      out += '{';
      ++i;
    } else if (c == '}' && i + 1 < pattern.size() && pattern[i + 1] == '}') {
      out += '}';
      ++i;
    } else if (c == '{') {
      size_t close = pattern.find('}', i);
      if (close == std::string::npos) fail("Single '{{' encountered in format string");
      std::string field = pattern.substr(i + 1, close - i - 1);
      if (field.find_first_of(":!.[") != std::string::npos) fail("format(): field '{}' is not supported", field);
      const Value* v = nullptr;
      if (field.empty()) {
        v = args.get(next_auto++, "");
      } else if (std::isdigit(static_cast<unsigned char>(field[0]))) {
        v = args.get(size_t(std::stoul(field)), "");
      } else {
        for (const auto& [k, kv] : args.keyword)
          if (k == field) v = &kv;
      }
      if (!v) fail("format(): no argument for field '{{{}}}'", field);
      out += v->str();
      i = close;
    } else {
      out += c;
    }
  }
  return out;
}

std::string title_case(const std::string& s) {
  std::string out = s;
  bool previous_cased = false;
  for (char& c : out) {
    unsigned char u = static_cast<unsigned char>(c);
    bool cased = std::isalpha(u);
    if (cased) c = char(previous_cased ? std::tolower(u) : std::toupper(u));
    previous_cased = cased;
  }
  return out;
}

Value string_method(const Value& self, const std::string& name) {
  const std::string s = self.as_string();
  auto method = [&](Function fn) { return Value::function("str." + name, std::move(fn)); };
  if (name == "startswith" || name == "endswith") {
    bool starts = name == "startswith";
    return method([s, starts, name](const CallArgs& args) {
      for (const std::string& p : prefixes_arg(args, name)) {
        bool hit = s.size() >= p.size() &&
                   (starts ? s.compare(0, p.size(), p) == 0 : s.compare(s.size() - p.size(), p.size(), p) == 0);
        if (hit) return Value(true);
      }
      return Value(false);
    });
  }
  if (name == "strip" || name == "lstrip" || name == "rstrip") {
    bool left = name != "rstrip", right = name != "lstrip";
    return method([s, left, right](const CallArgs& args) { return Value(strip_chars(s, args.get(0, "chars"), left, right)); });
  }
  if (name == "split" || name == "rsplit") {
    bool from_right = name == "rsplit";
    return method([s, from_right](const CallArgs& args) { return split(s, args, from_right); });
  }
  if (name == "splitlines") {
    return method([s](const CallArgs&) {
      Array lines;
      size_t start = 0;
      for (size_t i = 0; i < s.size(); ++i) {
        if (s[i] != '\n' && s[i] != '\r') continue;
        lines.emplace_back(s.substr(start, i - start));
        if (s[i] == '\r' && i + 1 < s.size() && s[i + 1] == '\n') ++i;
        start = i + 1;
      }
      if (start < s.size()) lines.emplace_back(s.substr(start));
      return Value::list(std::move(lines));
    });
  }
  if (name == "replace") {
    return method([s](const CallArgs& args) {
      return Value(replace(s, string_arg(args, 0, "old", "replace"), string_arg(args, 1, "new", "replace"),
                           int_arg(args, 2, "count", -1)));
    });
  }
  if (name == "upper" || name == "lower") {
    bool upper = name == "upper";
    return method([s, upper](const CallArgs&) {
      std::string out = s;
      for (char& c : out) c = char(upper ? std::toupper(static_cast<unsigned char>(c)) : std::tolower(static_cast<unsigned char>(c)));
      return Value(std::move(out));
    });
  }
  if (name == "title") return method([s](const CallArgs&) { return Value(title_case(s)); });
  if (name == "capitalize") {
    return method([s](const CallArgs&) {
      std::string out = s;
      for (size_t i = 0; i < out.size(); ++i)
        out[i] = char(i == 0 ? std::toupper(static_cast<unsigned char>(out[i])) : std::tolower(static_cast<unsigned char>(out[i])));
      return Value(std::move(out));
    });
  }
  if (name == "find" || name == "rfind" || name == "index" || name == "rindex") {
    bool reverse = name[0] == 'r';
    bool throws = name.find("index") != std::string::npos;
    return method([s, reverse, throws](const CallArgs& args) {
      const std::string& sub = string_arg(args, 0, "sub", "find");
      size_t hit = reverse ? s.rfind(sub) : s.find(sub);
      if (hit == std::string::npos) {
        if (throws) fail("substring not found");
        return Value(int64_t(-1));
      }
      return Value(int64_t(utf8_chars(std::string_view(s).substr(0, hit)).size()));
    });
  }
  if (name == "count") {
    return method([s](const CallArgs& args) {
      const std::string& sub = string_arg(args, 0, "sub", "count");
      if (sub.empty()) return Value(int64_t(utf8_chars(s).size() + 1));
      int64_t n = 0;
      for (size_t at = s.find(sub); at != std::string::npos; at = s.find(sub, at + sub.size())) ++n;
      return Value(n);
    });
  }
  if (name == "format") return method([s](const CallArgs& args) { return Value(format(s, args)); });
  if (name == "join") {
    return method([s](const CallArgs& args) {
      const Value* items = args.get(0, "iterable");
      if (!items) fail("join() takes exactly one argument");
      std::string out;
      bool first = true;
      for (const Value& item : iterate(*items)) {
        if (!item.is_string()) fail("sequence item: expected str instance, {} found", item.type_name());
        if (!first) out += s;
        first = false;
        out += item.as_string();
      }
      return Value(std::move(out));
    });
  }
  if (name == "isdigit" || name == "isalpha" || name == "isalnum" || name == "isspace" || name == "islower" ||
      name == "isupper") {
    return method([s, name](const CallArgs&) {
      if (s.empty()) return Value(false);
      bool any_cased = false;
      for (unsigned char c : s) {
        bool ok = name == "isdigit"   ? std::isdigit(c)
                  : name == "isalpha" ? std::isalpha(c)
                  : name == "isalnum" ? std::isalnum(c)
                  : name == "isspace" ? std::isspace(c)
                  : name == "islower" ? !std::isupper(c)
                                      : !std::islower(c);
        if (!ok) return Value(false);
        if (std::isalpha(c)) any_cased = true;
      }
      if ((name == "islower" || name == "isupper") && !any_cased) return Value(false);
      return Value(true);
    });
  }
  return Value::undefined();
}

Value unsafe(const Value& self, const std::string& name) {
  return Value::undefined(
      fmt::format("access to attribute '{}' of '{}' object is unsafe.", name, self.type_name()));
}

Value dict_method(const Value& self, const std::string& name) {
  auto method = [&](Function fn) { return Value::function("dict." + name, std::move(fn)); };
  if (name == "get") {
    return method([self](const CallArgs& args) {
      const Value* key = args.get(0, "key");
      if (!key) fail("get expected at least 1 argument, got 0");
      if (const Value* v = self.object().find(*key)) return *v;
      const Value* fallback = args.get(1, "default");
      return fallback ? *fallback : Value::none();
    });
  }
  if (name == "items" || name == "keys" || name == "values") {
    return method([self, name](const CallArgs&) {
      Array out;
      for (const auto& [k, v] : self.object().entries()) {
        if (name == "items") out.push_back(Value::tuple({k, v}));
        else if (name == "keys") out.push_back(k);
        else out.push_back(v);
      }
      return Value::list(std::move(out));
    });
  }
  if (name == "pop" || name == "update" || name == "clear" || name == "setdefault" || name == "popitem")
    return unsafe(self, name);
  return Value::undefined();
}

Value list_method(const Value& self, const std::string& name) {
  if (name == "index" || name == "count") {
    bool count = name == "count";
    return Value::function("list." + name, [self, count](const CallArgs& args) {
      const Value* x = args.get(0, "value");
      if (!x) fail("list method takes exactly one argument");
      int64_t n = 0;
      for (size_t i = 0; i < self.items().size(); ++i) {
        if (!(self.items()[i] == *x)) continue;
        if (!count) return Value(int64_t(i));
        ++n;
      }
      if (!count) fail("{} is not in list", x->repr());
      return Value(n);
    });
  }
  // append and pop change the list in place, as jinja2's SandboxedEnvironment
  // and llama.cpp's engine allow (llama.cpp's Kimi K2 templates queue tool-call
  // ids with them); transformers' immutable sandbox refuses them, as strata
  // still does for the other mutating methods.
  const bool list = self.kind() == Value::Kind::List;
  if (list && name == "append") {
    return Value::function("list.append", [self](const CallArgs& args) {
      const Value* x = args.get(0, "object");
      if (!x || args.positional.size() + args.keyword.size() != 1) fail("list.append() takes exactly one argument");
      self.items().push_back(*x);
      return Value::none();
    });
  }
  if (list && name == "pop") {
    return Value::function("list.pop", [self](const CallArgs& args) {
      Array& items = self.items();
      if (items.empty()) fail("pop from empty list");
      const Value* index = args.get(0, "index");
      int64_t i = index ? index->as_int() : -1;
      if (i < 0) i += int64_t(items.size());
      if (i < 0 || i >= int64_t(items.size())) fail("pop index out of range");
      Value popped = items[size_t(i)];
      items.erase(items.begin() + i);
      return popped;
    });
  }
  if (name == "append" || name == "extend" || name == "insert" || name == "pop" || name == "remove" ||
      name == "reverse" || name == "sort" || name == "clear")
    return list ? unsafe(self, name) : Value::undefined();
  return Value::undefined();
}

}  // namespace

std::string strip_chars(const std::string& s, const Value* chars, bool left, bool right) {
  auto cps = utf8_chars(s);
  std::vector<std::string_view> set;
  bool whitespace = !chars || chars->is_none() || chars->is_undefined();
  if (!whitespace) {
    if (!chars->is_string()) fail("strip arg must be None or str");
    set = utf8_chars(chars->as_string());
  }
  auto strippable = [&](std::string_view c) {
    if (whitespace) return is_py_space(c);
    for (std::string_view x : set)
      if (x == c) return true;
    return false;
  };
  size_t b = 0, e = cps.size();
  if (left)
    while (b < e && strippable(cps[b])) ++b;
  if (right)
    while (e > b && strippable(cps[e - 1])) --e;
  std::string out;
  for (size_t i = b; i < e; ++i) out += cps[i];
  return out;
}

Value get_method(const Value& object, const std::string& name) {
  switch (object.kind()) {
    case Value::Kind::String: return string_method(object, name);
    case Value::Kind::Dict: return dict_method(object, name);
    case Value::Kind::List:
    case Value::Kind::Tuple: return list_method(object, name);
    default: return Value::undefined();
  }
}

}  // namespace strata::jinja
