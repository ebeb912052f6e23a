// Seconds of training on CPU: labelled integration.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "test_support.h"
#include "tokenizer/tokenizer_test_support.h"
#include "tokenizer/vq_model.h"

namespace wm::tokenizer {
namespace {

TEST(VQModel, OverfitsAFixedBatchOf16FramesTo30Db) {
  torch::manual_seed(0);
  VQModel model(small_options());
  model->train();
  const torch::Tensor frames = driving_frames(16, 32, 32);
  torch::optim::AdamW adam(model->parameters(), torch::optim::AdamWOptions(2e-3).weight_decay(0.0));
  double psnr = 0;
  int step = 0;
  for (; step < 1500 && psnr < 30.0; ++step) {
    adam.zero_grad();
    const auto loss = model->compute_loss(frames);
    loss.total.backward();
    adam.step();
    if (step % 100 == 99) model->quantizer()->restart_dead_codes(nullptr);
    // PSNR through the quantizer in eval mode: what encode + decode give.
    if (step % 50 == 49) psnr = test::psnr_of(model->decode(model->encode(frames)), frames);
  }
  EXPECT_GE(psnr, 30.0) << "after " << step << " steps";
}

}  // namespace
}  // namespace wm::tokenizer
