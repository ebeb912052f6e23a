#include "tokenizer/tokenizer_options.h"

#include "core/error.h"

namespace wm::tokenizer {

void describe(core::ConfigSchema& schema, TokenizerOptions& t) {
  schema.add("height", &t.height, "frame height the tokenizer reads", core::between(1, 16384));
  schema.add("width", &t.width, "frame width the tokenizer reads", core::between(1, 16384));
  schema.add("downsample", &t.downsample, "8: 64x64 frames -> 8x8 = 64 tokens", core::between(1, 1024));
  schema.add("vocab_size", &t.vocab_size, "codebook entries (1024, as commaVQ)", core::between(2, 1 << 24));
  schema.add("code_dim", &t.code_dim, "dimension of the l2-normalized lookup space", core::between(1, 1 << 16));
  schema.add("base_channels", &t.base_channels, "encoder/decoder channels at full resolution", core::between(1, 1 << 16));
  schema.add("channel_mult", &t.channel_mult, "channel multiplier per level; log2(downsample)+1 entries");
  schema.add("res_blocks", &t.res_blocks, "residual blocks per level", core::between(0, 64));
  schema.add("attention", &t.attention, "self-attention at the bottleneck");
  schema.add("ema_decay", &t.ema_decay, "codebook EMA decay", core::between(0, 1));
  schema.add("commitment_weight", &t.commitment_weight, "weight of the commitment loss", core::at_least(0));
  schema.add("restart_every", &t.restart_every, "steps between dead-code restarts", core::at_least(1));
}

void TokenizerOptions::validate() const {
  auto fail = [](const std::string& what) { throw core::Error("tokenizer options: " + what); };
  if (downsample < 1 || (downsample & (downsample - 1)) != 0) fail("downsample " + std::to_string(downsample) + " is not a power of two");
  if (height % downsample != 0 || width % downsample != 0) {
    fail("frame " + std::to_string(height) + "x" + std::to_string(width) + " is not divisible by downsample " + std::to_string(downsample));
  }
  int levels = 1;
  for (int d = downsample; d > 1; d /= 2) ++levels;
  if (static_cast<int>(channel_mult.size()) != levels) {
    fail("channel_mult has " + std::to_string(channel_mult.size()) + " entries; downsample " + std::to_string(downsample) +
         " needs " + std::to_string(levels));
  }
  if (vocab_size < 2 || vocab_size > 32768) fail("vocab_size " + std::to_string(vocab_size) + " is outside 2..32768 (tokens are stored as int16)");
  if (code_dim < 1) fail("code_dim must be positive");
  if (base_channels % 8 != 0) fail("base_channels " + std::to_string(base_channels) + " is not a multiple of 8 (GroupNorm groups)");
  if (ema_decay <= 0 || ema_decay >= 1) fail("ema_decay must be in (0, 1)");
}

}  // namespace wm::tokenizer
