#!/usr/bin/env bash
# Training throughput of the reference-size denoiser: gtl's own loop (cargo xtask train
# denoiser) against ../shared/bench/torch_denoiser.py, back to back on one machine.
# gtl's figure is 10 × 256 / (seconds of a 14-step run − seconds of a 4-step run), so start-up,
# the final validation and checkpoints cancel. Usage (from the repository root):
#   PYTHON=~/.venv-torch/bin/python benches/scripts/throughput-vs-pytorch.sh [ndarray flex ...]
set -euo pipefail
cd "$(dirname "$0")/../.."
python="${PYTHON:-python3}"
backends=("${@:-ndarray}")
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cargo build -q -p xtask
xtask="${CARGO_TARGET_DIR:-target}/debug/xtask"
for steps in 4 14; do
  python3 - "$steps" "$work/ref$steps.toml" <<'PY'
import re, sys
steps, out = sys.argv[1], sys.argv[2]
s = open("configs/markov-default.toml").read()
s = s.replace('name = "markov-default"', 'name = "throughput"').replace("test_size = 2000", "test_size = 20")
s = re.sub(r"\[denoiser\.model\][^\[]*", '[denoiser.model]\npreset = "reference"\n\n', s)
s = re.sub(r"(\[denoiser\.training\]\n)steps = \d+\nbatch_size = \d+", rf"\1steps = {steps}\nbatch_size = 256", s)
s = s.replace("warmup_steps = 100\nmin_lr_ratio = 0.1\nweight_decay", "warmup_steps = 1\nmin_lr_ratio = 0.1\nweight_decay", 1)
s = s.replace("validate_every = 250\ncheckpoint_every = 500\npatience", "validate_every = 1000\ncheckpoint_every = 1000\npatience", 1)
open(out, "w").write(s)
PY
done
seconds() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['seconds'])" "$1"; }
for backend in "${backends[@]}"; do
  for steps in 4 14; do
    "$xtask" train denoiser --config "$work/ref$steps.toml" --runs-dir "$work/$backend-$steps" \
      --backend "$backend" > /dev/null 2>&1
  done
  s4="$(seconds "$work/$backend-4/throughput/denoiser/summary.json")"
  s14="$(seconds "$work/$backend-14/throughput/denoiser/summary.json")"
  python3 -c "print('gtl $backend: sequences_per_second=%.1f' % (2560 / ($s14 - $s4)))"
done
OMP_NUM_THREADS=1 "$python" ../shared/bench/torch_denoiser.py --steps 10 --warmup 2 2>/dev/null \
  | sed 's/^/PyTorch 1 thread: /'
