import DanluIR

/// `pack-weights` (default): the weight of a matmul with `transpose_b` (a linear layer, an attention projection) is
/// read from `pack_panels`, a copy in the order the C backend's own GEMM wants (`PackedPanels`), made once at load
/// time; OpenBLAS repacks the weight on every call (`sgemm_incopy` took 13.6% of the Transformer encoder layer's
/// samples), where ONNX Runtime's MLAS packs constant weights once at session start. Only where the product has at
/// least 16 rows and 32M multiply-adds (`PackedPanels.macsFrom`), the weight is a parameter whose rows are whole
/// vectors, and the graph trains nothing (a train step's weights change every step). A single row stays `sgemv`
/// unless such products carry ≥ 90% of the graph's multiply-adds (`PackedPanels.singleRowsFrom`, the MLP at batch
/// 1): then each is packed and read as two threads' fixed halves of the panels, which stay in each core's L2 from
/// one run to the next (OpenBLAS's `sgemv` streamed the MLP's 2.1 MB from L3: 13 µs, packed 8–9 µs). The
/// Transformer encoder layer (S = 128) went 2.71–3.32 → 2.32–2.46 ms. The filters of an ungrouped GEMM convolution of
/// one image are packed the same way (`PackedPanels.im2colFloatsAtMost`, `deepFrom`): ResNet-18 at batch 1
/// 12.7–13.5 → 12.2–12.5 ms, VGG16 89.5–92 → 85–87 ms; so are, whatever their size, those of a direct convolution
/// whose filters are whole vectors (`prefer-direct` chose it to run by filters), and the weight_ih and weight_hh of a
/// recurrence whose steps are fused, which its step kernel otherwise packs on every call. A Winograd convolution whose
/// filters suit `WinogradBlocks` reads them transformed (U = G g Gᵀ) and in panels, made once at load time where it
/// transformed them on every call (7% of ResNet-18's layer1 convolution at batch 1, paired), and so runs in items of
/// tile rows on the panel kernel at any batch (ResNet-18 at batch 64: layer1–3 1.1–1.6× faster than OpenBLAS's
/// products over groups of images, the model 1.18–1.29×).
public let packWeights = Pass(name: "pack-weights", summary: "pack linear and convolution weights into panels once, at load time") { graph in
  guard !graph.nodes.contains(where: { if case .training = $0.op { true } else { false } }) else { return graph }
  let singleRows = singleRowShare(graph) >= PackedPanels.singleRowsFrom
  var result = Graph(name: graph.name)
  var map = Array(repeating: -1, count: graph.nodes.count)
  // A weight's value in `result` and whether a Winograd convolution reads it → its pack_panels there (the two hold
  // different values).
  var packed: [Int: Int] = [:]
  for (index, node) in graph.nodes.enumerated() {
    var copy = node
    copy.operands = node.operands.map { map[$0] }
    for operand in node.op.packedPanelsOperands where packs(graph, index, operand, singleRows: singleRows) {
      let weight = copy.operands[operand]
      let key = 2 * weight + (graph.forwardConvolution(index)?.attributes.algorithm == .winograd ? 1 : 0)
      if packed[key] == nil {
        let source = result.nodes[weight]
        result.nodes.append(Node(op: .packPanels, type: source.type, operands: [weight], name: source.name,
                                 location: source.location))
        packed[key] = result.nodes.count - 1
      }
      copy.operands[operand] = packed[key]!
    }
    result.nodes.append(copy)
    map[index] = result.nodes.count - 1
  }
  result.outputs = graph.outputs.map { GraphOutput(name: $0.name, value: map[$0.value]) }
  return result
}

/// Whether node `index` reads its weight (`operand`) packed: a parameter of whole-vector rows, in a product large
/// enough, with several rows (a matmul) or of one image (a convolution; batches run on two threads by images
/// already); a single row's product in a graph of them (`singleRows`); always for a fused recurrent step's weights.
private func packs(_ graph: Graph, _ index: Int, _ operand: Int, singleRows: Bool) -> Bool {
  let node = graph.nodes[index]
  guard node.operands.count > operand, case .parameter = graph.nodes[node.operands[operand]].op,
        let w = graph.nodes[node.operands[operand]].type.staticShape, let out = node.type.staticShape,
        PackedPanels.packable(rows: w[0]) else { return false }
  // The fused recurrent step packs its weights on every call otherwise (`RecurrentEmitter.fusedSteps`).
  if case .recurrent = node.op { return true }
  let depth = w.dropFirst().reduce(1, *)
  let macs = out.reduce(1, *) * depth
  if let conv = graph.forwardConvolution(index) {
    // `prefer-direct` chose vectors along the filters for it (`DirectConvolution.fitsFilters`).
    if conv.attributes.algorithm == .direct { return true }
    if conv.attributes.algorithm == .winograd {
      return WinogradBlocks(weight: w, output: out).fits
    }
    let im2col = conv.attributes.isPointwise(kernel: [w[2], w[3]]) ? 0 : depth * out[2] * out[3]
    return conv.output[0] == 1 && macs >= PackedPanels.macsFrom
      && (im2col <= PackedPanels.im2colFloatsAtMost || depth >= PackedPanels.deepFrom)
  }
  let rows = out.reduce(1, *) / w[0]
  if rows == 1 { return singleRows && isTransposedMatmul(node.op) }
  return rows >= 16 && macs >= PackedPanels.macsFrom
}

/// The share of the graph's multiply-adds in products of one row by a transposed weight of whole-vector rows (a
/// linear layer at batch 1).
private func singleRowShare(_ graph: Graph) -> Double {
  let perNode = Cost.of(graph, bindings: [:]).perNode
  var (single, total) = (0, 0)
  for (index, node) in graph.nodes.enumerated() where perNode[index].macs > 0 {
    total += perNode[index].macs
    guard isTransposedMatmul(node.op), node.operands.count > 1, let w = graph.nodes[node.operands[1]].type.staticShape,
          let out = node.type.staticShape, w.count == 2, PackedPanels.packable(rows: w[0]), out.reduce(1, *) == w[0]
    else { continue }
    single += perNode[index].macs
  }
  return total > 0 ? Double(single) / Double(total) : 0
}

private func isTransposedMatmul(_ op: Op) -> Bool {
  switch op {
  case .matmul(let t): return t
  case .fused(let group): if case .matmul(let t) = group.anchor { return t } else { return false }
  default: return false
  }
}

