#pragma once
// The Jinja value model: Python's data types as templates see them
// (None, bool, int, float, str, list/tuple, dict, namespace, callables) plus
// jinja2's Undefined. Lists and dicts are shared by reference, as in Python,
// so namespace attribute assignment and aliasing behave the same.
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace strata::jinja {

class Value;
using Array = std::vector<Value>;

// Insertion-ordered dict (Python dicts keep insertion order, which tojson
// output depends on). Keys are usually strings but may be any literal
// (templates write {0: ..., 512: ...}). Dicts in chat templates are small,
// so a linear scan beats hashing.
class Object {
 public:
  const Value* find(std::string_view key) const;
  Value* find(std::string_view key);
  const Value* find(const Value& key) const;
  void set(const std::string& key, Value value);
  void set_key(Value key, Value value);  // any hashable key
  const std::vector<std::pair<Value, Value>>& entries() const { return entries_; }
  size_t size() const;  // defined below Value: clang needs the complete type here

 private:
  std::vector<std::pair<Value, Value>> entries_;
};

// Positional and keyword arguments of a call, filter or test.
struct CallArgs {
  std::vector<Value> positional;
  std::vector<std::pair<std::string, Value>> keyword;

  // Argument `index` by position, else by keyword `name`, else nullptr.
  const Value* get(size_t index, std::string_view name) const;
};

using Function = std::function<Value(const CallArgs&)>;

class Value {
 public:
  enum class Kind { Undefined, None, Bool, Int, Float, String, List, Tuple, Dict, Namespace, Callable };

  Value() = default;  // Undefined
  static Value undefined(std::string hint = {});
  static Value none();
  Value(bool b);
  Value(int64_t i);
  Value(int i) : Value(int64_t(i)) {}
  Value(double d);
  Value(std::string s);
  Value(const char* s) : Value(std::string(s)) {}
  static Value list(Array items = {});
  static Value tuple(Array items);
  static Value dict(Object entries = {});
  static Value namespace_(Object entries = {});
  static Value function(std::string name, Function fn);
  // A string marked safe (markupsafe.Markup, made by |safe and |escape):
  // `+` HTML-escapes a plain string joined to it, as Python does.
  static Value markup(std::string s);

  Kind kind() const { return kind_; }
  bool is_undefined() const { return kind_ == Kind::Undefined; }
  bool is_none() const { return kind_ == Kind::None; }
  bool is_bool() const { return kind_ == Kind::Bool; }
  bool is_int() const { return kind_ == Kind::Int; }
  bool is_float() const { return kind_ == Kind::Float; }
  // Python's numbers.Number: bools are ints.
  bool is_number() const { return kind_ == Kind::Int || kind_ == Kind::Float || kind_ == Kind::Bool; }
  bool is_string() const { return kind_ == Kind::String; }
  bool is_markup() const { return kind_ == Kind::String && markup_; }
  bool is_sequence_type() const { return kind_ == Kind::List || kind_ == Kind::Tuple; }
  bool is_dict() const { return kind_ == Kind::Dict; }
  bool is_namespace() const { return kind_ == Kind::Namespace; }
  bool is_callable() const { return kind_ == Kind::Callable; }

  bool as_bool() const { return b_; }
  int64_t as_int() const;  // bool or int
  double as_double() const;  // any number
  const std::string& as_string() const { return s_; }
  Array& items() const { return *array_; }  // list or tuple
  Object& object() const { return *object_; }  // dict or namespace
  const Function& function() const { return *fn_; }
  // Undefined: what was looked up; Callable: its name.
  const std::string& name() const { return s_; }

  // Python truthiness.
  bool truthy() const;
  // Python str(): what {{ value }} prints (Undefined prints as "").
  std::string str() const;
  // Python repr(), used for items inside printed lists and dicts.
  std::string repr() const;
  // Python type name for error messages ("str", "dict", "undefined"...).
  std::string type_name() const;

  bool operator==(const Value& other) const;

  static Value from_json(const nlohmann::ordered_json& j);
  // Python json.dumps(value, ensure_ascii=False, indent=indent), which is what
  // Hugging Face's tojson filter does; indent < 0 means one line.
  // ensure_ascii escapes non-ASCII characters as \uXXXX.
  std::string to_json(int indent = -1, bool ensure_ascii = false) const;

 private:
  Kind kind_ = Kind::Undefined;
  bool b_ = false;
  bool markup_ = false;
  int64_t i_ = 0;
  double d_ = 0;
  std::string s_;
  std::shared_ptr<Array> array_;
  std::shared_ptr<Object> object_;
  std::shared_ptr<Function> fn_;
};

// Python float repr: shortest round-trip digits, "1.0", "1e-05", "1e+16".
std::string python_float_repr(double d);

// markupsafe.escape(): & < > " ' as HTML entities.
std::string html_escape(std::string_view s);

inline size_t Object::size() const { return entries_.size(); }

// Code-point view of UTF-8 text, for len(), indexing and slicing like Python str.
std::vector<std::string_view> utf8_chars(std::string_view s);

}  // namespace strata::jinja
