#include "dataloader/episode.h"

#include <c10/util/Exception.h>

#include "core/error.h"

namespace wm::dataloader {

namespace {

void expect(bool ok, const std::string& where, const std::string& what) {
  if (!ok) throw core::Error(where + ": " + what);
}

std::string shape(const at::Tensor& t) { return c10::str(t.sizes()); }

}  // namespace

void Episode::validate(const std::string& where) const {
  expect(frames.defined() && actions.defined() && rewards.defined() && dones.defined(), where,
         "an episode needs frames, actions, rewards and dones");
  expect(frames.scalar_type() == at::kByte && frames.dim() == 4 && frames.size(3) == 3, where,
         "frames must be uint8 [T, H, W, 3], got " + std::string(c10::toString(frames.scalar_type())) + " " + shape(frames));
  const int64_t t = frames.size(0);
  expect(t > 0, where, "an episode has at least one step");
  const bool discrete = actions.scalar_type() == at::kLong && actions.dim() == 1;
  const bool continuous = actions.scalar_type() == at::kFloat && actions.dim() == 2;
  expect(discrete || continuous, where, "actions must be int64 [T] or float32 [T, A], got " + shape(actions));
  expect(rewards.scalar_type() == at::kFloat && rewards.dim() == 1, where, "rewards must be float32 [T]");
  expect(dones.scalar_type() == at::kByte && dones.dim() == 1, where, "dones must be uint8 [T]");
  expect(actions.size(0) == t && rewards.size(0) == t && dones.size(0) == t, where,
         "lengths differ: frames " + std::to_string(t) + ", actions " + std::to_string(actions.size(0)) +
             ", rewards " + std::to_string(rewards.size(0)) + ", dones " + std::to_string(dones.size(0)));
}

}  // namespace wm::dataloader
