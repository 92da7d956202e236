#!/usr/bin/env python3
"""Danlu against ONNX Runtime and JAX (XLA) on this machine: the same models, the same weights, one table.

Run through Benchmarks/run.sh, which makes Benchmarks/.venv with onnxruntime, onnx, jax[cpu] and numpy.
For each model and batch: `danlu compile` writes a binary and seeded weights; the binary is timed with --bench;
ONNX Runtime (2 intra-op threads) and jitted JAX run the same network built here from those weights; all three
outputs are checked against each other before anything is timed.
"""
import argparse
import json
import os
import struct
import subprocess
import sys
import time

import numpy as np

import ort_session
import sequence_peers

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DANLU = os.path.join(ROOT, ".build", "release", "danlu")
# Danlu (OpenBLAS) runs with the kernels this CPU calls for: an OPENBLAS_CORETYPE in the environment (some machines
# set Haswell globally, which halves sgemm on an AVX-512 CPU) is dropped for its runs, so that Danlu chooses from the
# CPU's features as it does by default. ONNX Runtime (MLAS) and XLA choose their own kernels either way.
DANLU_ENV = {k: v for k, v in os.environ.items() if k != "OPENBLAS_CORETYPE"}


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        start, end = info["data_offsets"]
        out[name] = np.frombuffer(data[8 + n + start:8 + n + end], dtype=np.float32).reshape(info["shape"])
    return out


# MARK: Layer descriptions shared by the ONNX and JAX builders

def conv(name, stride=1, pad=0, bias=True):
    return ("conv", name, stride, pad, bias)


def lenet5_layers():
    return [conv("conv1", pad=2), ("relu",), ("maxpool", 2, 2, 0), conv("conv2"), ("relu",), ("maxpool", 2, 2, 0),
            ("flatten",), ("linear", "fc1"), ("relu",), ("linear", "fc2"), ("relu",), ("linear", "fc3")]


def mlp_layers():
    return [("flatten",), ("linear", "1"), ("relu",), ("linear", "3"), ("relu",), ("linear", "5")]


def vgg16_layers():
    layers, index = [], 0
    for width in [2, 2, 3, 3, 3]:
        for _ in range(width):
            layers += [conv(f"features.{index}", pad=1), ("relu",)]
            index += 2
        layers.append(("maxpool", 2, 2, 0))
        index += 1
    layers += [("avgpool7",), ("flatten",), ("linear", "classifier.0"), ("relu",), ("linear", "classifier.3"), ("relu",),
               ("linear", "classifier.6")]
    return layers


def resnet18_layers():
    layers = [conv("conv1", 2, 3, False), ("bn", "bn1"), ("relu",), ("maxpool", 3, 2, 1)]
    for stage, stride in zip(range(1, 5), [1, 2, 2, 2]):
        for block in range(2):
            p = f"layer{stage}.{block}"
            s = stride if block == 0 else 1
            down = [conv(f"{p}.downsample.0", s, 0, False), ("bn", f"{p}.downsample.1")] if block == 0 and stage > 1 else []
            layers.append(("block", [conv(f"{p}.conv1", s, 1, False), ("bn", f"{p}.bn1"), ("relu",),
                                     conv(f"{p}.conv2", 1, 1, False), ("bn", f"{p}.bn2")], down))
    return layers + [("gap",), ("flatten",), ("linear", "fc")]


def residual_block(apply, x, layer, join):
    """A ("block", main, shortcut) entry: both branches from x, joined (add, then relu) by the backend's `join`."""
    h = x
    for inner in layer[1]:
        h = apply(h, inner)
    shortcut = x
    for inner in layer[2]:
        shortcut = apply(shortcut, inner)
    return join(h, shortcut)


MODELS = {"mlp": mlp_layers, "lenet5": lenet5_layers, "resnet18": resnet18_layers, "vgg16": vgg16_layers}


# MARK: ONNX Runtime

def onnx_session(layers, weights, x_shape, threads):
    nodes, op = ort_session.node_builder()

    def apply(x, layer):
        kind = layer[0]
        if kind == "conv":
            _, name, stride, pad, bias = layer
            k = weights[f"{name}.weight"].shape[2]
            inputs = [x, f"{name}.weight"] + ([f"{name}.bias"] if bias else [])
            return op("Conv", inputs, strides=[stride] * 2, pads=[pad] * 4, kernel_shape=[k, k])
        if kind == "bn":
            n = layer[1]
            return op("BatchNormalization", [x, f"{n}.weight", f"{n}.bias", f"{n}.running_mean", f"{n}.running_var"], epsilon=1e-5)
        if kind == "relu":
            return op("Relu", [x])
        if kind == "maxpool":
            _, k, s, p = layer
            return op("MaxPool", [x], kernel_shape=[k, k], strides=[s, s], pads=[p] * 4)
        if kind == "flatten":
            return op("Flatten", [x], axis=1)
        if kind == "linear":
            return op("Gemm", [x, f"{layer[1]}.weight", f"{layer[1]}.bias"], transB=1)
        if kind == "gap":
            return op("GlobalAveragePool", [x])
        if kind == "avgpool7":  # adaptive 7×7 on a 7×7 input is the identity
            return x
        if kind == "block":
            return residual_block(apply, x, layer, lambda h, shortcut: op("Relu", [op("Add", [h, shortcut])]))
        raise ValueError(kind)

    x = "x"
    for layer in layers:
        x = apply(x, layer)
    return ort_session.runner(nodes, x_shape, x, weights, threads)


# MARK: JAX

def jax_forward(layers):
    """forward(params, x) for a layer list, in jax.numpy."""
    import jax.numpy as jnp
    from jax import lax

    def apply(params, x, layer):
        kind = layer[0]
        if kind == "conv":
            _, name, stride, pad, bias = layer
            y = lax.conv_general_dilated(x, params[f"{name}.weight"], (stride, stride), [(pad, pad)] * 2,
                                         dimension_numbers=("NCHW", "OIHW", "NCHW"))
            return y + params[f"{name}.bias"][None, :, None, None] if bias else y
        if kind == "bn":
            n = layer[1]
            scale = params[f"{n}.weight"] / jnp.sqrt(params[f"{n}.running_var"] + 1e-5)
            shift = params[f"{n}.bias"] - params[f"{n}.running_mean"] * scale
            return x * scale[None, :, None, None] + shift[None, :, None, None]
        if kind == "relu":
            return jnp.maximum(x, 0)
        if kind == "maxpool":
            _, k, s, p = layer
            return lax.reduce_window(x, -jnp.inf, lax.max, (1, 1, k, k), (1, 1, s, s), [(0, 0), (0, 0), (p, p), (p, p)])
        if kind == "flatten":
            return x.reshape(x.shape[0], -1)
        if kind == "linear":
            return x @ params[f"{layer[1]}.weight"].T + params[f"{layer[1]}.bias"]
        if kind == "gap":
            return x.mean(axis=(2, 3), keepdims=True)
        if kind == "avgpool7":
            return x
        if kind == "block":
            return residual_block(lambda h, inner: apply(params, h, inner), x, layer,
                                  lambda h, shortcut: jnp.maximum(h + shortcut, 0))
        raise ValueError(kind)

    def forward(params, x):
        for layer in layers:
            x = apply(params, x, layer)
        return x

    return forward


def jax_function(layers, weights):
    import jax
    import jax.numpy as jnp

    params = {k: jnp.asarray(v) for k, v in weights.items()}
    forward = jax_forward(layers)
    jitted = jax.jit(lambda x: forward(params, x))
    return lambda x_value: np.asarray(jitted(x_value).block_until_ready())


def jax_train_step(layers, weights, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
    """One jitted step: forward, cross-entropy, jax.grad, Adam (PyTorch's rule), the state threaded through."""
    import jax
    import jax.numpy as jnp

    forward = jax_forward(layers)
    state = {"params": {k: jnp.asarray(v) for k, v in weights.items()}}
    state["m"] = {k: jnp.zeros_like(v) for k, v in state["params"].items()}
    state["v"] = {k: jnp.zeros_like(v) for k, v in state["params"].items()}
    state["t"] = jnp.zeros((), jnp.float32)

    def loss(params, x, labels):
        logp = jax.nn.log_softmax(forward(params, x), axis=1)
        return -jnp.take_along_axis(logp, labels[:, None], axis=1).mean()

    @jax.jit
    def step(state, x, labels):
        value, grads = jax.value_and_grad(loss)(state["params"], x, labels)
        t = state["t"] + 1
        m = jax.tree_util.tree_map(lambda m, g: betas[0] * m + (1 - betas[0]) * g, state["m"], grads)
        v = jax.tree_util.tree_map(lambda v, g: betas[1] * v + (1 - betas[1]) * g * g, state["v"], grads)
        c1, c2 = 1 - betas[0] ** t, 1 - betas[1] ** t
        params = jax.tree_util.tree_map(lambda p, m, v: p - lr / c1 * m / (jnp.sqrt(v / c2) + eps), state["params"], m, v)
        return {"params": params, "m": m, "v": v, "t": t}, value

    losses = []

    def run(batch):
        x, labels = batch
        state_now, value = step(state_holder[0], x, labels)
        state_holder[0] = state_now
        losses.append(value)
        return value.block_until_ready()

    state_holder = [state]
    return run, losses


# MARK: Timing

def median_ms(run, x, runs, warmup=3):
    # Warm up on time as well as count, as the Danlu binary does: at least 3 runs and 100 ms.
    start = time.perf_counter()
    done = 0
    while done < warmup or (time.perf_counter() - start < 0.1 and done < 10000):
        run(x)
        done += 1
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        run(x)
        times.append((time.perf_counter() - start) * 1e3)
    return float(np.median(times))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", default="mlp:1,mlp:64,lenet5:1,lenet5:64,resnet18:1,resnet18:64,vgg16:1")
    parser.add_argument("--seq-cases", default="lstm:16,transformer_encoder_layer:1,transformer_encoder:1",
                        help="sequence models (lstm at T=64; transformers at S=128); empty for none")
    parser.add_argument("--train-cases", default="mlp:64,lenet5:64",
                        help="train steps (forward, backward, Adam) timed against JAX; empty for none")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3, help="turns each engine takes, interleaved (medians reported)")
    args = parser.parse_args()
    # Every case is MODEL:BATCH; say so before the long inference table rather than after it.
    for option, value in (("--cases", args.cases), ("--seq-cases", args.seq_cases), ("--train-cases", args.train_cases)):
        for case in filter(None, value.split(",")):
            name, _, batch = case.partition(":")
            if not name or not batch.isdigit():
                parser.error(f"{option}: '{case}' is not MODEL:BATCH (e.g. lenet5:64)")
    if "OPENBLAS_CORETYPE" in os.environ:
        print(f"note: OPENBLAS_CORETYPE={os.environ['OPENBLAS_CORETYPE']} is set here; Danlu's runs drop it and choose "
              "OpenBLAS's kernels from the CPU's features", file=sys.stderr)
    folder = os.path.join(ROOT, ".build", "bench")
    os.makedirs(folder, exist_ok=True)
    rows = []
    cases = [c for c in args.cases.split(",") if c] + [c for c in args.seq_cases.split(",") if c]
    for case in cases:
        model, batch = case.split(":")
        batch = int(batch)
        heavy = model in ("resnet18", "vgg16", "transformer_encoder")
        runs = (5 if batch > 1 else 20) if heavy else (2000 if batch == 1 and model in ("mlp", "lenet5") else 200)
        binary = os.path.join(folder, f"{model}_b{batch}")
        sequence = sequence_peers.CASES.get(model)
        dims = [f"--dim={k}={v}" for k, v in (sequence["dims"] if sequence else {}).items()]
        compile_start = time.perf_counter()
        subprocess.run([DANLU, "compile", os.path.join(ROOT, "Models", f"{model}.yaml"), "--batch", str(batch), "-o", binary] + dims,
                       check=True, capture_output=True, env=DANLU_ENV)
        compile_s = time.perf_counter() - compile_start
        weights = read_safetensors(binary + ".safetensors")
        spatial = (1, 28, 28) if model in ("mlp", "lenet5") else (3, 224, 224)
        shape = sequence["shape"](batch) if sequence else (batch,) + spatial
        x = np.random.default_rng(batch).uniform(-1, 1, shape).astype(np.float32)
        np.save(os.path.join(folder, "x.npy"), x)
        def danlu_run(runs=runs):
            bench = subprocess.run([binary, "--input", os.path.join(folder, "x.npy"), "--output", os.path.join(folder, "y.npy"),
                                    "--bench", str(runs), "--threads", str(args.threads)], check=True, capture_output=True,
                                   text=True, env=DANLU_ENV)
            return float(bench.stdout.strip().splitlines()[-1].split("median_ms=")[1].split()[0])

        danlu_run(1)
        reference = np.load(os.path.join(folder, "y.npy"))

        if model in sequence_peers.CASES:
            ort_run = sequence_peers.onnx_session(model, weights, x.shape, args.threads)
            jax_run = sequence_peers.jax_function(model, weights)
        else:
            layers = MODELS[model]()
            ort_run = onnx_session(layers, weights, x.shape, args.threads)
            jax_run = jax_function(layers, weights)
        for name, run in (("ONNX Runtime", ort_run), ("JAX", jax_run)):
            y = run(x)
            error = np.linalg.norm(y - reference) / np.linalg.norm(reference)
            if error > 1e-4:
                sys.exit(f"{model} b{batch}: {name} disagrees with Danlu (relative error {error:.2e})")
        # This VM swings between a fast and a slow phase (2x, lasting seconds): the three take turns, round after round,
        # and each ratio is the median of the rounds' ratios, so a phase change does not fall on one engine alone.
        times = []
        for _ in range(args.rounds):
            times.append((danlu_run(), median_ms(ort_run, x, runs), median_ms(jax_run, x, runs)))
        danlu_ms, ort_ms, jax_ms = (float(np.median([t[i] for t in times])) for i in range(3))
        by_ort = float(np.median([d / o for d, o, _ in times]))
        by_jax = float(np.median([d / j for d, _, j in times]))
        rows.append((model, batch, danlu_ms, ort_ms, jax_ms, by_ort, by_jax, compile_s))
        print(f"{model} b{batch}: danlu {danlu_ms:.4f} ms, ort {ort_ms:.4f} ms, jax {jax_ms:.4f} ms; Danlu/ORT per round "
              + " ".join(f"{d / o:.2f}" for d, o, _ in times), file=sys.stderr)

    if rows:
        print(f"| model | batch | Danlu ms | ORT ms | JAX ms | Danlu/ORT | Danlu/JAX | danlu compile s |")
        print(f"|---|---:|---:|---:|---:|---:|---:|---:|")
        for model, batch, d, o, j, by_ort, by_jax, c in rows:
            print(f"| {model} | {batch} | {d:.4f} | {o:.4f} | {j:.4f} | {by_ort:.2f} | {by_jax:.2f} | {c:.1f} |")
    train_rows = [train_row(case, folder, args.threads) for case in args.train_cases.split(",") if case]
    if train_rows:
        print(f"\n| train step (Adam) | batch | Danlu ms | JAX ms | Danlu/JAX |")
        print(f"|---|---:|---:|---:|---:|")
        for model, batch, d, j in train_rows:
            print(f"| {model} | {batch} | {d:.3f} | {j:.3f} | {d / j:.2f} |")


def train_row(case, folder, threads):
    """Danlu's `bench --train` and a jitted JAX step of the same network, Adam, same batch, one run each."""
    model, batch = case.split(":")
    batch, runs = int(batch), 200
    spec = os.path.join(ROOT, "Models", f"{model}.yaml")
    bench = subprocess.run([DANLU, "bench", spec, "--train", "--batch", str(batch), "--runs", str(runs), "--threads", str(threads)],
                           check=True, capture_output=True, text=True, env=DANLU_ENV)
    danlu_ms = float(bench.stdout.strip().splitlines()[-1].split("median_ms=")[1].split()[0])
    # The same layers and PyTorch-default-initialized weights Danlu writes for the model.
    binary = os.path.join(folder, f"{model}_train_b{batch}")
    subprocess.run([DANLU, "compile", spec, "--batch", str(batch), "-o", binary], check=True, capture_output=True, env=DANLU_ENV)
    weights = read_safetensors(binary + ".safetensors")
    rng = np.random.default_rng(batch)
    x = rng.uniform(-1, 1, (batch, 1, 28, 28)).astype(np.float32)
    labels = rng.integers(0, 10, batch).astype(np.int32)
    run, losses = jax_train_step(MODELS[model](), weights)
    jax_ms = median_ms(run, (x, labels), runs)
    if not float(losses[-1]) < float(losses[0]):
        sys.exit(f"{model} train step: JAX's loss did not fall on a repeated batch ({float(losses[0])} → {float(losses[-1])})")
    print(f"{model} train b{batch}: danlu {danlu_ms:.3f} ms, jax {jax_ms:.3f} ms", file=sys.stderr)
    return (model, batch, danlu_ms, jax_ms)


if __name__ == "__main__":
    main()
