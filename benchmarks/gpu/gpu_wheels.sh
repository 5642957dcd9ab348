#!/usr/bin/env bash
# Download the wheels benchmarks/gpu/gpu_check.sh installs on a GPU machine without network.
#
#   bash benchmarks/gpu/gpu_wheels.sh [DIR]          # default DIR: ./wheels (git-ignored)
#   NUMPY=1 bash benchmarks/gpu/gpu_wheels.sh        # also numpy (~17 MB per Python version)
#
# torch is not downloaded (the GPU image has its own). For each CPython 3.10-3.13 on
# x86-64 manylinux, pip resolves pydantic with the exact pydantic-core it pins, PyYAML,
# safetensors and einops; timm is fetched without its dependencies (torchvision and
# huggingface_hub, which hrmzoo does not use). With the run tool, carry the folder:
# carry=["wheels"].
set -euo pipefail
DIR="${1:-wheels}"
mkdir -p "$DIR"
packages=(pydantic pyyaml safetensors einops)
if [ "${NUMPY:-0}" = 1 ]; then packages+=(numpy); fi
for py in 3.10 3.11 3.12 3.13; do
    python -m pip download --only-binary=:all: --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 \
        --python-version "$py" -d "$DIR" "${packages[@]}"
done
python -m pip download --no-deps -d "$DIR" timm
du -sh "$DIR"; ls "$DIR"
