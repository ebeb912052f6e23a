// The `dataset:` section of a config: how video datasets are found, decoded and aligned.
#pragma once

#include "core/config_schema.h"
#include "dataloader/video_dataset.h"

namespace wm::dataloader {

struct DatasetOptions {
  VideoDatasetOptions video;
  int parallel_files = 2;  // sources decoded at once by `wm data import` (each with its own decoder threads)
};

void describe(core::ConfigSchema& schema, DatasetOptions& dataset);

}  // namespace wm::dataloader
