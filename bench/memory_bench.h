// `wm bench memory`: how fast this machine reads memory (GB/s) — the ceiling a KV-cache read
// divides by, as `wm bench gemm` is the ceiling of arithmetic. Decoding one token is a read
// of the whole cache for little arithmetic, so its speed is set by this figure, not by GFLOP/s.
#pragma once

#include <cstdint>

namespace wm::bench {

struct MemoryBandwidth {
  double read_gb_per_s = 0;  // best repeat: bytes read / seconds (1 GB = 1e9 bytes)
  int64_t bytes = 0;         // the buffer read, each repeat
};

// Sums a buffer of `bytes` fp32 values on the CPU with the intra-op threads (a reduction
// is a pure read): one warm-up, then repeats of at least `min_seconds`, the best kept.
MemoryBandwidth run_memory_bench(int64_t bytes, double min_seconds);

}  // namespace wm::bench
