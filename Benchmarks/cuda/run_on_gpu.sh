#!/usr/bin/env bash
# The CUDA target's GPU check, run on the machine with the GPU (nvcc, PyTorch; no Swift) inside the folder
# scripts/cuda-check prepared. For each CUDA folder: PyTorch writes seeded weights, a random input and the model's
# output computed on the CPU (and on the GPU) with them (gpu_peers.py prepare); nvcc builds the folder; the binary
# runs with its arena poisoned with NaN and every kernel checked at once (DANLU_CUDA_POISON=1 DANLU_CUDA_SYNC=1); its
# output must match the CPU's (‖gpu − cpu‖ / ‖cpu‖ < 1e-4, no NaN). Danlu's own CPU build agrees with PyTorch on these
# layers by its golden tests; Swift, which builds it, is not on the GPU machine. Then a table: each binary's
# --bench 20 median (CUDA events) against PyTorch eager's, and the ratio.
#
# DANLU_EMULATED=1 rehearses all of it without a GPU or nvcc (scripts/cuda-check does, with CPU PyTorch): each folder
# builds with `make emulated` (gcc, the kernels as loops on the CPU) and PyTorch runs on the CPU.
set -uo pipefail
cd "$(dirname "$0")"
status=0
if [ "${DANLU_EMULATED:-0}" = 1 ]; then target=emulated binary=emulated; else target= binary=model; fi
folders=$(for d in */; do [ -f "$d/model.cu" ] && echo "${d%/}"; done)
for dir in $folders; do
  if ! python3 gpu_peers.py prepare "$dir" >"$dir/torch.log" 2>&1; then echo "FAIL $dir: PyTorch (see $dir/torch.log)"; status=1; continue; fi
  if ! make -s -C "$dir" $target >"$dir/build.log" 2>&1; then echo "FAIL $dir: build (see $dir/build.log)"; status=1; continue; fi
  if ! DANLU_CUDA_POISON=1 DANLU_CUDA_SYNC=1 "$dir/$binary" --weights "$dir/model.safetensors" --input "$dir/input.npy" \
       --output "$dir/danlu.npy" >"$dir/run.log" 2>&1; then
    echo "FAIL $dir: run (see $dir/run.log)"; status=1; continue
  fi
  python3 - "$dir" <<'PY' || status=1
import sys, numpy as np
d = sys.argv[1]
ours, cpu, gpu = (np.load(f"{d}/{name}.npy") for name in ("danlu", "cpu", "torch"))
def error(reference):
    return np.linalg.norm(ours.astype(np.float64) - reference) / np.linalg.norm(reference)
ok = ours.shape == cpu.shape and not np.isnan(ours).any() and error(cpu) < 1e-4
print(f"{'ok  ' if ok else 'FAIL'} {d}: relative error against the CPU output {error(cpu):.2e} "
      f"(against PyTorch on the GPU {error(gpu):.2e}), NaN {int(np.isnan(ours).sum())}")
sys.exit(0 if ok else 1)
PY
done
echo
if [ -n "$target" ]; then
  echo "| model | batch | Danlu emulated on the CPU ms | PyTorch eager on the CPU ms | Danlu/PyTorch |"
else
  echo "| model | batch | Danlu CUDA ms | PyTorch eager ms | Danlu/PyTorch |"
fi
echo "|---|---:|---:|---:|---:|"
for dir in $folders; do
  [ -x "$dir/$binary" ] || continue
  danlu=$("$dir/$binary" --weights "$dir/model.safetensors" --input "$dir/input.npy" --bench 20 2>&1 \
    | sed -n 's/^bench: median_ms=\([0-9.]*\).*/\1/p')
  torch=$(python3 gpu_peers.py time "$dir" || echo "")
  python3 - "$dir" "$danlu" "$torch" <<'PY'
import sys
d, ours, theirs = sys.argv[1:]
model, batch = d.rsplit("_b", 1)
ratio = f"{float(ours) / float(theirs):.2f}" if ours and theirs else "-"
print(f"| {model} | {batch} | {ours or '-'} | {theirs or '-'} | {ratio} |")
PY
done
exit $status
