#pragma once
// Reading the FlashInfer-Trace JSON objects: each helper throws Error naming
// `where` and the key, so a bad file says which field is wrong.
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/error.h"

namespace strata::json_fields {

template <class J>
const J& required(const J& j, const char* key, const std::string& where) {
  if (!j.is_object()) fail("{}: expected an object", where);
  auto it = j.find(key);
  if (it == j.end()) fail("{}: missing '{}'", where, key);
  return *it;
}

template <class J>
std::string non_empty_string(const J& j, const char* key, const std::string& where) {
  const J& v = required(j, key, where);
  if (!v.is_string() || v.template get<std::string>().empty()) fail("{}.{}: expected a non-empty string", where, key);
  return v.template get<std::string>();
}

template <class J>
std::string string(const J& j, const char* key, const std::string& where) {
  const J& v = required(j, key, where);
  if (!v.is_string()) fail("{}.{}: expected a string", where, key);
  return v.template get<std::string>();
}

template <class J>
std::optional<std::string> optional_string(const J& j, const char* key, const std::string& where) {
  if (!j.contains(key)) return std::nullopt;
  return string(j, key, where);
}

template <class J>
std::optional<std::vector<std::string>> optional_strings(const J& j, const char* key, const std::string& where) {
  auto it = j.find(key);
  if (it == j.end()) return std::nullopt;
  std::vector<std::string> out;
  if (!it->is_array()) fail("{}.{}: expected a list of strings", where, key);
  for (const J& v : *it) {
    if (!v.is_string()) fail("{}.{}: expected a list of strings", where, key);
    out.push_back(v.template get<std::string>());
  }
  return out;
}

}  // namespace strata::json_fields
