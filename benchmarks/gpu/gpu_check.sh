#!/usr/bin/env bash
# The GPU check in one command, for a machine that has torch and a GPU but no network.
#
#   bash benchmarks/gpu/gpu_check.sh [gpu_check.py arguments...]
#
# 1. Installs the Python packages hrmzoo needs and the image lacks, from the wheels in
#    $WHEELS (default: ./wheels), never from the network. Make that folder beforehand on a
#    machine with network: `bash benchmarks/gpu/gpu_wheels.sh` (pydantic with the pydantic-core
#    it pins, PyYAML, safetensors, einops for CPython 3.10-3.13 on x86-64 Linux; timm).
# 2. Runs `benchmarks/gpu/gpu_check.py` from this checkout (hrmzoo from the source tree, no
#    install): the paper config at batch 768 in bf16 with train.compile off and on, MFU
#    against the bf16 matmul peak measured in the same run, tokens/s, peak memory, and the
#    fp32 vs bf16 loss-curve check. Output: the printed lines and gpu_check.json in $OUT
#    (or the current directory).
set -euo pipefail
cd "$(dirname "$0")/../.."
WHEELS="${WHEELS:-wheels}"
python -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, "gpu", torch.cuda.is_available())'
missing=()
for spec in pydantic:pydantic yaml:pyyaml einops:einops safetensors:safetensors numpy:numpy; do
    module="${spec%%:*}"; package="${spec##*:}"
    python -c "import $module" 2>/dev/null || missing+=("$package")
done
if [ "${#missing[@]}" -gt 0 ]; then
    echo "installing from $WHEELS: ${missing[*]}"
    python -m pip install --no-index --find-links "$WHEELS" "${missing[@]}" || {
        echo "gpu_check.sh: could not install ${missing[*]} from $WHEELS (numpy is fetched only with NUMPY=1 bash benchmarks/gpu/gpu_wheels.sh)" >&2
        exit 2
    }
fi
# timm without torchvision / huggingface_hub: hrmzoo needs neither, and timm imports them only when present
python -c "import timm" 2>/dev/null || python -m pip install --no-index --no-deps --find-links "$WHEELS" timm
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
python benchmarks/gpu/gpu_check.py --out "${OUT:-.}/gpu_check.json" "$@"
