#pragma once
// Bookkeeping of the paged KV cache: which physical blocks each sequence
// holds, reference counts, and automatic prefix caching. The KV numbers
// themselves live in PagedKVCache; this class only hands out block ids.
//
// Prefix caching: a full block is identified by a 64-bit hash chained from
// its parent block's hash and its token ids. A hash is only a hint: on a hit
// the block's stored tokens are compared and its parent link (block id and
// that block's reuse generation) must be the block matched just before, so a
// hash collision can cost a hit but never hands out KV of other tokens.
// Cached blocks whose last user is gone stay in an LRU and are evicted only
// when a fresh block is needed; blocks that were never cached are used first.
#include <cstddef>
#include <cstdint>
#include <list>
#include <unordered_map>
#include <vector>

namespace strata {

struct Sequence;

// Cached blocks that start a sequence's tokens (see BlockManager::match_prefix).
struct PrefixMatch {
  std::vector<int32_t> blocks;
};

class BlockManager {
 public:
  using BlockHasher = uint64_t (*)(uint64_t parent_hash, const int32_t* tokens, int32_t n);

  BlockManager(int32_t num_blocks, int32_t block_size = 16, bool enable_prefix_caching = true);

  int32_t num_blocks() const { return int32_t(blocks_.size()); }
  int32_t block_size() const { return block_size_; }
  bool prefix_caching() const { return prefix_caching_; }
  // Blocks not held by any sequence (cached-but-unused ones included).
  int32_t num_free_blocks() const { return int32_t(free_queue_.size()); }
  int32_t blocks_for(int32_t num_tokens) const { return (num_tokens + block_size_ - 1) / block_size_; }
  // Fraction of blocks held by sequences (vLLM's kv_cache_usage_perc / 100).
  double usage() const { return 1.0 - double(num_free_blocks()) / double(num_blocks()); }

  // The longest run of cached full blocks that starts `seq`'s tokens, never
  // covering the last token (it must be computed to produce logits). Empty
  // when caching is off. Changes nothing.
  PrefixMatch match_prefix(const Sequence& seq) const;
  // Whether allocate(seq, num_tokens, prefix) would succeed.
  bool can_allocate(const Sequence& seq, int32_t num_tokens, const PrefixMatch& prefix = {}) const;
  // Grows seq's block table to cover positions [0, num_tokens). A non-empty
  // `prefix` (only for a sequence holding no blocks) is taken first and marks
  // its tokens computed and cached. Returns false, changing nothing, when
  // there are not enough free blocks.
  bool allocate(Sequence& seq, int32_t num_tokens, const PrefixMatch& prefix = {});
  // Registers every full block of seq below seq.num_computed_tokens in the
  // prefix cache. Call only once those tokens' KV is written through all layers.
  void cache_computed_blocks(Sequence& seq);
  // Releases seq's blocks (finish, abort or preemption).
  void free(Sequence& seq);
  // Shrinks seq's block table to cover positions [0, num_tokens), releasing
  // the blocks past it (speculative decoding: the rejected draft tokens'),
  // and moves num_computed_tokens back to at most num_tokens. Blocks already
  // registered in the prefix cache must lie below the cut (checked): only
  // computed, verified tokens are ever registered (cache_computed_blocks),
  // so no rejected token's KV can be found by a later request.
  void truncate(Sequence& seq, int32_t num_tokens);

  // Prefix-cache counters in tokens, as vLLM's prefix_cache_queries / hits:
  // tokens looked up at admission, and tokens found cached.
  int64_t prefix_cache_queries() const { return queries_; }
  int64_t prefix_cache_hits() const { return hits_; }

  int32_t ref_count(int32_t block) const { return blocks_[size_t(block)].ref_count; }
  // Throws Error at the first broken invariant, given every sequence that
  // holds blocks: reference counts, the free queue and the cache index.
  void check_consistency(const std::vector<const Sequence*>& holders) const;
  // Replaces the block hash (tests force collisions with it).
  void set_hasher_for_testing(BlockHasher hasher) { hasher_ = hasher; }

 private:
  struct Block {
    int32_t ref_count = 0;
    uint32_t generation = 0;  // bumped on every reuse, so stale parent links never match
    bool hashed = false;      // hash/tokens/parent describe this block's content
    bool registered = false;  // findable through cache_index_
    uint64_t hash = 0;
    int32_t parent = -1;  // previous block of the sequence that computed it
    uint32_t parent_generation = 0;
    std::vector<int32_t> tokens;
    bool in_free_queue = false;
    std::list<int32_t>::iterator free_pos;
  };

  // Pops the block to reuse next, evicting its cache entry if it has one.
  int32_t take_free_block();
  // Drops one holder of `block`; an unheld block joins the free queue.
  void release(int32_t block, const Sequence& holder);
  void remove_from_free_queue(int32_t block);
  bool verify(int32_t block, const Sequence& seq, int32_t index, int32_t parent) const;

  int32_t block_size_;
  bool prefix_caching_;
  BlockHasher hasher_;
  std::vector<Block> blocks_;
  // Front: never-cached blocks (used first), then cached ones from least to
  // most recently freed (evicted in that order).
  std::list<int32_t> free_queue_;
  std::unordered_map<uint64_t, int32_t> cache_index_;
  int64_t queries_ = 0, hits_ = 0;
};

}  // namespace strata
