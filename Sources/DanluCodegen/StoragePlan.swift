import DanluIR

/// Where each value lives in the generated program: a graph input, a parameter, or an arena offset (in floats); a
/// reshape is a view of its source. Offsets come from the graph's memory plan (the `plan-memory` pass); without one,
/// every value gets its own slot.
struct StoragePlan {
  enum Location: Equatable {
    case input(Int)
    case parameter(Int)
    case arena(Int)
  }

  var locations: [Location] = []
  var scratch: [Int: Int] = [:]
  var arenaFloats = 0

  init(_ graph: Graph) {
    let parameterIndex = Dictionary(uniqueKeysWithValues: graph.parameters.enumerated().map { ($1, $0) })
    let inputIndex = Dictionary(uniqueKeysWithValues: graph.inputs.enumerated().map { ($1, $0) })
    var next = 0
    for (index, node) in graph.nodes.enumerated() {
      switch node.op {
      case .input: locations.append(.input(inputIndex[index]!))
      case .parameter, .buffer: locations.append(.parameter(parameterIndex[index]!))
      case .reshape: locations.append(locations[node.operands[0]])
      default:
        if let plan = graph.memoryPlan {
          locations.append(.arena(plan.offsets[index]!))
          if let offset = plan.scratchOffsets[index] { scratch[index] = offset }
        } else {
          locations.append(.arena(next))
          next += StorageAlignment.aligned(graph.storedFloats(index))
          if graph.scratchFloats(index) > 0 {
            scratch[index] = next
            next += StorageAlignment.aligned(graph.scratchFloats(index))
          }
        }
      }
    }
    arenaFloats = graph.memoryPlan?.arenaFloats ?? next
  }

  func reference(_ value: Int) -> String {
    switch locations[value] {
    case .input(let i): return "inputs[\(i)]"
    case .parameter(let i): return "params[\(i)]"
    case .arena(let offset): return "(arena + \(offset))"
    }
  }

  func scratchReference(_ value: Int) -> String { "(arena + \(scratch[value] ?? 0))" }
}
