#include "dataloader/dataset_options.h"

namespace wm::dataloader {

void describe(core::ConfigSchema& schema, DatasetOptions& dataset) {
  VideoDatasetOptions& v = dataset.video;
  schema.add("glob", &v.glob, "file-name filter when searching folders, e.g. '*.mp4'");
  schema.add("height", &v.frames.height, "frame height after resizing; 0 = the source's", core::between(0, 16384));
  schema.add("width", &v.frames.width, "frame width after resizing; 0 = the source's", core::between(0, 16384));
  schema.add("center_crop", &v.frames.center_crop, "crop to the output aspect ratio before resizing (no stretching)");
  schema.add("fps", &v.frames.fps, "resample to this frame rate (e.g. 20 -> 10); 0 = keep every frame", core::at_least(0));
  schema.add("image_fps", &v.frames.image_fps, "frame rate of image folders", core::between(0.001, 1e6));
  schema.add("decoder_threads", &v.frames.decoder_threads, "FFmpeg decoder threads per source", core::between(0, 256));
  schema.add("segment_frames", &v.segment_frames, "cut videos into episodes of N frames (commaVQ: 1200 = 1 min at 20 fps); 0 = whole videos", core::at_least(0));
  schema.add("action_columns", &v.sidecar.action_columns, "actions.csv columns that are actions; empty = all but frame/time_s/reward/done");
  schema.add("continuous", &v.sidecar.continuous, "float actions; false = binned into one discrete index");
  schema.add("action_bins", &v.sidecar.bins, "discrete: bin edges per action column, e.g. ['-0.1 0.1', '0.5']");
  schema.add("reward_column", &v.sidecar.reward_column, "actions.csv column holding rewards; empty = none (zeros)");
  schema.add("done_column", &v.sidecar.done_column, "actions.csv column holding episode ends; empty = only the video's end");
  schema.add("align", &v.sidecar.align, "auto|frame|time_s: how sidecar rows map to frames", [](const std::string& s) {
    return s == "auto" || s == "frame" || s == "time_s" ? std::string() : std::string("one of auto|frame|time_s");
  });
  schema.add("interpolation", &v.sidecar.interpolation, "time_s alignment of continuous values: nearest|linear",
             [](const std::string& s) {
               return s == "nearest" || s == "linear" ? std::string() : std::string("one of nearest|linear");
             });
  schema.add("parallel_files", &dataset.parallel_files, "sources decoded at once by wm data import", core::between(1, 256));
}

}  // namespace wm::dataloader
