#pragma once
// Byte-level BPE: turns one pre-tokenized piece (raw bytes) into token ids
// by applying merges lowest rank first, leftmost first among equal ranks.
// Results are cached per piece, since text repeats words a lot.
// Two sources of merges: Hugging Face's list (rank = position in the list),
// or tiktoken's rule, where any two adjacent parts whose concatenation is a
// token merge, ranked by that token's rank (its id).
#include <array>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace strata {

class BytePairEncoder {
 public:
  using Vocab = std::unordered_map<std::string, int32_t>;  // byte-level token string -> id

  // `merges` are (left, right) vocabulary strings in rank order; `source`
  // names the file for error messages. With ignore_merges, a piece that is a
  // whole vocabulary token maps to it directly (as Hugging Face's option does).
  BytePairEncoder(const Vocab& vocab, const std::vector<std::pair<std::string, std::string>>& merges,
                  bool ignore_merges, const std::string& source);
  // tiktoken's rule over the ranked tokens: ids [0, ranked_count) with raw
  // bytes bytes_of_id[id]; every split of a token into two ranked tokens is
  // a merge of that token's rank.
  BytePairEncoder(const Vocab& vocab, const std::vector<std::string>& bytes_of_id, int32_t ranked_count,
                  const std::string& source);

  void encode(std::string_view piece, std::vector<int32_t>& out) const;

 private:
  struct Merge {
    int32_t rank;
    int32_t merged_id;
  };
  static uint64_t pair_key(int32_t left, int32_t right) {
    return static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32 | static_cast<uint32_t>(right);
  }
  void merge_symbols(std::string_view piece, std::vector<int32_t>& out) const;
  // Fills byte_ids_: every single byte must be a token.
  void find_byte_tokens(const std::string& source);

  const Vocab& vocab_;
  std::array<int32_t, 256> byte_ids_{};
  std::unordered_map<uint64_t, Merge> merges_;
  bool ignore_merges_;

  struct StringHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  mutable std::mutex cache_mutex_;
  mutable std::unordered_map<std::string, std::vector<int32_t>, StringHash, std::equal_to<>> cache_;
};

}  // namespace strata
