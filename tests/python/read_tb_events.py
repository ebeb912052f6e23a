"""Reads a TensorBoard log directory with tensorboard's own event reader and prints the
scalars as JSON: {"tag": [[step, value], ...], ...}. Used by the C++ tests."""
import json
import math
import sys

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

accumulator = EventAccumulator(sys.argv[1], size_guidance={"scalars": 0})
accumulator.Reload()
scalars = {
    tag: [[event.step, event.value if math.isfinite(event.value) else None] for event in accumulator.Scalars(tag)]
    for tag in accumulator.Tags()["scalars"]
}
print(json.dumps(scalars))
