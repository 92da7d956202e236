import DanluIR

/// `strip-dropout`: dropout is the identity at inference (PyTorch's `eval()` mode), so its users read its operand.
/// Training never sees this pass: `Autodiff` turns each dropout into a product with a seeded mask first.
///
///     %1 = relu(%0) : f32[N,128]                   %1 = relu(%0) : f32[N,128]
///     %2 = dropout(%1) {p=0.5} : f32[N,128]   →    %3 = matmul(%1, %4) …
///     %3 = matmul(%2, %4) …
public let stripDropout = Pass(name: "strip-dropout", summary: "inference: dropout is the identity") { graph in
  bypassing(graph) { result, index in
    guard case .dropout = result.nodes[index].op else { return nil }
    return result.nodes[index].operands[0]
  }
}
