#!/usr/bin/env bash
# Danlu vs ONNX Runtime vs JAX in one run. Makes Benchmarks/.venv (PyPI: onnx, onnxruntime, jax[cpu], numpy) once,
# builds danlu in release, and prints the table that Benchmarks/RESULTS.md records.
#   Benchmarks/run.sh [--cases mlp:1,lenet5:1,resnet18:1] [--threads 2]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps
if [ ! -x Benchmarks/.venv/bin/python ]; then
  python3 -m venv Benchmarks/.venv
  Benchmarks/.venv/bin/pip install -q onnx onnxruntime "jax[cpu]" numpy
fi
swift build -c release --product danlu
exec Benchmarks/.venv/bin/python Benchmarks/peers.py "$@"
