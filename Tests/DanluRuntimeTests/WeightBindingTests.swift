import DanluDiagnostics
import DanluDriver
import DanluFrontend
import DanluIR
import DanluRuntime
import DanluTestSupport
import Testing

@Suite struct WeightBindingTests {
  func lenet() throws -> (DanluFrontend.Model, Graph) { try Oracle.graph(Repository.path("Models/lenet5.yaml"), BuildOptions(batch: 1)) }

  func weights(_ graph: Graph, _ model: DanluFrontend.Model) -> [(String, Tensor)] {
    graph.initialWeights(model.initializers, seed: 1).sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
  }

  @Test func listsEveryMissingUnexpectedAndMisshapedTensorByName() throws {
    let (model, graph) = try lenet()
    var tensors = weights(graph, model).filter { $0.0 != "fc3.bias" }
    tensors = tensors.map { $0.0 == "conv1.weight" ? ($0.0, Tensor.random([6, 1, 3, 3], seed: 2)) : $0 }
    tensors.append(("fc4.weight", Tensor.random([2], seed: 3)))
    tensors.append(("bn.num_batches_tracked", Tensor.random([1], seed: 4)))  // PyTorch bookkeeping: ignored
    #expect {
      try WeightSet(tensors).check(against: graph)
    } throws: { error in
      let message = (error as! DiagnosticError).diagnostics[0].message
      return message.contains("3 problems") && message.contains("missing: fc3.bias [10]")
        && message.contains("wrong shape: conv1.weight has shape [6, 1, 3, 3], the model expects [6, 1, 5, 5]")
        && message.contains("unexpected: fc4.weight") && !message.contains("num_batches_tracked")
    }
  }

  @Test func acceptsMatchingWeightsAndIgnoresNumBatchesTracked() throws {
    let (model, graph) = try lenet()
    try WeightSet(weights(graph, model) + [("bn1.num_batches_tracked", Tensor(shape: [], data: [0]))]).check(against: graph)
  }

  @Test func initialWeightsFollowPyTorchDefaults() throws {
    let (model, graph) = try lenet()
    let initial = graph.initialWeights(model.initializers, seed: 9)
    let bound = 1 / Float(400).squareRoot()
    let fc1 = try #require(initial["fc1.weight"])
    #expect(fc1.data.allSatisfy { abs($0) <= bound })
    #expect(fc1.data.map(abs).max()! > bound * 0.9, "Kaiming-uniform fills the whole interval")
    #expect(graph.initialWeights(model.initializers, seed: 9) == initial, "seeded")
  }
}
