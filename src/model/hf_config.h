#pragma once
// Typed reads of a Hugging Face config.json with errors that name the file
// and key: for architecture files (model/arch.h) and config.cpp.
#include <cmath>
#include <limits>
#include <string>
#include <type_traits>

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
    if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
      // nlohmann converts a float to an integer with a plain cast, which is
      // undefined out of range (found by fuzz/safetensors): only whole
      // numbers in range pass.
      if (it->is_number_float()) {
        const double v = it->get<double>();
        if (!(v == std::floor(v) && v >= double(std::numeric_limits<T>::min()) &&
              v <= double(std::numeric_limits<T>::max())))
          fail("{}: key '{}' must be an integer in range (got {})", source_, key, it->dump());
        return T(v);
      }
    }
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
