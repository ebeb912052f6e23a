"""numpy side of the .npy interoperability test.
  npy_check.py read FILE   -> prints {"dtype": ..., "shape": [...], "sum": ...}
  npy_check.py write DIR   -> writes numpy-made arrays a_<dtype>.npy into DIR"""
import json
import sys

import numpy as np

if sys.argv[1] == "read":
    array = np.load(sys.argv[2])
    print(json.dumps({"dtype": str(array.dtype), "shape": list(array.shape),
                      "sum": float(array.astype(np.float64).sum()),
                      "c_contiguous": bool(array.flags["C_CONTIGUOUS"])}))
else:
    for dtype in ["uint8", "int16", "int32", "int64", "float32"]:
        np.save(f"{sys.argv[2]}/a_{dtype}.npy", np.arange(24, dtype=dtype).reshape(2, 3, 4))
