"""The sequence models of Benchmarks/peers.py: an LSTM, a Transformer encoder layer and a 6-layer encoder, built for
ONNX Runtime (from standard ONNX ops: LSTM; MatMul, Softmax, LayerNormalization) and for jitted JAX from the weights
`danlu compile` writes, with PyTorch's semantics (gate order, in_proj layout, post-LN)."""
import numpy as np

import ort_session

# model → (spec dims, input shape for a batch, layers of the encoder)
CASES = {
    "lstm": {"dims": {"T": 64}, "shape": lambda n: (64, n, 128)},
    "transformer_encoder_layer": {"dims": {}, "shape": lambda n: (n, 128, 512), "layers": ["layer."], "heads": 8},
    "transformer_encoder": {"dims": {}, "shape": lambda n: (n, 128, 512), "layers": [f"layers.{i}." for i in range(6)], "heads": 8},
}

# PyTorch's LSTM gates (i, f, g, o) in ONNX's order (i, o, f, c).
TORCH_TO_ONNX_GATES = [0, 3, 1, 2]


def onnx_session(model, weights, x_shape, threads):
    from onnx import helper

    nodes, op = ort_session.node_builder()
    initializers = {}

    def const(name, value):
        initializers[name] = np.asarray(value)
        return name

    if model == "lstm":
        hidden = weights["lstm.weight_hh_l0"].shape[1]

        def gates(w):
            return np.concatenate([w.reshape(4, hidden, -1)[g] for g in TORCH_TO_ONNX_GATES]).reshape(w.shape)
        w = const("W", gates(weights["lstm.weight_ih_l0"])[None])
        r = const("R", gates(weights["lstm.weight_hh_l0"])[None])
        b = const("B", np.concatenate([gates(weights["lstm.bias_ih_l0"]), gates(weights["lstm.bias_hh_l0"])])[None])
        y = op("LSTM", ["x", w, r, b], hidden_size=hidden)
        out = op("Squeeze", [y, const("axis1", np.array([1], np.int64))])
    else:
        case = CASES[model]
        n, s, e = x_shape
        heads = case["heads"]
        d = e // heads
        x = "x"
        for p in case["layers"]:
            def linear(h, name):
                return op("Add", [op("MatMul", [h, const(name + ".wT", weights[name + ".weight"].T.copy())]), name + ".bias"])
            for key in ["self_attn.in_proj_bias", "self_attn.out_proj.bias", "linear1.bias", "linear2.bias", "norm1.weight",
                        "norm1.bias", "norm2.weight", "norm2.bias"]:
                const(p + key, weights[p + key])
            qkv = op("Add", [op("MatMul", [x, const(p + "in.wT", weights[p + "self_attn.in_proj_weight"].T.copy())]),
                             p + "self_attn.in_proj_bias"])
            split = helper.make_node("Split", [qkv, const(p + "sizes", np.array([e, e, e], np.int64))],
                                     [p + "q", p + "k", p + "v"], axis=2)
            nodes.append(split)
            shape = const(p + "heads", np.array([n, s, heads, d], np.int64))
            q = op("Transpose", [op("Reshape", [p + "q", shape])], perm=[0, 2, 1, 3])
            k = op("Transpose", [op("Reshape", [p + "k", shape])], perm=[0, 2, 3, 1])
            v = op("Transpose", [op("Reshape", [p + "v", shape])], perm=[0, 2, 1, 3])
            scores = op("Mul", [op("MatMul", [q, k]), const(p + "scale", np.array(1 / np.sqrt(d), np.float32))])
            attended = op("MatMul", [op("Softmax", [scores], axis=-1), v])
            joined = op("Reshape", [op("Transpose", [attended], perm=[0, 2, 1, 3]), const(p + "joined", np.array([n, s, e], np.int64))])
            h = op("LayerNormalization", [op("Add", [x, linear(joined, p + "self_attn.out_proj")]), p + "norm1.weight", p + "norm1.bias"],
                   axis=-1, epsilon=1e-5)
            ff = linear(op("Relu", [linear(h, p + "linear1")]), p + "linear2")
            x = op("LayerNormalization", [op("Add", [h, ff]), p + "norm2.weight", p + "norm2.bias"], axis=-1, epsilon=1e-5)
        out = x
    return ort_session.runner(nodes, x_shape, out, initializers, threads)


def jax_function(model, weights):
    import jax
    import jax.numpy as jnp

    params = {k: jnp.asarray(v) for k, v in weights.items()}
    if model == "lstm":
        def forward(x):
            wih, whh = params["lstm.weight_ih_l0"], params["lstm.weight_hh_l0"]
            projected = x @ wih.T + params["lstm.bias_ih_l0"] + params["lstm.bias_hh_l0"]
            hidden = whh.shape[1]

            def step(carry, a):
                h, c = carry
                i, f, g, o = jnp.split(a + h @ whh.T, 4, axis=-1)
                c = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(g)
                h = jax.nn.sigmoid(o) * jnp.tanh(c)
                return (h, c), h
            zeros = jnp.zeros((x.shape[1], hidden), x.dtype)
            return jax.lax.scan(step, (zeros, zeros), projected)[1]
    else:
        case = CASES[model]
        heads = case["heads"]

        def layer_norm(h, p):
            mean = h.mean(-1, keepdims=True)
            var = ((h - mean) ** 2).mean(-1, keepdims=True)
            return (h - mean) / jnp.sqrt(var + 1e-5) * params[p + ".weight"] + params[p + ".bias"]

        def forward(x):
            n, s, e = x.shape
            d = e // heads
            for p in case["layers"]:
                qkv = x @ params[p + "self_attn.in_proj_weight"].T + params[p + "self_attn.in_proj_bias"]
                q, k, v = (t.reshape(n, s, heads, d).transpose(0, 2, 1, 3) for t in jnp.split(qkv, 3, axis=-1))
                weights_ = jax.nn.softmax(q @ k.transpose(0, 1, 3, 2) / np.sqrt(d), axis=-1)
                joined = (weights_ @ v).transpose(0, 2, 1, 3).reshape(n, s, e)
                attended = joined @ params[p + "self_attn.out_proj.weight"].T + params[p + "self_attn.out_proj.bias"]
                h = layer_norm(x + attended, p + "norm1")
                ff = jnp.maximum(h @ params[p + "linear1.weight"].T + params[p + "linear1.bias"], 0)
                ff = ff @ params[p + "linear2.weight"].T + params[p + "linear2.bias"]
                x = layer_norm(h + ff, p + "norm2")
            return x
    jitted = jax.jit(forward)
    return lambda x_value: np.asarray(jitted(x_value).block_until_ready())
