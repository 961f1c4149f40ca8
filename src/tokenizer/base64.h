#pragma once
// Standard base64 (RFC 4648, with '=' padding), as tiktoken.model files
// write token bytes.
#include <optional>
#include <string>
#include <string_view>

namespace strata::base64 {

std::string encode(std::string_view bytes);
// nullopt when `text` is not padded standard base64.
std::optional<std::string> decode(std::string_view text);

}  // namespace strata::base64
