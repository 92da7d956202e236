#!/usr/bin/env python3
"""Writes golden losses and gradients computed by JAX in float64, an independent peer, for Danlu's training tests.

Each case folder under training_goldens/ holds model.yaml (the Danlu spec with its train: loss), weights.safetensors,
x.npy and target.npy (one batch), and expected.safetensors: `loss`, `grad:NAME` for every parameter and, for batch
norm in training mode, `update:NAME` (the new running statistics, PyTorch's rule). The networks and losses are
written here from PyTorch's definitions with jax.numpy, and differentiated with jax.grad.

Regenerate:  python3 -m venv .venv && .venv/bin/pip install jax numpy
             .venv/bin/python Tests/Fixtures/make_training_goldens.py
"""
import os
import shutil

import jax
import jax.numpy as jnp
import numpy as np
from fixture_io import write_safetensors
from make_attention_goldens import encoder_layer
from make_recurrent_goldens import GATES, network

jax.config.update("jax_enable_x64", True)
HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "training_goldens")
rng = np.random.default_rng(20261201)


def f32(array):
    """The float32 values the fixtures store, in float64: JAX differentiates exactly what Danlu reads."""
    return np.asarray(array, dtype=np.float32).astype(np.float64)


def write_npy(path, array):
    np.save(path, np.asarray(array, dtype=np.float32))


# MARK: Layers: (spec line, forward(params, x, state) -> x, parameter shapes)

def linear(name, cin, cout):
    def forward(p, x, state):
        return x @ p[f"{name}.weight"].T + p[f"{name}.bias"]
    return (f"{name}: linear({cout})", forward, {f"{name}.weight": (cout, cin), f"{name}.bias": (cout,)})


def conv(name, cin, cout, k, stride=1, pad=0):
    def forward(p, x, state):
        y = jax.lax.conv_general_dilated(x, p[f"{name}.weight"], (stride, stride), [(pad, pad), (pad, pad)],
                                         dimension_numbers=("NCHW", "OIHW", "NCHW"))
        return y + p[f"{name}.bias"][None, :, None, None]
    line = f"{name}: conv2d({cout}, kernel={k}, stride={stride}, padding={pad})"
    return (line, forward, {f"{name}.weight": (cout, cin, k, k), f"{name}.bias": (cout,)})


def batchnorm(name, channels, momentum=0.1, eps=1e-5):
    def forward(p, x, state):
        mean = x.mean(axis=(0, 2, 3))
        var = ((x - mean[None, :, None, None]) ** 2).mean(axis=(0, 2, 3))
        n = x.size // channels
        state[f"{name}.running_mean"] = (1 - momentum) * 0.0 + momentum * mean
        state[f"{name}.running_var"] = (1 - momentum) * 1.0 + momentum * var * n / (n - 1)
        xhat = (x - mean[None, :, None, None]) / jnp.sqrt(var[None, :, None, None] + eps)
        return xhat * p[f"{name}.weight"][None, :, None, None] + p[f"{name}.bias"][None, :, None, None]
    line = f"{name}: batchnorm2d(momentum={momentum})" if momentum != 0.1 else f"{name}: batchnorm2d"
    return (line, forward, {f"{name}.weight": (channels,), f"{name}.bias": (channels,)})


def layernorm(name, d, eps=1e-5):
    def forward(p, x, state):
        mean = x.mean(axis=-1, keepdims=True)
        var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
        return (x - mean) / jnp.sqrt(var + eps) * p[f"{name}.weight"] + p[f"{name}.bias"]
    return (f"{name}: layer_norm", forward, {f"{name}.weight": (d,), f"{name}.bias": (d,)})


def squeeze_excite_concat(name, cin, c):
    """A DAG: c = conv(x); s = mean of c per channel; a = c·s + s (both broadcast); concat(a, c) on channels."""
    _, conv_forward, shapes = conv(name, cin, c, 3, pad=1)

    def forward(p, x, state):
        y = conv_forward(p, x, state)
        s = y.mean(axis=(2, 3), keepdims=True)
        return jnp.concatenate([y * s + s, y], axis=1)
    lines = [f"{name}: conv2d({c}, kernel=3, padding=1)", "s: adaptive_avgpool2d(1)", f"m: mul({name}, s)", "a: add(m, s)",
             f"j: concat(a, {name}, dim=1)"]
    return ("\n  - ".join(lines), forward, shapes)


def embedding(name, rows, width):
    def forward(p, x, state):
        return p[f"{name}.weight"][x.astype(int)]
    return (f"{name}: embedding({rows}, {width})", forward, {f"{name}.weight": (rows, width)})


def recurrent(name, cell, features, hidden, layers=1, bidirectional=False, batch_first=False):
    """torch.nn.LSTM / GRU / RNN (make_recurrent_goldens.network), its output sequence."""
    shapes = {}
    for layer in range(layers):
        for direction in range(2 if bidirectional else 1):
            s = f"_l{layer}" + ("_reverse" if direction else "")
            inputs = features if layer == 0 else hidden * (2 if bidirectional else 1)
            rows = GATES[cell] * hidden
            shapes.update({f"{name}.weight_ih{s}": (rows, inputs), f"{name}.weight_hh{s}": (rows, hidden),
                           f"{name}.bias_ih{s}": (rows,), f"{name}.bias_hh{s}": (rows,)})

    def forward(p, x, state):
        weights = {k[len(name) + 1:]: v for k, v in p.items() if k.startswith(name + ".")}
        return network(cell, weights, x, hidden, layers, bidirectional, batch_first)[0]
    args = [str(hidden)] + ([f"num_layers={layers}"] if layers > 1 else []) + (["bidirectional=true"] if bidirectional else []) \
        + (["batch_first=true"] if batch_first else [])
    return (f"{name}: {cell}({', '.join(args)})", forward, shapes)


def encoder(name, d, heads, ff, norm_first=False, gelu=False, causal=False):
    """nn.TransformerEncoderLayer (make_attention_goldens.encoder_layer), batch first, no dropout."""
    shapes = {f"{name}.self_attn.in_proj_weight": (3 * d, d), f"{name}.self_attn.in_proj_bias": (3 * d,),
              f"{name}.self_attn.out_proj.weight": (d, d), f"{name}.self_attn.out_proj.bias": (d,),
              f"{name}.linear1.weight": (ff, d), f"{name}.linear1.bias": (ff,), f"{name}.linear2.weight": (d, ff),
              f"{name}.linear2.bias": (d,), f"{name}.norm1.weight": (d,), f"{name}.norm1.bias": (d,),
              f"{name}.norm2.weight": (d,), f"{name}.norm2.bias": (d,)}

    def forward(p, x, state):
        weights = {k[len(name) + 1:]: v for k, v in p.items() if k.startswith(name + ".")}
        return encoder_layer(weights, x, heads, norm_first, gelu, causal)
    flags = f"norm_first={'true' if norm_first else 'false'}, activation='{'gelu' if gelu else 'relu'}', causal={'true' if causal else 'false'}"
    return (f"{name}: transformer_encoder_layer({d}, {heads}, dim_feedforward={ff}, dropout=0, batch_first=true, {flags})", forward, shapes)


def unary(line, f):
    return (line, lambda p, x, state: f(x), {})


relu = unary("relu", jax.nn.relu)
tanh = unary("tanh", jnp.tanh)
sigmoid = unary("sigmoid", jax.nn.sigmoid)
log_softmax = unary("log_softmax(dim=1)", lambda x: jax.nn.log_softmax(x, axis=1))
flatten = unary("flatten", lambda x: x.reshape(x.shape[0], -1))


def maxpool2(x):
    return jax.lax.reduce_window(x, -jnp.inf, jax.lax.max, (1, 1, 2, 2), (1, 1, 2, 2), "VALID")


maxpool = unary("maxpool2d(2)", maxpool2)


# MARK: Losses, from PyTorch's definitions (mean reduction; KL divergence 'batchmean')

def cross_entropy(z, t, smoothing=0.0):
    c = z.shape[1]
    target = (1 - smoothing) * jax.nn.one_hot(t.astype(int), c) + smoothing / c
    return -(target * jax.nn.log_softmax(z, axis=1)).sum(axis=1).mean()


LOSSES = {
    "cross_entropy(label_smoothing=0.1)": lambda z, t: cross_entropy(z, t, 0.1),
    "nll": lambda z, t: -z[jnp.arange(z.shape[0]), t.astype(int)].mean(),
    "mse": lambda y, t: ((y - t) ** 2).mean(),
    "l1": lambda y, t: jnp.abs(y - t).mean(),
    "bce": lambda y, t: -(t * jnp.maximum(jnp.log(y), -100) + (1 - t) * jnp.maximum(jnp.log(1 - y), -100)).mean(),
    "bce_with_logits": lambda z, t: (jnp.maximum(z, 0) - z * t + jnp.log1p(jnp.exp(-jnp.abs(z)))).mean(),
    "kl_divergence": lambda logp, t: jnp.where(t > 0, t * (jnp.log(jnp.where(t > 0, t, 1)) - logp), 0).sum() / logp.shape[0],
}


def targets(loss, shape):
    n, c = shape[0], shape[-1]
    if loss.startswith("cross_entropy") or loss == "nll":
        return rng.integers(0, c, size=n).astype(np.float64)
    if loss in ("bce", "bce_with_logits"):
        return rng.uniform(0, 1, size=shape)
    if loss == "kl_divergence":
        p = rng.uniform(0.05, 1, size=shape)
        p[0, 0] = 0  # a zero target probability adds nothing
        return p / p.sum(axis=1, keepdims=True)
    return rng.normal(size=shape)


CASES = {
    "cross_entropy_smoothing": ("f32[4, 6]", [linear("fc1", 6, 5), relu, linear("fc2", 5, 3)], "cross_entropy(label_smoothing=0.1)"),
    "nll": ("f32[5, 4]", [linear("fc", 4, 6), tanh, linear("out", 6, 3), log_softmax], "nll"),
    "mse_conv_pool": ("f32[2, 2, 6, 6]", [conv("c", 2, 3, 3, pad=1), relu, maxpool, flatten, linear("fc", 27, 4)], "mse"),
    "l1": ("f32[3, 4]", [linear("a", 4, 5), tanh, linear("b", 5, 2)], "l1"),
    "bce": ("f32[4, 3]", [linear("a", 3, 4), tanh, linear("b", 4, 2), sigmoid], "bce"),
    "bce_with_logits": ("f32[4, 3]", [linear("a", 3, 4), relu, linear("b", 4, 3)], "bce_with_logits"),
    "kl_divergence": ("f32[3, 4]", [linear("a", 4, 5), tanh, linear("b", 5, 4), log_softmax], "kl_divergence"),
    "batchnorm_train": ("f32[4, 2, 5, 5]", [conv("c1", 2, 3, 3, pad=1), batchnorm("bn1", 3), relu,
                                            conv("c2", 3, 4, 3, stride=2), batchnorm("bn2", 4, momentum=0.3), tanh,
                                            flatten, linear("fc", 16, 3)], "cross_entropy(label_smoothing=0.1)"),
    "broadcast_concat": ("f32[2, 2, 4, 4]", [squeeze_excite_concat("c", 2, 3), tanh, flatten, linear("fc", 96, 3)],
                         "cross_entropy(label_smoothing=0.1)"),
    "embedding": ("f32[3, 4]", [embedding("e", 6, 5), flatten, linear("fc", 20, 3)], "cross_entropy(label_smoothing=0.1)"),
    "lstm_train": ("f32[3, 2, 3]", [recurrent("l", "lstm", 3, 4, layers=2, bidirectional=True),
                                    unary("narrow(0, -1, 1)", lambda x: x[-1:]), flatten, linear("fc", 16, 3)], "cross_entropy(label_smoothing=0.1)"),
    "gru_train": ("f32[2, 4, 3]", [recurrent("g", "gru", 3, 4, batch_first=True), unary("narrow(1, -1, 1)", lambda x: x[:, -1:]),
                                   flatten, linear("fc", 4, 3)], "mse"),
    "layer_norm": ("f32[2, 3, 6]", [linear("a", 6, 6), layernorm("ln", 6), unary("gelu", lambda x: jax.nn.gelu(x, approximate=False)),
                                    linear("b", 6, 3)], "mse"),
    "transformer_encoder_train": ("f32[2, 4, 8]", [encoder("e", 8, 2, 12, norm_first=True, gelu=True, causal=True), flatten,
                                                   linear("fc", 32, 3)], "cross_entropy(label_smoothing=0.1)"),
    "transformer_post_ln_train": ("f32[3, 3, 4]", [encoder("e", 4, 2, 6), flatten, linear("fc", 12, 2)], "mse"),
}


def main():
    if os.path.isdir(OUT):
        shutil.rmtree(OUT)
    for name, (input_type, layers, loss) in CASES.items():
        folder = os.path.join(OUT, name)
        os.makedirs(folder)
        shape = [int(d) for d in input_type[4:-1].split(",")]
        params = {}
        for _, _, shapes in layers:
            for pname, pshape in shapes.items():
                fan_in = int(np.prod(pshape[1:])) if len(pshape) > 1 else pshape[0]
                params[pname] = f32(rng.uniform(-1, 1, size=pshape) / np.sqrt(fan_in))
        # Token indices for a model that starts with an embedding (index 5 twice: its gradient rows add up).
        x = f32(rng.integers(0, 5, size=shape)) if name == "embedding" else f32(rng.normal(size=shape))
        if name == "embedding":
            x[0, 0] = x[1, 1] = 5

        def model(p, x):
            state = {}
            for _, forward, _ in layers:
                x = forward(p, x, state)
            return x, state

        y, state = model(params, x)
        t = f32(targets(loss, y.shape))
        f = LOSSES[loss]
        value, grads = jax.value_and_grad(lambda p: f(model(p, x)[0], t))(params)

        spec = f"model: {name}\ninputs:\n  x: {input_type}\nlayers:\n" + "".join(f"  - {line}\n" for line, _, _ in layers)
        spec += f"outputs:\n  y: .\ntrain:\n  loss: {loss}\n"
        with open(os.path.join(folder, "model.yaml"), "w") as fh:
            fh.write(spec)
        weights = dict(params)
        for key in state:
            weights[key] = np.zeros(state[key].shape) if key.endswith("mean") else np.ones(state[key].shape)
        write_safetensors(os.path.join(folder, "weights.safetensors"), weights)
        write_npy(os.path.join(folder, "x.npy"), x)
        write_npy(os.path.join(folder, "target.npy"), t)
        expected = {"loss": np.array([value])}
        expected.update({f"grad:{k}": np.asarray(v) for k, v in grads.items()})
        expected.update({f"update:{k}": np.asarray(v) for k, v in state.items()})
        write_safetensors(os.path.join(folder, "expected.safetensors"), expected)
        print(f"{name}: loss {float(value):.6f}, {len(grads)} gradients, {len(state)} running statistics")


if __name__ == "__main__":
    main()
