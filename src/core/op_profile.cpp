#include "core/op_profile.h"

#include <atomic>
#include <mutex>

namespace strata {

const char* op_name(Op op) {
  switch (op) {
    case Op::Embed: return "embedding";
    case Op::Norm: return "rmsnorm";
    case Op::QkvProj: return "q/k/v projections";
    case Op::QkNormRope: return "q/k norm and rope";
    case Op::KvWrite: return "KV cache write";
    case Op::Attention: return "attention";
    case Op::OProj: return "output projection";
    case Op::Router: return "router (GEMV + top-k)";
    case Op::Experts: return "routed experts";
    case Op::SharedExperts: return "shared experts";
    case Op::ExpertCombine: return "expert combine";
    case Op::DenseMlp: return "dense MLP";
    case Op::Residual: return "residual adds";
    case Op::LmHead: return "final norm and LM head";
    case Op::Sampling: return "logits processing and sampling";
    case Op::Detokenize: return "detokenize, stop checks";
    case Op::JoinWait: return "join waits (within the above)";
    case Op::kCount: break;
  }
  return "?";
}

namespace op_profile {
namespace {
std::atomic<bool> on{false};
std::mutex mu;
OpTotals sums;
// Op::kCount: no op open.
std::atomic<int> open_op{int(Op::kCount)};
}  // namespace

void enable(bool enable) { on.store(enable, std::memory_order_relaxed); }
bool enabled() { return on.load(std::memory_order_relaxed); }

void reset() {
  std::lock_guard lock(mu);
  sums = OpTotals{};
}

OpTotals totals() {
  std::lock_guard lock(mu);
  return sums;
}

void add(Op op, double seconds, double bytes) {
  std::lock_guard lock(mu);
  OpTotal& t = sums[size_t(op)];
  ++t.calls;
  t.seconds += seconds;
  t.bytes += bytes;
}

void add_work(Work kind, double ops) {
  if (!enabled()) return;
  const int op = open_op.load(std::memory_order_relaxed);
  if (op == int(Op::kCount)) return;
  std::lock_guard lock(mu);
  sums[size_t(op)].ops[size_t(kind)] += ops;
}

void open(Op op) { open_op.store(int(op), std::memory_order_relaxed); }
void close(Op previous) { open_op.store(int(previous), std::memory_order_relaxed); }
Op current() { return Op(open_op.load(std::memory_order_relaxed)); }

}  // namespace op_profile
}  // namespace strata
