"""One ONNX Runtime session for a benchmark graph, timed through I/O binding (shared by peers.py and sequence_peers.py)."""


def node_builder():
    """(nodes, op): op(kind, inputs, **attributes) appends a node with a fresh output name and returns that name."""
    from onnx import helper

    nodes = []

    def op(kind, inputs, **attrs):
        out = f"t{len(nodes) + 1}"
        nodes.append(helper.make_node(kind, inputs, [out], **attrs))
        return out

    return nodes, op


def runner(nodes, x_shape, output, initializers, threads):
    """run(x) for the graph of `nodes` from input "x" to `output`, with `initializers` ({name: array}) as weights."""
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    graph = helper.make_graph(nodes, "bench", [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(x_shape))],
                              [helper.make_tensor_value_info(output, TensorProto.FLOAT, None)],
                              initializer=[numpy_helper.from_array(v, k) for k, v in initializers.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    # I/O binding keeps the Python call as thin as ORT allows: the input is bound once per array, the output
    # buffer is reused, so small models are timed with as little binding overhead as possible.
    binding = session.io_binding()
    bound = {"x": None}

    def run(x_value):
        if bound["x"] is not x_value:
            binding.bind_cpu_input("x", x_value)
            bound["x"] = x_value
        binding.bind_output(session.get_outputs()[0].name)
        session.run_with_iobinding(binding)
        return binding.copy_outputs_to_cpu()[0]

    return run
