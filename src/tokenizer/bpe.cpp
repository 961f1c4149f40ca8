#include "tokenizer/bpe.h"

#include <queue>

#include "core/error.h"
#include "tokenizer/byte_level.h"

namespace strata {

namespace {
constexpr size_t kCacheMaxEntries = 1 << 16;  // cleared when full: cheap and bounded
constexpr size_t kCacheMaxPieceBytes = 256;   // longer pieces are rare and not worth keeping
}  // namespace

BytePairEncoder::BytePairEncoder(const Vocab& vocab, const std::vector<std::pair<std::string, std::string>>& merges,
                                 bool ignore_merges, const std::string& source)
    : vocab_(vocab), ignore_merges_(ignore_merges) {
  find_byte_tokens(source);
  auto id_of = [&](const std::string& token, const char* what) {
    auto it = vocab.find(token);
    if (it == vocab.end()) fail("{}: {} '{}' is not in the vocabulary", source, what, token);
    return it->second;
  };
  merges_.reserve(merges.size());
  for (size_t rank = 0; rank < merges.size(); ++rank) {
    const auto& [left, right] = merges[rank];
    const int32_t merged = id_of(left + right, "merge result");
    // A repeated merge keeps its first (lowest) rank.
    merges_.try_emplace(pair_key(id_of(left, "merge part"), id_of(right, "merge part")),
                        Merge{static_cast<int32_t>(rank), merged});
  }
}

BytePairEncoder::BytePairEncoder(const Vocab& vocab, const std::vector<std::string>& bytes_of_id, int32_t ranked_count,
                                 const std::string& source)
    : vocab_(vocab), ignore_merges_(false) {
  find_byte_tokens(source);
  std::unordered_map<std::string_view, int32_t> id_of_bytes;
  id_of_bytes.reserve(ranked_count);
  for (int32_t id = 0; id < ranked_count; ++id) id_of_bytes.emplace(bytes_of_id[id], id);
  for (int32_t id = 0; id < ranked_count; ++id) {
    const std::string_view token = bytes_of_id[id];
    for (size_t cut = 1; cut < token.size(); ++cut) {
      auto left = id_of_bytes.find(token.substr(0, cut));
      if (left == id_of_bytes.end()) continue;
      auto right = id_of_bytes.find(token.substr(cut));
      if (right != id_of_bytes.end()) merges_.try_emplace(pair_key(left->second, right->second), Merge{id, id});
    }
  }
}

void BytePairEncoder::find_byte_tokens(const std::string& source) {
  for (int b = 0; b < 256; ++b) {
    const std::string token = byte_level::encode(std::string(1, static_cast<char>(b)));
    auto it = vocab_.find(token);
    if (it == vocab_.end()) fail("{}: byte token '{}' is not in the vocabulary", source, token);
    byte_ids_[b] = it->second;
  }
}

void BytePairEncoder::encode(std::string_view piece, std::vector<int32_t>& out) const {
  if (piece.empty()) return;
  const bool cacheable = piece.size() <= kCacheMaxPieceBytes;
  if (cacheable) {
    std::lock_guard lock(cache_mutex_);
    if (auto it = cache_.find(piece); it != cache_.end()) {
      out.insert(out.end(), it->second.begin(), it->second.end());
      return;
    }
  }
  std::vector<int32_t> ids;
  if (ignore_merges_) {
    if (auto it = vocab_.find(byte_level::encode(piece)); it != vocab_.end()) ids.push_back(it->second);
  }
  if (ids.empty()) merge_symbols(piece, ids);
  out.insert(out.end(), ids.begin(), ids.end());
  if (cacheable) {
    std::lock_guard lock(cache_mutex_);
    if (cache_.size() >= kCacheMaxEntries) cache_.clear();
    cache_.emplace(std::string(piece), std::move(ids));
  }
}

void BytePairEncoder::merge_symbols(std::string_view piece, std::vector<int32_t>& out) const {
  // Symbols form a linked list over the piece's bytes; a merge folds the
  // right symbol into the left one. The heap holds candidate pairs by
  // (rank, position); entries made stale by earlier merges are skipped.
  struct Symbol {
    int32_t id;
    int prev, next;
  };
  struct Candidate {
    int32_t rank;
    int left;
    int32_t left_id, right_id, merged_id;
    bool operator>(const Candidate& o) const { return rank != o.rank ? rank > o.rank : left > o.left; }
  };
  const int n = static_cast<int>(piece.size());
  std::vector<Symbol> symbols(n);
  for (int i = 0; i < n; ++i) {
    symbols[i] = {byte_ids_[static_cast<unsigned char>(piece[i])], i - 1, i + 1 < n ? i + 1 : -1};
  }
  std::priority_queue<Candidate, std::vector<Candidate>, std::greater<>> heap;
  auto consider = [&](int left) {
    if (left < 0 || symbols[left].next < 0) return;
    const int32_t a = symbols[left].id, b = symbols[symbols[left].next].id;
    if (auto it = merges_.find(pair_key(a, b)); it != merges_.end()) {
      heap.push({it->second.rank, left, a, b, it->second.merged_id});
    }
  };
  for (int i = 0; i + 1 < n; ++i) consider(i);

  while (!heap.empty()) {
    const Candidate c = heap.top();
    heap.pop();
    Symbol& left = symbols[c.left];
    if (left.id != c.left_id || left.next < 0 || symbols[left.next].id != c.right_id) continue;
    Symbol& right = symbols[left.next];
    right.id = -1;
    left.id = c.merged_id;
    left.next = right.next;
    if (left.next >= 0) symbols[left.next].prev = c.left;
    consider(left.prev);
    consider(c.left);
  }
  for (int i = 0; i >= 0; i = symbols[i].next) out.push_back(symbols[i].id);
}

}  // namespace strata
