// Attention over a bf16 KV cache in a packed layout made for the AVX512-BF16 dot-product
// instruction (vdpbf16ps: 16 fp32 lanes, each += a pair of bf16 products):
//   keys:   blocks of 16 positions; in a block, for each pair of channels (2m, 2m+1), the 16
//           positions' pairs side by side: [capacity / 16][head_dim / 2][16][2]. One 64-byte
//           load is a pair of channels of 16 keys: a query's scores for 16 keys take
//           head_dim / 2 instructions, with the key positions in the lanes.
//   values: pairs of positions; for each channel, the two positions' values side by side:
//           [capacity / 2][head_dim][2]. One load is 16 channels of 2 positions: the weighted
//           sum over 2 positions takes head_dim / 16 instructions, channels in the lanes.
// Per query row: scores for every visible key (fp32, in scratch), their max, exp and sum,
// probabilities rounded to bf16, then the weighted sum of values — no [T, S] score tensor in
// memory and no separate softmax pass over it. Plain pointers only: this file's .cpp is
// compiled with AVX-512 flags (see dynamics/CMakeLists.txt).
#pragma once

#include <cstdint>

namespace wm::dynamics::packed {

constexpr int64_t kKeyBlock = 16;  // key positions per packed block
constexpr int kScoreRows = 4;      // query rows scored together (each key load serves them all)

// Element offsets (bf16 units) inside one (batch, head)'s packed keys / values.
inline int64_t key_offset(int64_t position, int64_t channel, int64_t head_dim) {
  return ((position / kKeyBlock) * (head_dim / 2) + channel / 2) * (2 * kKeyBlock) + (position % kKeyBlock) * 2 + channel % 2;
}
inline int64_t value_offset(int64_t position, int64_t channel, int64_t head_dim) {
  return ((position / 2) * head_dim + channel) * 2 + position % 2;
}

// One (batch, head) pair.
struct HeadAttention {
  const uint16_t* q;          // [rows, head_dim] bf16 bits, row stride q_stride
  int64_t q_stride;
  const uint16_t* keys;       // packed, holding at least `keys_count` positions
  const uint16_t* values;     // packed
  uint16_t* out;              // [rows, head_dim] bf16 bits, row stride out_stride
  int64_t out_stride;
  int64_t rows;
  int64_t keys_count;         // S: positions held
  int64_t head_dim;           // 16, 32, 64, 128 or 256
  int64_t causal_rows;        // rows [0, causal_rows) sit at S - causal_rows + i and see keys up to their own
  float scale;                // 1 / sqrt(head_dim)
  float* scores;              // scratch: kScoreRows rows of S rounded up to 16 floats,
  int64_t scores_stride;      //   scores_stride apart
  uint16_t* probs;            // scratch: S rounded up to 16 bf16
};

// Whether this build has the kernel (x86-64), and whether this CPU can run it.
bool packed_attention_built();
void attend_packed_head(const HeadAttention& a);

}  // namespace wm::dynamics::packed
