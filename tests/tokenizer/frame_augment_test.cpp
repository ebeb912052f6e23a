#include <gtest/gtest.h>
#include <torch/torch.h>

#include "core/error.h"
#include "test_support.h"
#include "tokenizer/frame_augment.h"

namespace wm::tokenizer {
namespace {

torch::Tensor random_frames(int64_t batch) {
  torch::manual_seed(3);
  return torch::rand({batch, 3, 16, 24}).mul(2).sub(1).contiguous(at::MemoryFormat::ChannelsLast);
}

TEST(FrameAugment, OffLeavesFramesUnchanged) {
  const auto x = random_frames(4);
  EXPECT_FALSE(AugmentOptions{}.enabled());
  EXPECT_TRUE(torch::equal(augment_frames(x, {}), x));
}

TEST(FrameAugment, FlipWithProbabilityOneMirrorsEveryFrame) {
  const auto x = random_frames(4);
  const auto y = augment_frames(x, {.flip = 1.0});
  EXPECT_TRUE(torch::equal(y, x.flip({3})));
  EXPECT_TRUE(y.is_contiguous(at::MemoryFormat::ChannelsLast));
}

TEST(FrameAugment, FullSizeCropIsTheIdentity) {
  // A crop of scale 1 samples every pixel at its own centre.
  const auto x = random_frames(2);
  EXPECT_TRUE(torch::allclose(augment_frames(x, {.crop_min = 0.999999}), x, 1e-4, 1e-4));
}

TEST(FrameAugment, CropsZoomInOnAWindow) {
  // A horizontal ramp: a window of half the width spans about half the range.
  const auto ramp = torch::linspace(-1, 1, 64).view({1, 1, 1, 64}).expand({8, 3, 8, 64}).contiguous();
  const auto y = augment_frames(ramp, {.crop_min = 0.5});
  const auto span = (y.amax({1, 2, 3}) - y.amin({1, 2, 3}));  // per frame
  EXPECT_TRUE((span < 2.0 - 1e-3).all().item<bool>());
  EXPECT_TRUE((span > 1.0 - 0.05).all().item<bool>());
}

TEST(FrameAugment, ColourJitterStaysInRangeAndVariesPerFrame) {
  const auto x = random_frames(1).expand({16, 3, 16, 24}).contiguous();
  const auto y = augment_frames(x, {.color = 0.4});
  EXPECT_GE(y.min().item<double>(), -1.0);
  EXPECT_LE(y.max().item<double>(), 1.0);
  const auto means = y.mean({1, 2, 3});
  EXPECT_GT((means.max() - means.min()).item<double>(), 0.05);  // 16 copies, 16 different jitters
}

TEST(FrameAugment, BadOptionsNameTheKey) {
  EXPECT_EQ(test::error_of([] { AugmentOptions{.flip = 1.5}.validate(); }),
            "tokenizer_train: augment_flip 1.500000 is not a probability in 0..1");
  EXPECT_EQ(test::error_of([] { AugmentOptions{.crop_min = 0}.validate(); }),
            "tokenizer_train: augment_crop_min 0.000000 is outside (0, 1]");
}

}  // namespace
}  // namespace wm::tokenizer
