import DanluIR

/// `plan-memory`: offsets in one arena from liveness. Views (reshapes) share their source's storage; an elementwise
/// kernel whose input dies there writes over it (in place); then buffers are placed greedily, largest first, at the
/// lowest offset that overlaps no buffer live at the same time (TFLite's "greedy by size"). im2col scratch is a
/// buffer live only during its convolution. Values computed at load time (`Graph.loadTimeValues`) live throughout.
/// The IR text ends with the plan:
///
///     memory arena=F lower_bound=B naive=B weights=B     (the arena in floats, the figures in bytes)
///     offsets %3=0 %5=4096 …                            (float offsets of computed values)
///     scratch %7=8192 …                                  (each convolution's im2col scratch)
///
/// A graph with symbolic dimensions gets no plan (sizes are unknown until `--batch` / `--dim` bind them).
public let planMemory = Pass(name: "plan-memory", summary: "liveness-based arena offsets with in-place reuse") { graph in
  guard graph.freeSymbols.isEmpty else { return graph }
  var result = graph
  result.memoryPlan = MemoryPlanner(graph).plan()
  return result
}

struct MemoryPlanner {
  let graph: Graph
  /// Values that need storage of their own: computed, not views.
  var planned: [Int] = []
  var isPlanned: Set<Int> = []
  var lastUse: [Int] = []
  var loadTime: Set<Int> = []

  init(_ graph: Graph) {
    self.graph = graph
    lastUse = Array(graph.nodes.indices)
    for (index, node) in graph.nodes.enumerated() {
      for operand in node.operands { lastUse[graph.storageRoot(operand)] = max(lastUse[graph.storageRoot(operand)], index) }
    }
    for output in graph.outputs { lastUse[graph.storageRoot(output.value)] = graph.nodes.count }
    // Computed once at load time and read by every run: live from the start to the end.
    loadTime = graph.loadTimeValues
    for value in loadTime { lastUse[value] = graph.nodes.count }
    planned = graph.nodes.indices.filter { index in
      switch graph.nodes[index].op {
      case .input, .parameter, .buffer, .reshape: return false
      default: return true
      }
    }
    isPlanned = Set(planned)
  }

  func floats(_ value: Int) -> Int { StorageAlignment.aligned(graph.storedFloats(value)) }

  /// Whether `index` may write over its first operand: elementwise, same size, and the operand dies here.
  func canReuse(_ index: Int, _ operand: Int) -> Bool {
    let node = graph.nodes[index]
    switch node.op {
    case .relu, .leakyRelu, .sigmoid, .tanh, .gelu, .silu, .biasAdd, .batchNorm, .add, .mul: break
    case .fused(let group) where group.anchor == .elementwise: break
    default: return false
    }
    let root = graph.storageRoot(operand)
    return isPlanned.contains(root) && lastUse[root] == index && floats(root) == floats(index)
      && !graph.outputs.contains { graph.storageRoot($0.value) == root }
  }

  func plan() -> MemoryPlan {
    // Buffers: groups of values sharing storage (in place), with the interval each is live.
    var buffer = Dictionary(uniqueKeysWithValues: planned.map { ($0, $0) })
    var interval: [Int: (start: Int, end: Int, floats: Int)] = [:]
    for index in planned {
      let node = graph.nodes[index]
      if let first = node.operands.first, canReuse(index, first), let shared = buffer[graph.storageRoot(first)] {
        buffer[index] = shared
        interval[shared]!.end = max(interval[shared]!.end, lastUse[index])
      } else {
        interval[index] = (index, lastUse[index], floats(index))
      }
    }
    // Load-time values first, one after another, in a region of their own at the arena's start.
    var offsetOf: [Int: Int] = [:]
    var loadTimeFloats = 0
    for id in interval.keys.sorted() where loadTime.contains(id) {
      offsetOf[id] = loadTimeFloats
      loadTimeFloats += interval[id]!.floats
    }
    var items = interval.filter { !loadTime.contains($0.key) }
      .map { (id: $0.key, start: $0.value.start, end: $0.value.end, floats: $0.value.floats) }
    for index in planned where graph.scratchFloats(index) > 0 {
      items.append((id: -1 - index, start: index, end: index, floats: StorageAlignment.aligned(graph.scratchFloats(index))))
    }

    // Greedy by size: the largest first, at the lowest offset free for its whole interval.
    var placed: [(start: Int, end: Int, offset: Int, floats: Int)] = []
    for item in items.sorted(by: { ($0.floats, $1.start) > ($1.floats, $0.start) }) {
      var offset = 0
      for other in placed.filter({ $0.start <= item.end && item.start <= $0.end }).sorted(by: { $0.offset < $1.offset }) {
        if offset + item.floats <= other.offset { break }
        offset = max(offset, other.offset + other.floats)
      }
      placed.append((item.start, item.end, offset, item.floats))
      offsetOf[item.id] = loadTimeFloats + offset
    }

    // The exact lower bound: the most bytes live at any one step.
    var peak = 0
    for step in 0...graph.nodes.count {
      peak = max(peak, items.filter { $0.start <= step && step <= $0.end }.reduce(0) { $0 + $1.floats })
    }
    let scratch = planned.filter { graph.scratchFloats($0) > 0 }
    let arena = loadTimeFloats + (placed.map { $0.offset + $0.floats }.max() ?? 0)
    let weights = graph.parameters.reduce(0) { $0 + graph.nodes[$1].type.staticShape!.reduce(1, *) }
    let perRun = planned.filter { !loadTime.contains($0) }
    var plan = MemoryPlan(
      offsets: Dictionary(uniqueKeysWithValues: planned.map { ($0, offsetOf[buffer[$0]!]!) }),
      scratchOffsets: Dictionary(uniqueKeysWithValues: scratch.map { ($0, offsetOf[-1 - $0]!) }),
      arenaFloats: arena, lowerBoundBytes: peak * 4,
      naiveBytes: (perRun.reduce(0) { $0 + floats($1) } + scratch.reduce(0) { $0 + StorageAlignment.aligned(graph.scratchFloats($1)) }) * 4,
      weightBytes: weights * 4)
    plan.loadTimeFloats = loadTimeFloats
    return plan
  }
}
