// Empty translation unit: wm_pch exists only to build the shared precompiled header.
