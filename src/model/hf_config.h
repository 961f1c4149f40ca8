#pragma once
// Typed reads of a Hugging Face config.json with errors that name the file
// and key: for architecture files (model/arch.h) and config.cpp.
#include <string>

#include <nlohmann/json.hpp>

#include "core/error.h"

namespace strata {

class HFConfigReader {
 public:
  HFConfigReader(const nlohmann::json& j, const std::string& source) : j_(j), source_(source) {}
  const nlohmann::json& json() const { return j_; }
  const std::string& source() const { return source_; }
  bool has(const char* key) const { return j_.contains(key) && !j_[key].is_null(); }

  // `fallback` when absent or null; a present value of the wrong type is an error.
  template <typename T>
  T get(const char* key, T fallback) const {
    auto it = j_.find(key);
    if (it == j_.end() || it->is_null()) return fallback;
    try {
      return it->get<T>();
    } catch (const nlohmann::json::exception&) {
      fail("{}: key '{}' has an unexpected type ({})", source_, key, it->dump());
    }
  }
  template <typename T>
  T required(const char* key) const {
    if (!has(key)) fail("{}: missing key '{}'", source_, key);
    return get<T>(key, T{});
  }

 private:
  const nlohmann::json& j_;
  std::string source_;
};

}  // namespace strata
