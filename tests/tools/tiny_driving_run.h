// A tiny run of the driving game for the trainers' command-line tests: 160 expert steps of
// 32 x 32 frames collected into <tmp>/d/episodes, and an untrained small tokenizer saved as
// <tmp>/tok.ckpt. Each test adds the commands it checks.
#pragma once

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <filesystem>
#include <string>

#include "test_support.h"

namespace wm::test {

// The last line of a metrics.jsonl that has `key` (null when none has).
nlohmann::json last_with(const std::filesystem::path& metrics, const std::string& key);

class TinyDrivingRun : public ::testing::Test {
 public:
  // A one-layer world model of width 32 over 4 steps, trained and logged every few steps.
  static const std::string kTinyModel;

 protected:
  void SetUp() override;
  // `wm train dynamics` on the collected frames through tok.ckpt, for `steps` steps.
  void train_tiny_dynamics(int steps);

  TempDir dir_;
  std::string run_;  // " run.out_dir=<tmp> run.name=d"
};

}  // namespace wm::test
