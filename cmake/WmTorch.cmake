# Finds the libtorch bundled in the .venv torch wheel (the CUDA build) and makes it
# usable from a CPU-only machine:
#  - TORCH_CUDA_ARCH_LIST is preset so libtorch's CMake config does not try to *run* a
#    GPU-detection program (CMake 3.25 cannot compile it with nvcc in C++20 mode, and
#    there may be no GPU anyway). 8.0 = A100, 9.0 = H100/H200.
#  - the wheel's own CUDA libraries (nvidia/*/lib next to torch/) are newer than the
#    system toolkit's; libtorch_cuda.so finds them at run time through its RPATH, and we
#    point the linker at them too (-rpath-link), or it resolves e.g. libnccl.so.2 to the
#    older system copy and fails on missing symbols.
set(WM_PYTHON "${CMAKE_SOURCE_DIR}/.venv/bin/python" CACHE FILEPATH "Python of the project venv")
if(NOT EXISTS "${WM_PYTHON}")
  message(FATAL_ERROR "${WM_PYTHON} not found: run scripts/setup.sh (or make test) first")
endif()
execute_process(
  COMMAND "${WM_PYTHON}" -c "import torch, os; print(torch.utils.cmake_prefix_path); print(os.path.dirname(os.path.dirname(torch.__file__)))"
  OUTPUT_VARIABLE _wm_torch_paths OUTPUT_STRIP_TRAILING_WHITESPACE
  RESULT_VARIABLE _wm_torch_rc)
if(NOT _wm_torch_rc EQUAL 0)
  message(FATAL_ERROR "could not import torch from ${WM_PYTHON}: run scripts/setup.sh")
endif()
string(REPLACE "\n" ";" _wm_torch_paths "${_wm_torch_paths}")
list(GET _wm_torch_paths 0 WM_TORCH_CMAKE_PREFIX)
list(GET _wm_torch_paths 1 WM_SITE_PACKAGES)
list(APPEND CMAKE_PREFIX_PATH "${WM_TORCH_CMAKE_PREFIX}")

if(NOT DEFINED ENV{TORCH_CUDA_ARCH_LIST} AND NOT TORCH_CUDA_ARCH_LIST)
  set(TORCH_CUDA_ARCH_LIST "8.0;9.0")
endif()
find_package(Torch REQUIRED)
find_package(CUDAToolkit REQUIRED)

file(GLOB WM_NVIDIA_LIB_DIRS "${WM_SITE_PACKAGES}/nvidia/*/lib")
list(JOIN WM_NVIDIA_LIB_DIRS ":" _wm_rpath_link)
# Interface target every wm library links: torch (CPU + CUDA) and the link-path fix above.
add_library(wm_torch INTERFACE)
target_link_libraries(wm_torch INTERFACE torch)
# CUDA headers for code that names CUDA types (streams, device properties); the CUDA
# libraries themselves come through libtorch_cuda, never directly: linking the toolkit's
# libcudart would shadow the newer one the wheel ships.
target_include_directories(wm_torch INTERFACE ${CUDAToolkit_INCLUDE_DIRS})
if(_wm_rpath_link)
  target_link_options(wm_torch INTERFACE "LINKER:-rpath-link,${_wm_rpath_link}")
endif()
# Headers of the NCCL that libtorch_cuda was built with (c10d's ProcessGroupNCCL includes nccl.h).
set(WM_NCCL_INCLUDE_DIR "${WM_SITE_PACKAGES}/nvidia/nccl/include")
if(NOT EXISTS "${WM_NCCL_INCLUDE_DIR}/nccl.h")
  set(WM_NCCL_INCLUDE_DIR "${CUDAToolkit_INCLUDE_DIRS}")
endif()

# libtorch's include directory ships its own fmt (12.x); Debian's spdlog is built against
# the system fmt (9.x), and mixing them fails to compile (fmt::basic_runtime) or to link.
# A shim directory holding only a link to the system fmt is put ahead of torch's headers.
set(WM_FMT_SHIM "${CMAKE_BINARY_DIR}/generated/fmt_shim")
file(MAKE_DIRECTORY "${WM_FMT_SHIM}")
file(CREATE_LINK /usr/include/fmt "${WM_FMT_SHIM}/fmt" SYMBOLIC)
target_include_directories(wm_torch BEFORE INTERFACE "${WM_FMT_SHIM}")
