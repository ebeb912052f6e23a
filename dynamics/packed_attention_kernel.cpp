// Compiled with -mavx512f -mavx512bw -mavx512vl -mavx512dq -mavx512bf16 (x86-64 only); called
// only when the CPU reports AVX512-BF16 (dynamics/cached_attention.cpp checks).
#include "dynamics/packed_attention_kernel.h"

#include <algorithm>

#if defined(WM_X86_KERNELS)
#include <immintrin.h>
#endif

namespace wm::dynamics::packed {

#if defined(WM_X86_KERNELS)

namespace {

// e^x for x <= 0 (scores minus their max): 2^n * e^r with n = round(x / ln 2) and
// |r| <= ln(2) / 2, e^r by its degree-6 Taylor polynomial (relative error ~2e-7, below
// bf16's 4e-3 and near fp32's rounding).
inline __m512 exp_nonpositive(__m512 x) {
  x = _mm512_max_ps(x, _mm512_set1_ps(-87.0f));
  const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);  // ln 2 in two parts: exact product with n
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
  __m512 p = _mm512_set1_ps(1.0f / 720.0f);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 120.0f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 24.0f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 6.0f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
  return _mm512_scalef_ps(p, n);
}

inline __m512bh as_bf16(__m512i v) { return (__m512bh)v; }

inline __mmask16 first_lanes(int64_t count) { return count >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << count) - 1u); }

// Keys row `row` sees: the causal rows up to their own position, the others all.
inline int64_t visible_keys(const HeadAttention& a, int64_t row) {
  return row < a.causal_rows ? a.keys_count - a.causal_rows + row + 1 : a.keys_count;
}

// Scores of kRows query rows against kBlocks blocks of 16 keys from block `first`: every key
// load serves kRows rows, and the kRows * kBlocks accumulators are independent, so
// consecutive dot-product instructions do not wait on each other's results (one chain runs at
// the instruction's latency, ~4x slower). Scores past a row's visible keys become -inf.
template <int kRows, int kBlocks>
inline void score_blocks(const HeadAttention& a, const uint16_t* const* q, const int64_t* visible, float* const* scores, int64_t first,
                         __m512* running_max) {
  const int64_t pairs = a.head_dim / 2;
  const uint16_t* key_block = a.keys + first * pairs * 2 * kKeyBlock;
  __m512 s[kRows][kBlocks];
  for (int r = 0; r < kRows; ++r) {
    for (int u = 0; u < kBlocks; ++u) s[r][u] = _mm512_setzero_ps();
  }
  for (int64_t m = 0; m < pairs; ++m) {
    __m512bh query[kRows];
    for (int r = 0; r < kRows; ++r) {
      uint32_t q_pair;
      __builtin_memcpy(&q_pair, q[r] + 2 * m, sizeof(q_pair));
      query[r] = as_bf16(_mm512_set1_epi32(static_cast<int>(q_pair)));
    }
    for (int u = 0; u < kBlocks; ++u) {
      const __m512bh keys = as_bf16(_mm512_loadu_si512(key_block + (u * pairs + m) * 2 * kKeyBlock));
      for (int r = 0; r < kRows; ++r) s[r][u] = _mm512_dpbf16_ps(s[r][u], keys, query[r]);
    }
  }
  for (int r = 0; r < kRows; ++r) {
    for (int u = 0; u < kBlocks; ++u) {
      const int64_t block = first + u;
      const __mmask16 valid = first_lanes(std::max<int64_t>(0, visible[r] - block * kKeyBlock));
      const __m512 scaled = _mm512_mask_mov_ps(_mm512_set1_ps(-__builtin_inff()), valid, _mm512_mul_ps(s[r][u], _mm512_set1_ps(a.scale)));
      running_max[r] = _mm512_max_ps(running_max[r], scaled);
      _mm512_storeu_ps(scores[r] + block * kKeyBlock, scaled);
    }
  }
}

// Scores of kRows consecutive rows from `row` (in scratch, kRows * padded keys apart).
template <int kRows>
void score_rows(const HeadAttention& a, int64_t row, float* maxima) {
  const uint16_t* q[kRows];
  int64_t visible[kRows];
  float* scores[kRows];
  __m512 running_max[kRows];
  int64_t blocks = 0;
  for (int r = 0; r < kRows; ++r) {
    q[r] = a.q + (row + r) * a.q_stride;
    visible[r] = visible_keys(a, row + r);
    scores[r] = a.scores + r * a.scores_stride;
    running_max[r] = _mm512_set1_ps(-__builtin_inff());
    blocks = std::max(blocks, (visible[r] + kKeyBlock - 1) / kKeyBlock);
  }
  int64_t block = 0;
  for (; block + 4 <= blocks; block += 4) score_blocks<kRows, 4>(a, q, visible, scores, block, running_max);
  for (; block < blocks; ++block) score_blocks<kRows, 1>(a, q, visible, scores, block, running_max);
  for (int r = 0; r < kRows; ++r) maxima[r] = _mm512_reduce_max_ps(running_max[r]);
}

// kChunks = head_dim / 16 accumulators per set of value products; kSets sets take turns over
// the key pairs for the same reason as above.
template <int kChunks>
void finish_row(const HeadAttention& a, int64_t row, const float* scores, float row_max) {
  constexpr int kSets = kChunks <= 2 ? 4 : kChunks <= 4 ? 2 : 1;
  const int64_t d = a.head_dim;
  const int64_t visible = visible_keys(a, row);
  const int64_t blocks = (visible + kKeyBlock - 1) / kKeyBlock;
  const __m512 max = _mm512_set1_ps(row_max);
  int64_t block = 0;

  // Probabilities (unnormalised), rounded to bf16 for the value products; zero past `visible`.
  __m512 running_sum = _mm512_setzero_ps();
  for (block = 0; block < blocks; ++block) {
    const __mmask16 valid = first_lanes(visible - block * kKeyBlock);
    const __m512 p = _mm512_maskz_mov_ps(valid, exp_nonpositive(_mm512_sub_ps(_mm512_loadu_ps(scores + block * kKeyBlock), max)));
    const __m256bh rounded = _mm512_cvtneps_pbh(p);
    // Sum what the value products will use: the rounded probabilities.
    running_sum = _mm512_add_ps(running_sum, _mm512_cvtpbh_ps(rounded));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(a.probs + block * kKeyBlock), (__m256i)rounded);
  }
  const float inverse_sum = 1.0f / _mm512_reduce_add_ps(running_sum);

  // Weighted sum of values: lanes are channels, one instruction per 16 channels and 2 keys.
  __m512 acc[kSets][kChunks];
  for (int set = 0; set < kSets; ++set) {
    for (int c = 0; c < kChunks; ++c) acc[set][c] = _mm512_setzero_ps();
  }
  // An odd count pairs the last key with a zero probability; whole rounds of kSets pairs
  // may read pairs past it, whose probabilities are zero too (blocks of 16 keys are whole).
  const int64_t key_pairs = (visible + 1) / 2;
  const int64_t rounds = (key_pairs + kSets - 1) / kSets;
  const int64_t readable_pairs = blocks * kKeyBlock / 2;
  for (int64_t round = 0; round < rounds; ++round) {
    for (int set = 0; set < kSets; ++set) {
      const int64_t n = round * kSets + set;
      if (n >= readable_pairs) break;
      uint32_t p_pair;
      __builtin_memcpy(&p_pair, a.probs + 2 * n, sizeof(p_pair));
      const __m512bh weights = as_bf16(_mm512_set1_epi32(static_cast<int>(p_pair)));
      const uint16_t* value_pair = a.values + n * d * 2;
      for (int c = 0; c < kChunks; ++c) acc[set][c] = _mm512_dpbf16_ps(acc[set][c], as_bf16(_mm512_loadu_si512(value_pair + c * 32)), weights);
    }
  }
  uint16_t* out = a.out + row * a.out_stride;
  for (int c = 0; c < kChunks; ++c) {
    __m512 total = acc[0][c];
    for (int set = 1; set < kSets; ++set) total = _mm512_add_ps(total, acc[set][c]);
    const __m256bh y = _mm512_cvtneps_pbh(_mm512_mul_ps(total, _mm512_set1_ps(inverse_sum)));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + c * 16), (__m256i)y);
  }
}

template <int kChunks>
void attend_rows(const HeadAttention& a) {
  constexpr int kRows = kScoreRows;
  float maxima[kRows];
  int64_t row = 0;
  for (; row + kRows <= a.rows; row += kRows) {
    score_rows<kRows>(a, row, maxima);
    for (int r = 0; r < kRows; ++r) finish_row<kChunks>(a, row + r, a.scores + r * a.scores_stride, maxima[r]);
  }
  for (; row < a.rows; ++row) {
    score_rows<1>(a, row, maxima);
    finish_row<kChunks>(a, row, a.scores, maxima[0]);
  }
}

}  // namespace

bool packed_attention_built() { return true; }

void attend_packed_head(const HeadAttention& a) {
  switch (a.head_dim / 16) {
    case 1: return attend_rows<1>(a);
    case 2: return attend_rows<2>(a);
    case 4: return attend_rows<4>(a);
    case 8: return attend_rows<8>(a);
    case 16: return attend_rows<16>(a);
    default: __builtin_trap();  // KVCache::packed_layout_available admits none other
  }
}

#else

bool packed_attention_built() { return false; }
void attend_packed_head(const HeadAttention&) {}

#endif

}  // namespace wm::dynamics::packed
