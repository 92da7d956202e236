import CDanluRuntime
import DanluDiagnostics
import DanluIR
import Foundation

extension WeightSet {
  /// Checks these weights against a graph's parameters with the C runtime's own binding rules, so `danlu compile`
  /// rejects exactly what the binary would.
  public func check(against graph: Graph) throws(DiagnosticError) {
    let parameters = graph.parameters
    let names = parameters.map { strdup(graph.parameterName($0)!)! }
    let shapes = parameters.map { value -> UnsafeMutablePointer<Int64> in
      let shape = graph.nodes[value].type.staticShape!.map(Int64.init)
      let pointer = UnsafeMutablePointer<Int64>.allocate(capacity: max(1, shape.count))
      pointer.update(from: shape, count: shape.count)
      return pointer
    }
    defer {
      names.forEach { free($0) }
      shapes.forEach { $0.deallocate() }
    }
    let infos = parameters.indices.map {
      danlu_tensor_info(name: names[$0], rank: Int32(graph.nodes[parameters[$0]].type.rank), shape: shapes[$0])
    }
    var error = [CChar](repeating: 0, count: 8192)
    var bound = [UnsafePointer<Float>?](repeating: nil, count: parameters.count + 1)
    let status = graph.name.withCString { name in
      infos.withUnsafeBufferPointer { table in
        var model = danlu_model()
        model.abi_version = DANLU_ABI_VERSION
        model.name = name
        model.num_params = Int32(parameters.count)
        model.params = table.baseAddress
        return danlu_bind_weights(&model, &set, &bound, &error, error.count)
      }
    }
    if status != 0 { throw DiagnosticError(.weightsMismatch(WeightSet.message(error, dropping: "")), at: .unknown) }
  }
}
