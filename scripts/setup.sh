#!/usr/bin/env bash
# Installs everything wm needs to build and run, idempotently:
#   1. Debian packages (only the missing ones; apt is not touched when all are present),
#   2. a project-local virtualenv .venv/ with the pinned packages of requirements.txt
#      (reinstalled only when requirements.txt changes; the system Python is never modified).
# A second run on a set-up machine takes about a second and changes nothing.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { echo "setup: $*"; }

apt_packages=(
  cmake ninja-build g++ make pkg-config ccache git
  libspdlog-dev libyaml-cpp-dev libgtest-dev libgmock-dev libcli11-dev nlohmann-json3-dev
  libavformat-dev libavcodec-dev libavutil-dev libswscale-dev ffmpeg
  chromium  # headless, for the test that renders wm dream's report.html
  clang libclang-rt-dev  # libFuzzer and the sanitizers, for make fuzz
  libcpp-httplib-dev  # wm play's web server
  iproute2 procps  # ip netns for the two-node test; pgrep/pkill for the launcher tests
  libgloo-dev  # headers only: the torch wheel has c10d's ProcessGroupGloo compiled in but not gloo's headers, which its header includes
)
if ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
  apt_packages+=(python3 python3-venv)
fi

missing=()
for pkg in "${apt_packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$pkg")
  fi
done
if ((${#missing[@]})); then
  sudo=""
  if [[ $(id -u) -ne 0 ]]; then sudo="sudo"; fi
  say "installing Debian packages: ${missing[*]}"
  $sudo apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# The CUDA toolkit is not a Debian package of the right version: libtorch's CMake config
# needs nvcc and the CUDA headers (major version 13, like the torch wheel) at configure time.
if ! command -v nvcc >/dev/null 2>&1 && [[ ! -x /usr/local/cuda/bin/nvcc ]]; then
  echo "setup: error: the CUDA 13 toolkit (nvcc) is not installed; install it from NVIDIA" \
       "(with cuDNN and NCCL) so that /usr/local/cuda/bin/nvcc exists, then run again" >&2
  exit 1
fi

stamp=.venv/.requirements.sha256
want=$(sha256sum requirements.txt | cut -d' ' -f1)
if [[ ! -x .venv/bin/python ]]; then
  say "creating .venv"
  python3 -m venv .venv
fi
if [[ ! -f $stamp || $(cat "$stamp") != "$want" ]]; then
  say "installing Python packages from requirements.txt into .venv (torch is ~3 GB with its CUDA libraries)"
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -r requirements.txt
  echo "$want" >"$stamp"
fi
say "ok ($(.venv/bin/python -c 'import torch; print("torch", torch.__version__)'))"
