import DanluIR

/// `choose-layout` (default): a direct convolution by filters or a max pool writes its output with channels blocked
/// by 8 (`Layout.nchw8c`) where every reader of that output takes the blocked layout (`Graph.readsBlocked`: a direct
/// convolution by filters, an im2col, the residual of a later direct convolution's epilogue, a max pool) and the
/// graph does not return it, and one of those readers is a direct convolution by filters copying it into its plane,
/// where the layout pays: blocked for a max pool alone, ResNet-18's stem wrote 3–4% slower and its pool read 1.6×
/// slower than the NCHW kernels (a separable pass over each plane); read into the plane, layer3's convolutions ran
/// 2–4% faster.
/// Inputs and outputs stay PyTorch's NCHW, and so does every tensor that anything else reads, so no reorder is ever
/// needed: a blocked tensor is written blocked and read blocked. The choice shows in the types:
///
///     %39 = fused(%32, %38, …) {algorithm="direct" anchor="conv2d" …} : f32[1,128,28,28]
///     // becomes
///     %39 = fused(%32, %38, …) {algorithm="direct" anchor="conv2d" …} : f32[1,128,28,28]{nchw8c}
///
/// The gain is in the copies around the multiply-adds: the writer stores each position's 8 channels as one vector
/// where NCHW planes take 8×8 register transposes, and the reader's zero-bordered plane is blocked too, so that the 8
/// channels a position's taps broadcast one after another share a cache line (an NCHW plane puts them a channel's
/// plane apart); a max pool takes each window's 8 channels as one vector. The interpreter ignores layouts: every
/// value means the same in either.
public let chooseLayout = Pass(name: "choose-layout",
                               summary: "NCHW8c between direct convolutions by filters and max pools, NCHW at the boundaries") { graph in
  var readers = Array(repeating: [(index: Int, position: Int)](), count: graph.nodes.count)
  for (index, node) in graph.nodes.enumerated() {
    for (position, operand) in node.operands.enumerated() { readers[operand].append((index, position)) }
  }
  let returned = Set(graph.outputs.map(\.value))
  var result = graph
  for index in graph.nodes.indices where graph.writesBlocked(index) && !returned.contains(index) {
    let all = readers[index]
    let planes = all.contains { $0.position == 0 && graph.directConvolution($0.index)?.filters == true }
    if planes && all.allSatisfy({ graph.readsBlocked($0.index, position: $0.position) }) {
      result.nodes[index].type.layout = .nchw8c
    }
  }
  return result
}
