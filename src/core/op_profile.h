#pragma once
// Where a forward pass spends its time: wall seconds, weight/KV bytes read
// and arithmetic done per op, summed over calls, for `strata generate`. Off by default;
// a ScopedOp then costs one relaxed atomic load. Ops are recorded by the
// thread that drives the forward pass (workers only compute inside them), so
// the figures of one op are its wall time, threads included. JoinWait is
// nested inside the others: the driving thread waiting for the workers at
// the end of a parallel loop (load imbalance plus wake-up latency).
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>

#include "core/work.h"

namespace strata {

enum class Op : int {
  Embed,
  Norm,
  QkvProj,
  QkNormRope,
  KvWrite,
  Attention,
  OProj,
  Router,
  Experts,
  SharedExperts,
  ExpertCombine,
  DenseMlp,
  Residual,
  LmHead,
  Sampling,
  Detokenize,
  JoinWait,
  kCount
};

const char* op_name(Op op);

struct OpTotal {
  int64_t calls = 0;
  double seconds = 0;
  double bytes = 0;
  WorkOps ops{};  // the arithmetic its kernels did, counted at their dispatch points
};
using OpTotals = std::array<OpTotal, size_t(Op::kCount)>;

namespace op_profile {
void enable(bool on);
bool enabled();
void reset();
OpTotals totals();
void add(Op op, double seconds, double bytes);
// Adds `ops` of `kind` to the op open on the driving thread; callable from
// any thread (workers compute inside the driver's op). Nothing while off.
// One thread drives profiled forward passes at a time (generate, the
// context benchmark): the open op is process-wide.
void add_work(Work kind, double ops);
// The op work is counted to: set by ScopedOp, except JoinWait, which nests
// inside an op whose workers are still computing.
void open(Op op);
void close(Op previous);
Op current();
}  // namespace op_profile

class ScopedOp {
 public:
  explicit ScopedOp(Op op, double bytes = 0) : op_(op), bytes_(bytes), on_(op_profile::enabled()) {
    if (!on_) return;
    start_ = std::chrono::steady_clock::now();
    previous_ = op_profile::current();
    if (op != Op::JoinWait) op_profile::open(op);
  }
  ~ScopedOp() {
    if (!on_) return;
    op_profile::add(op_, std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count(), bytes_);
    if (op_ != Op::JoinWait) op_profile::close(previous_);
  }
  ScopedOp(const ScopedOp&) = delete;
  ScopedOp& operator=(const ScopedOp&) = delete;

 private:
  Op op_;
  double bytes_;
  bool on_;
  Op previous_ = Op::kCount;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace strata
