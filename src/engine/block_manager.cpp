#include "engine/block_manager.h"

#include <algorithm>
#include <unordered_set>

#include "core/check.h"
#include "core/error.h"
#include "engine/sequence.h"

namespace strata {

namespace {

// splitmix64's finalizer: a bijective 64-bit mix with full avalanche.
uint64_t mix64(uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ull;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebull;
  x ^= x >> 31;
  return x;
}

constexpr uint64_t kHashKey = 0x9e3779b97f4a7c15ull;
constexpr uint64_t kRootHash = 0x243f6a8885a308d3ull;  // parent hash of a sequence's first block

uint64_t chained_block_hash(uint64_t parent_hash, const int32_t* tokens, int32_t n) {
  uint64_t h = mix64(parent_hash ^ kHashKey);
  for (int32_t i = 0; i < n; ++i) h = mix64(h + kHashKey + uint32_t(tokens[i]));
  return mix64(h ^ uint64_t(n));
}

std::vector<int32_t> block_tokens(const Sequence& seq, int32_t index, int32_t block_size) {
  std::vector<int32_t> tokens(static_cast<size_t>(block_size));
  for (int32_t i = 0; i < block_size; ++i) tokens[size_t(i)] = seq.token(index * block_size + i);
  return tokens;
}

}  // namespace

BlockManager::BlockManager(int32_t num_blocks, int32_t block_size, bool enable_prefix_caching)
    : block_size_(block_size), prefix_caching_(enable_prefix_caching), hasher_(chained_block_hash) {
  if (num_blocks <= 0) fail("KV cache: need at least one block (got {})", num_blocks);
  if (block_size <= 0) fail("KV cache: block size must be positive (got {})", block_size);
  blocks_.resize(size_t(num_blocks));
  for (int32_t b = 0; b < num_blocks; ++b) {
    blocks_[size_t(b)].free_pos = free_queue_.insert(free_queue_.end(), b);
    blocks_[size_t(b)].in_free_queue = true;
  }
}

bool BlockManager::verify(int32_t block, const Sequence& seq, int32_t index, int32_t parent) const {
  const Block& b = blocks_[size_t(block)];
  if (!b.registered || b.parent != parent) return false;
  if (parent >= 0 && b.parent_generation != blocks_[size_t(parent)].generation) return false;
  for (int32_t i = 0; i < block_size_; ++i) {
    if (b.tokens[size_t(i)] != seq.token(index * block_size_ + i)) return false;
  }
  return true;
}

PrefixMatch BlockManager::match_prefix(const Sequence& seq) const {
  PrefixMatch match;
  if (!prefix_caching_) return match;
  const int32_t max_blocks = (seq.num_tokens() - 1) / block_size_;
  uint64_t hash = kRootHash;
  int32_t parent = -1;
  for (int32_t i = 0; i < max_blocks; ++i) {
    const std::vector<int32_t> tokens = block_tokens(seq, i, block_size_);
    hash = hasher_(hash, tokens.data(), block_size_);
    const auto it = cache_index_.find(hash);
    if (it == cache_index_.end() || !verify(it->second, seq, i, parent)) break;
    parent = it->second;
    match.blocks.push_back(parent);
  }
  return match;
}

bool BlockManager::can_allocate(const Sequence& seq, int32_t num_tokens, const PrefixMatch& prefix) const {
  const int32_t held = int32_t(seq.block_table.size() + prefix.blocks.size());
  const int32_t needed = std::max(0, blocks_for(num_tokens) - held);
  // Matched blocks nobody holds sit in the free queue: taking them uses it up too.
  int32_t available = num_free_blocks();
  for (int32_t b : prefix.blocks) available -= blocks_[size_t(b)].ref_count == 0 ? 1 : 0;
  return needed <= available;
}

bool BlockManager::allocate(Sequence& seq, int32_t num_tokens, const PrefixMatch& prefix) {
  check(prefix.blocks.empty() || seq.block_table.empty(), "a prefix match applies only at admission",
        "sequence {} already holds blocks", seq.id);
  if (!can_allocate(seq, num_tokens, prefix)) return false;
  const bool admission = seq.block_table.empty() && seq.num_computed_tokens == 0;
  if (admission && prefix_caching_) {
    queries_ += seq.num_tokens();
    hits_ += int64_t(prefix.blocks.size()) * block_size_;
  }
  for (int32_t b : prefix.blocks) {
    if (blocks_[size_t(b)].ref_count == 0) remove_from_free_queue(b);
    blocks_[size_t(b)].ref_count++;
    seq.block_table.push_back(b);
  }
  if (admission) {
    seq.num_hashed_blocks = int32_t(prefix.blocks.size());
    seq.num_computed_tokens = seq.num_hashed_blocks * block_size_;
    seq.num_cached_tokens = seq.num_computed_tokens;
  }
  while (int32_t(seq.block_table.size()) < blocks_for(num_tokens)) seq.block_table.push_back(take_free_block());
  return true;
}

void BlockManager::cache_computed_blocks(Sequence& seq) {
  if (!prefix_caching_) return;
  const int32_t full = std::min<int32_t>(seq.num_computed_tokens / block_size_, int32_t(seq.block_table.size()));
  for (int32_t i = seq.num_hashed_blocks; i < full; ++i) {
    const int32_t parent = i > 0 ? seq.block_table[size_t(i - 1)] : -1;
    Block& b = blocks_[size_t(seq.block_table[size_t(i)])];
    b.tokens = block_tokens(seq, i, block_size_);
    b.hash = hasher_(parent >= 0 ? blocks_[size_t(parent)].hash : kRootHash, b.tokens.data(), block_size_);
    b.parent = parent;
    b.parent_generation = parent >= 0 ? blocks_[size_t(parent)].generation : 0;
    b.hashed = true;
    // A block with the same hash may be cached already (the same prefix
    // computed twice concurrently, or a collision): keep the first.
    b.registered = cache_index_.emplace(b.hash, seq.block_table[size_t(i)]).second;
  }
  seq.num_hashed_blocks = std::max(seq.num_hashed_blocks, full);
}

void BlockManager::free(Sequence& seq) {
  // Last blocks first, so a sequence's deepest blocks are evicted before the
  // shared prefix they hang from.
  for (auto it = seq.block_table.rbegin(); it != seq.block_table.rend(); ++it) release(*it, seq);
  seq.block_table.clear();
  seq.num_hashed_blocks = 0;
}

void BlockManager::truncate(Sequence& seq, int32_t num_tokens) {
  // A registered block past the cut would be written with other tokens later.
  check(seq.num_hashed_blocks * block_size_ <= num_tokens, "truncation keeps the prefix-cached blocks whole",
        "sequence {}: {} cached blocks, truncated to {} tokens", seq.id, seq.num_hashed_blocks, num_tokens);
  const size_t keep = size_t(blocks_for(num_tokens));
  while (seq.block_table.size() > keep) {
    release(seq.block_table.back(), seq);
    seq.block_table.pop_back();
  }
  seq.num_computed_tokens = std::min(seq.num_computed_tokens, num_tokens);
}

void BlockManager::release(int32_t block, const Sequence& holder) {
  Block& b = blocks_[size_t(block)];
  check(b.ref_count > 0, "a block is freed once per holder", "block {}, sequence {}", block, holder.id);
  if (--b.ref_count > 0) return;
  b.free_pos = b.registered ? free_queue_.insert(free_queue_.end(), block) : free_queue_.insert(free_queue_.begin(), block);
  b.in_free_queue = true;
}

int32_t BlockManager::take_free_block() {
  const int32_t id = free_queue_.front();
  remove_from_free_queue(id);
  Block& b = blocks_[size_t(id)];
  if (b.registered) cache_index_.erase(b.hash);
  b.registered = b.hashed = false;
  b.tokens.clear();
  b.parent = -1;
  b.generation++;
  b.ref_count = 1;
  return id;
}

void BlockManager::remove_from_free_queue(int32_t block) {
  Block& b = blocks_[size_t(block)];
  free_queue_.erase(b.free_pos);
  b.in_free_queue = false;
}

void BlockManager::check_consistency(const std::vector<const Sequence*>& holders) const {
  std::vector<int32_t> expected(blocks_.size(), 0);
  for (const Sequence* seq : holders) {
    for (int32_t b : seq->block_table) {
      check(b >= 0 && b < num_blocks(), "block tables hold valid block ids", "sequence {}, block {}", seq->id, b);
      expected[size_t(b)]++;
    }
  }
  std::unordered_set<int32_t> queued;
  for (int32_t b : free_queue_) {
    check(queued.insert(b).second, "a block is in the free queue at most once", "block {}", b);
  }
  for (int32_t b = 0; b < num_blocks(); ++b) {
    const Block& block = blocks_[size_t(b)];
    check(block.ref_count == expected[size_t(b)], "a block's ref count is its number of holders",
          "block {}: ref count {}, {} holders", b, block.ref_count, expected[size_t(b)]);
    const bool should_be_free = block.ref_count == 0;
    check(block.in_free_queue == should_be_free && queued.count(b) == (should_be_free ? 1u : 0u),
          "exactly the unheld blocks are in the free queue", "block {} (ref count {}) is {} the free queue", b,
          block.ref_count, block.in_free_queue ? "in" : "not in");
    if (block.registered) {
      const auto it = cache_index_.find(block.hash);
      check(it != cache_index_.end() && it->second == b, "every cached block is indexed", "block {}", b);
    }
  }
  for (const auto& [hash, b] : cache_index_) {
    check(blocks_[size_t(b)].registered && blocks_[size_t(b)].hash == hash, "every index entry names its cached block",
          "block {}", b);
  }
}

}  // namespace strata
