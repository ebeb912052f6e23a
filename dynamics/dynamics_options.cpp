#include "dynamics/dynamics_options.h"

#include "core/error.h"

namespace wm::dynamics {

void describe(core::ConfigSchema& schema, DynamicsOptions& d) {
  schema.add("tokens_per_frame", &d.tokens_per_frame, "K: tokens per frame (the tokenizer's grid, 8x8 = 64)", core::at_least(1));
  schema.add("grid_height", &d.grid_height, "the token grid's rows (set from the data; 0: unknown)", core::at_least(0));
  schema.add("grid_width", &d.grid_width, "the token grid's columns (set from the data; 0: unknown)", core::at_least(0));
  schema.add("vocab_size", &d.vocab_size, "V: the tokenizer's codebook size", core::at_least(1));
  schema.add("num_actions", &d.num_actions, "discrete actions: how many (0 for continuous)", core::at_least(0));
  schema.add("action_dim", &d.action_dim, "continuous actions: the vector length (0 for discrete)", core::at_least(0));
  schema.add("layers", &d.layers, "transformer blocks", core::between(1, 1024));
  schema.add("width", &d.width, "embedding width", core::between(1, 1 << 16));
  schema.add("heads", &d.heads, "attention heads (width must divide by it)", core::between(1, 1024));
  schema.add("kv_heads", &d.kv_heads, "key/value heads, dividing heads (grouped-query attention: a smaller KV cache); 0: as many as heads", core::at_least(0));
  schema.add("context_steps", &d.context_steps, "L: steps of context (L * (K + 1) positions)", core::between(2, 4096));
  schema.add("dropout", &d.dropout, "dropout on embeddings and residuals", core::between(0, 1));
  schema.add("attention_dropout", &d.attention_dropout,
             "dropout on the attention probabilities (above 0 leaves the fused attention kernel: about 2x slower training on CPU)", core::between(0, 1));
  schema.add("rotary", &d.rotary, "rotary position embedding in attention (relative offsets)");
  schema.add_choice("decoding", &d.decoding, {{"ar", Decoding::kAutoregressive}, {"parallel", Decoding::kParallel}},
                    "ar: the next frame token by token (K cache reads per frame); parallel: all K tokens in one pass from "
                    "learned queries (1 cache read per frame)");
  schema.add("previous_frame_input", &d.previous_frame_input,
             "each prediction of frame t + 1's token at a place sees frame t's token there (an input embedding), in either decoding mode");
  schema.add("copy_gate", &d.copy_gate,
             "predict a mixture of the softmax and \"the previous frame's token here\", weighted by a learned per-place gate: "
             "copying is reachable in tens of steps; either decoding mode");
  schema.add("copy_radius", &d.copy_radius,
             "copy_gate: the previous frame's tokens within this many places of the predicted one are copy candidates too "
             "(1: the 3x3 neighbourhood, for motion); 0: the same place only", core::at_least(0));
  schema.add("copy_history", &d.copy_history,
             "copy_gate: the tokens at the predicted place in this many frames before the previous one are copy candidates too "
             "(real footage flickers between a few codes); 0: the previous frame only", core::at_least(0));
  schema.add_choice("reward_head", &d.reward_head, {{"sign", RewardHead::kSign}, {"twohot", RewardHead::kTwoHot}},
                    "sign: 3 classes (IRIS); twohot: symlog two-hot regression (DreamerV3)");
  schema.add("reward_bins", &d.reward_bins, "two-hot bins", core::at_least(2));
}

void DynamicsOptions::validate() const {
  auto fail = [](const std::string& what) { throw core::Error("dynamics options: " + what); };
  if (grid_height < 0 || grid_width < 0 || (grid_height > 0 && grid_width > 0 && grid_height * grid_width != tokens_per_frame)) {
    fail("grid " + grid_text() + " does not hold tokens_per_frame " + std::to_string(tokens_per_frame) + " tokens");
  }
  if (copy_radius < 0) fail("copy_radius " + std::to_string(copy_radius) + " is negative");
  if (copy_radius > 0 && !copy_gate) fail("copy_radius " + std::to_string(copy_radius) + " needs copy_gate: true");
  if (copy_radius > 0 && grid_text() == "unknown") {
    fail("copy_radius " + std::to_string(copy_radius) + " needs the token grid (grid_height, grid_width; set from the data)");
  }
  if (copy_history < 0) fail("copy_history " + std::to_string(copy_history) + " is negative");
  if (copy_history > 0 && !copy_gate) fail("copy_history " + std::to_string(copy_history) + " needs copy_gate: true");
  if (copy_history > 0 && copy_history > context_steps - 2) {
    fail("copy_history " + std::to_string(copy_history) + " exceeds context_steps - 2 = " + std::to_string(context_steps - 2) +
         " (the frames a window holds before a prediction's previous one)");
  }
  if (tokens_per_frame < 1) fail("tokens_per_frame " + std::to_string(tokens_per_frame) + " must be positive");
  if (vocab_size < 2) fail("vocab_size " + std::to_string(vocab_size) + " must be at least 2");
  if ((num_actions > 0) == (action_dim > 0)) {
    fail("set exactly one of num_actions (discrete, got " + std::to_string(num_actions) + ") and action_dim (continuous, got " +
         std::to_string(action_dim) + ")");
  }
  if (layers < 1) fail("layers " + std::to_string(layers) + " must be positive");
  if (heads < 1 || width % heads != 0) fail("width " + std::to_string(width) + " is not divisible by heads " + std::to_string(heads));
  if (kv_heads < 0 || (kv_heads > 0 && heads % kv_heads != 0)) {
    fail("kv_heads " + std::to_string(kv_heads) + " does not divide heads " + std::to_string(heads) + " (0: as many as heads)");
  }
  if (context_steps < 2) fail("context_steps " + std::to_string(context_steps) + " must be at least 2");
  if (rotary && (width / heads) % 2 != 0) fail("rotary needs an even head width, got " + std::to_string(width / heads));
  if (dropout < 0 || dropout >= 1) fail("dropout " + std::to_string(dropout) + " is outside [0, 1)");
  if (attention_dropout < 0 || attention_dropout >= 1) fail("attention_dropout " + std::to_string(attention_dropout) + " is outside [0, 1)");
  if (reward_head == RewardHead::kTwoHot && reward_bins < 3) fail("reward_bins " + std::to_string(reward_bins) + " must be at least 3");
}

std::string DynamicsOptions::grid_text() const {
  if (grid_height <= 0 || grid_width <= 0) return "unknown";
  return std::to_string(grid_height) + "x" + std::to_string(grid_width);
}

}  // namespace wm::dynamics
