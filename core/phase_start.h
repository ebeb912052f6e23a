// How a training command starts a part of a run (a header of its own: the commands' headers
// need the choice, not the training loop).
#pragma once

namespace wm::core {

// How a training command meets the checkpoints its phase already has in the run folder.
enum class PhaseStart {
  kFresh,      // none may exist: training again beside them would mix two runs' checkpoints
  kResume,     // continue from the newest valid one (--resume)
  kOverwrite,  // move them aside and start from scratch (--overwrite)
};

}  // namespace wm::core
