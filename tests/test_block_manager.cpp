// Block manager: a random-operation property test (no leaked block, no
// double free, consistent reference counts, usage back to zero), prefix-cache
// hits and counters, LRU eviction order, hash-collision safety, and the
// paged KV storage behind it.
#include <gtest/gtest.h>

#include <memory>
#include <numeric>
#include <random>
#include <vector>

#include "core/check.h"
#include "core/error.h"
#include "engine/block_manager.h"
#include "engine/paged_kv_cache.h"
#include "engine/sequence.h"
#include "model/config.h"

using namespace strata;

namespace {

Sequence make_seq(int64_t id, std::vector<int32_t> prompt) {
  Sequence s;
  s.id = id;
  s.prompt = std::move(prompt);
  return s;
}

std::vector<int32_t> iota_tokens(int32_t n, int32_t first) {
  std::vector<int32_t> t(size_t(n), 0);
  std::iota(t.begin(), t.end(), first);
  return t;
}

// Admits seq with its prefix-cache hit and computes (and caches) all its tokens.
void admit_and_compute(BlockManager& bm, Sequence& seq) {
  ASSERT_TRUE(bm.allocate(seq, seq.num_tokens(), bm.match_prefix(seq)));
  seq.num_computed_tokens = seq.num_tokens();
  bm.cache_computed_blocks(seq);
}

}  // namespace

TEST(BlockManager, RandomOperationsKeepInvariants) {
  for (uint64_t seed : {1u, 2u, 3u, 4u}) {
    std::mt19937_64 rng(seed);
    BlockManager bm(64, 4, /*enable_prefix_caching=*/seed % 2 == 1);
    // A few shared prefixes so that prompts hit each other's blocks.
    std::vector<std::vector<int32_t>> prefixes;
    for (int p = 0; p < 4; ++p) prefixes.push_back(iota_tokens(int32_t(4 + 5 * p), 100 * p));
    std::vector<std::unique_ptr<Sequence>> live;
    int64_t next_id = 0;
    auto check = [&] {
      std::vector<const Sequence*> holders;
      for (const auto& s : live) holders.push_back(s.get());
      bm.check_consistency(holders);
    };
    auto drop = [&](size_t i) {
      bm.free(*live[i]);
      live.erase(live.begin() + std::ptrdiff_t(i));
    };
    for (int op = 0; op < 5000; ++op) {
      const int kind = int(rng() % 10);
      if (kind < 3) {  // submit: a shared prefix plus a random tail
        std::vector<int32_t> prompt = prefixes[rng() % prefixes.size()];
        for (int i = int(rng() % 9); i > 0; --i) prompt.push_back(int32_t(1000 + rng() % 3));
        auto seq = std::make_unique<Sequence>(make_seq(next_id++, prompt));
        const PrefixMatch match = bm.match_prefix(*seq);
        const int32_t chunk = int32_t(1 + rng() % uint64_t(seq->num_tokens()));
        const int32_t target = std::max(chunk, int32_t(match.blocks.size()) * 4 + 1);
        const bool fits = bm.can_allocate(*seq, target, match);
        ASSERT_EQ(bm.allocate(*seq, target, match), fits);
        if (fits) {
          ASSERT_EQ(seq->num_computed_tokens, int32_t(match.blocks.size()) * 4);
          live.push_back(std::move(seq));
        }
      } else if (kind < 6 && !live.empty()) {  // compute reserved tokens, then maybe decode one more
        Sequence& seq = *live[rng() % live.size()];
        const int32_t reserved = std::min(seq.num_tokens(), int32_t(seq.block_table.size()) * 4);
        seq.num_computed_tokens = std::max(seq.num_computed_tokens, reserved);
        bm.cache_computed_blocks(seq);
        if (seq.num_computed_tokens == seq.num_tokens()) {
          seq.output.push_back(int32_t(2000 + rng() % 2));
          bm.allocate(seq, seq.num_tokens());  // may fail when full; the sequence just waits
        }
      } else if (kind < 9 && !live.empty()) {  // finish or abort
        drop(rng() % live.size());
      }
      check();
    }
    while (!live.empty()) drop(0);
    check();
    EXPECT_EQ(bm.num_free_blocks(), bm.num_blocks()) << "seed " << seed;
    EXPECT_EQ(bm.usage(), 0.0);
    if (bm.prefix_caching()) {
      EXPECT_GT(bm.prefix_cache_hits(), 0) << "seed " << seed;
    }
  }
}

TEST(BlockManager, DoubleFreeIsDetected) {
  BlockManager bm(8, 4);
  Sequence a = make_seq(1, iota_tokens(6, 0));
  ASSERT_TRUE(bm.allocate(a, 6));
  Sequence alias = a;  // a second owner the manager never counted
  bm.free(a);
  try {
    bm.free(alias);
    FAIL() << "a double free went unnoticed";
  } catch (const Bug& bug) {  // an internal invariant, named as such
    EXPECT_NE(std::string(bug.what()).find("strata bug: invariant \"a block is freed once per holder\""),
              std::string::npos)
        << bug.what();
  }
}

TEST(BlockManager, SecondIdenticalPromptHitsAllFullBlocksButTheLastToken) {
  BlockManager bm(32, 16);
  Sequence a = make_seq(1, iota_tokens(100, 0));
  admit_and_compute(bm, a);
  EXPECT_EQ(a.num_cached_tokens, 0);
  Sequence b = make_seq(2, iota_tokens(100, 0));
  admit_and_compute(bm, b);
  EXPECT_EQ(b.num_cached_tokens, 96);  // 6 full blocks; the partial one is never cached
  for (int i = 0; i < 6; ++i) EXPECT_EQ(a.block_table[size_t(i)], b.block_table[size_t(i)]);
  EXPECT_NE(a.block_table[6], b.block_table[6]);
  EXPECT_EQ(bm.ref_count(a.block_table[0]), 2);

  // A prompt of exactly 4 full blocks still computes its last token.
  Sequence c = make_seq(3, iota_tokens(64, 0));
  admit_and_compute(bm, c);
  EXPECT_EQ(c.num_cached_tokens, 48);
  EXPECT_EQ(bm.prefix_cache_queries(), 264);
  EXPECT_EQ(bm.prefix_cache_hits(), 96 + 48);

  // Freed cached blocks remain hits until evicted.
  bm.free(a);
  bm.free(b);
  bm.free(c);
  Sequence d = make_seq(4, iota_tokens(100, 0));
  EXPECT_EQ(bm.match_prefix(d).blocks.size(), 6u);
  bm.check_consistency({});
}

TEST(BlockManager, OnlyComputedBlocksAreCached) {
  BlockManager bm(32, 16);
  Sequence a = make_seq(1, iota_tokens(64, 0));
  ASSERT_TRUE(bm.allocate(a, 64));  // reserved, as for a layered cohort, but nothing written yet
  Sequence b = make_seq(2, iota_tokens(64, 0));
  EXPECT_TRUE(bm.match_prefix(b).blocks.empty());
  a.num_computed_tokens = 40;  // e.g. a chunk finished through the last layer
  bm.cache_computed_blocks(a);
  EXPECT_EQ(bm.match_prefix(b).blocks.size(), 2u);
}

TEST(BlockManager, EvictsNeverCachedBlocksFirstThenLeastRecentlyFreed) {
  BlockManager bm(6, 4);
  Sequence a = make_seq(1, iota_tokens(9, 0));    // 2 full blocks + 1 partial
  Sequence b = make_seq(2, iota_tokens(9, 100));  // likewise
  admit_and_compute(bm, a);
  admit_and_compute(bm, b);
  bm.free(a);  // A's blocks become least recently used
  bm.free(b);
  auto hits = [&](const Sequence& s) { return bm.match_prefix(Sequence(s)).blocks.size(); };
  EXPECT_EQ(hits(a), 2u);
  EXPECT_EQ(hits(b), 2u);

  Sequence c = make_seq(3, iota_tokens(24, 500));
  // The two partial blocks were never cached: they go first, evicting nothing.
  ASSERT_TRUE(bm.allocate(c, 8));
  EXPECT_EQ(hits(a), 2u);
  EXPECT_EQ(hits(b), 2u);
  // Then A's blocks, its last block before the prefix it hangs from.
  ASSERT_TRUE(bm.allocate(c, 12));
  EXPECT_EQ(hits(a), 1u);
  ASSERT_TRUE(bm.allocate(c, 16));
  EXPECT_EQ(hits(a), 0u);
  EXPECT_EQ(hits(b), 2u);
  ASSERT_TRUE(bm.allocate(c, 20));
  EXPECT_EQ(hits(b), 1u);
  bm.check_consistency({&c});
}

TEST(BlockManager, HashCollisionsNeverReuseWrongBlocks) {
  BlockManager bm(32, 4);
  bm.set_hasher_for_testing([](uint64_t, const int32_t*, int32_t) -> uint64_t { return 42; });
  Sequence a = make_seq(1, {1, 2, 3, 4, 5, 6, 7, 8, 9});
  admit_and_compute(bm, a);
  // Different tokens, same hash: no hit.
  Sequence b = make_seq(2, {9, 9, 9, 9, 5, 6, 7, 8, 9});
  EXPECT_TRUE(bm.match_prefix(b).blocks.empty());
  // Same first block, different second block with the same hash: only the first hits.
  Sequence c = make_seq(3, {1, 2, 3, 4, 0, 0, 0, 0, 9});
  const PrefixMatch match = bm.match_prefix(c);
  ASSERT_EQ(match.blocks.size(), 1u);
  EXPECT_EQ(match.blocks[0], a.block_table[0]);
  admit_and_compute(bm, b);
  admit_and_compute(bm, c);
  bm.check_consistency({&a, &b, &c});
}

TEST(BlockManager, RejectsBadSizes) {
  EXPECT_THROW(BlockManager(0, 16), Error);
  EXPECT_THROW(BlockManager(4, 0), Error);
}

TEST(PagedKVCache, RowsFollowTheBlockTable) {
  ModelConfig config;
  config.num_hidden_layers = 2;
  config.num_key_value_heads = 2;
  config.head_dim = 4;
  PagedKVCache kv(config, 4, 2);
  const std::vector<int32_t> table_a = {3, 1}, table_b = {3, 0};  // share block 3
  kv.bind(0, &table_a);
  kv.bind(1, &table_b);
  kv.key(1, 0, 1)[7] = 5.0f;
  kv.value(1, 0, 1)[7] = 6.0f;
  EXPECT_EQ(kv.key(1, 1, 1)[7], 5.0f);  // same block 3, row 1
  EXPECT_EQ(kv.value(1, 1, 1)[7], 6.0f);
  EXPECT_NE(kv.key(1, 0, 1), kv.key(0, 0, 1));
  EXPECT_NE(kv.key(0, 0, 2), kv.key(0, 1, 2));  // blocks 1 and 0
  EXPECT_EQ(kv.key(0, 0, 3), kv.key(0, 0, 2) + 8);
  EXPECT_THROW(kv.key(0, 0, 4), Error);  // beyond the reserved blocks
  EXPECT_THROW(kv.key(2, 0, 0), Bug);  // no such layer: the caller's bug
  EXPECT_THROW(kv.key(0, 2, 0), Error);  // unbound slot
  kv.clear_bindings();
  EXPECT_THROW(kv.key(0, 0, 0), Error);
}

TEST(PagedKVCache, BudgetHelpers) {
  ModelConfig config;
  config.num_hidden_layers = 48;
  config.num_key_value_heads = 4;
  config.head_dim = 128;
  EXPECT_EQ(kv_bytes_per_block(config, 16), int64_t(4) * 2 * 48 * 512 * 16);
  EXPECT_EQ(num_kv_blocks_for_budget(int64_t(1) << 30, config, 16), 341);
  EXPECT_THROW(num_kv_blocks_for_budget(1000, config, 16), Error);
  EXPECT_EQ(parse_kv_budget("2GiB"), int64_t(2) << 30);
  EXPECT_EQ(parse_kv_budget("512MiB"), int64_t(512) << 20);
  EXPECT_GT(parse_kv_budget("10%"), 0);
  EXPECT_THROW(parse_kv_budget("lots"), Error);
  EXPECT_THROW(parse_kv_budget("150%"), Error);
  EXPECT_THROW(parse_kv_budget("-1GiB"), Error);
}
