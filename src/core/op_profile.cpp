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
OpTotals sums;  // all but the work, which workers add to without the lock
std::array<std::array<std::atomic<double>, size_t(Work::kCount)>, size_t(Op::kCount)> work;
// Op::kCount: no op open.
std::atomic<int> open_op{int(Op::kCount)};
}  // namespace

void enable(bool enable) { on.store(enable, std::memory_order_relaxed); }
bool enabled() { return on.load(std::memory_order_relaxed); }

void reset() {
  std::lock_guard lock(mu);
  sums = OpTotals{};
  for (auto& op : work)
    for (auto& w : op) w.store(0, std::memory_order_relaxed);
}

OpTotals totals() {
  std::lock_guard lock(mu);
  OpTotals t = sums;
  for (size_t i = 0; i < t.size(); ++i)
    for (size_t k = 0; k < t[i].ops.size(); ++k) t[i].ops[k] = work[i][k].load(std::memory_order_relaxed);
  return t;
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
  work[size_t(op)][size_t(kind)].fetch_add(ops, std::memory_order_relaxed);
}

void open(Op op) { open_op.store(int(op), std::memory_order_relaxed); }
void close(Op previous) { open_op.store(int(previous), std::memory_order_relaxed); }
Op current() { return Op(open_op.load(std::memory_order_relaxed)); }

}  // namespace op_profile
}  // namespace strata
