import Foundation
import DanluDriver
import DanluFrontend
import DanluIR
import DanluTestSupport
import Testing

@Suite struct ModelZooTests {
  func build(_ name: String, _ options: BuildOptions = BuildOptions()) throws -> Model {
    var loader = ModelLoader()
    return try loader.model(at: Repository.path("Models/\(name).yaml"), options: options)
  }

  func keys(_ model: Model) -> Set<String> { Set(model.graph.parameters.map { model.graph.parameterName($0)! }) }

  /// torchvision's published parameter counts (buffers excluded) and MACs at 224×224.
  @Test(arguments: [("resnet18", 11_689_512, 1_814_073_344), ("resnet50", 25_557_032, 4_089_184_256),
                    ("vgg16", 138_357_544, 15_470_264_320), ("lenet5", 61_706, 416_520), ("mlp", 535_818, 535_040)])
  func countsMatchTorchvision(_ name: String, _ parameters: Int, _ macs: Int) throws {
    let model = try build(name)
    let (total, _) = Cost.of(model.graph, bindings: model.bindings.merging(["N": 1]) { $1 })
    #expect(total.parameters == parameters)
    #expect(total.macs == macs)
  }

  /// `len(torchvision.models.resnet18().state_dict())` is 122, of which 20 are num_batches_tracked.
  @Test(arguments: [("resnet18", 102), ("resnet50", 267), ("vgg16", 32), ("lenet5", 10), ("mlp", 6)])
  func stateDictHasTorchvisionsKeys(_ name: String, _ count: Int) throws {
    #expect(try keys(build(name)).count == count)
  }

  @Test func resnetKeysAreNamedLikePyTorch() throws {
    let resnet18 = try keys(build("resnet18"))
    for key in ["conv1.weight", "bn1.running_var", "layer1.0.conv1.weight", "layer1.1.bn2.bias", "layer2.0.downsample.0.weight",
                "layer2.0.downsample.1.running_mean", "layer4.1.conv2.weight", "fc.weight", "fc.bias"] {
      #expect(resnet18.contains(key), "missing \(key)")
    }
    #expect(!resnet18.contains("layer1.0.downsample.0.weight"))
    let resnet50 = try keys(build("resnet50"))
    for key in ["layer1.0.downsample.0.weight", "layer3.5.conv3.weight", "layer4.2.bn3.running_var"] {
      #expect(resnet50.contains(key), "missing \(key)")
    }
    let vgg = try keys(build("vgg16"))
    for key in ["features.0.weight", "features.28.bias", "classifier.0.weight", "classifier.3.weight", "classifier.6.bias"] {
      #expect(vgg.contains(key), "missing \(key)")
    }
    #expect(try keys(build("mlp")) == ["1.weight", "1.bias", "3.weight", "3.bias", "5.weight", "5.bias"])
  }

  @Test func weightShapesFollowPyTorchLayout() throws {
    let graph = try build("lenet5").graph
    let shapes = Dictionary(uniqueKeysWithValues: graph.parameters.map { (graph.parameterName($0)!, graph.nodes[$0].type.staticShape!) })
    #expect(shapes["conv2.weight"] == [16, 6, 5, 5])
    #expect(shapes["fc1.weight"] == [120, 400])
  }

  /// resnet18 at 224×224: the planned arena within 1.1× of the exact lower bound (issue 3's target).
  @Test func resnet18ArenaIsNearTheLowerBound() throws {
    let model = try build("resnet18", BuildOptions(batch: 1))
    let graph = Pipeline.optimize(try Pipeline.bound(model), passes: try Pipeline.passes(nil))
    let plan = try #require(graph.memoryPlan)
    #expect(Double(plan.arenaBytes) <= 1.1 * Double(plan.lowerBoundBytes), "\(plan.summary)")
    #expect(plan.lowerBoundBytes <= plan.arenaBytes && plan.arenaBytes < plan.naiveBytes)
  }

  /// Style rule 8: `parse(print(g)) == g` for every model, symbolic and bound.
  @Test(arguments: Repository.models)
  func irRoundTrips(_ name: String) throws {
    let model = try build(name)
    for graph in [model.graph, model.graph.binding(["N": 2])] {
      #expect(try IRParser.parse(IRPrinter.print(graph)) == graph)
    }
  }

  @Test func symbolicDimsStaySymbolicUntilBound() throws {
    let model = try build("resnet18", BuildOptions(bindings: ["H": 64, "W": 64]))
    let output = model.graph.nodes[model.graph.outputs[0].value].type
    #expect(output.description == "f32[N,1000]")
    let conv1 = try #require(model.graph.nodes.first { $0.name == "conv1" && $0.op.mnemonic == "conv2d" })
    #expect(conv1.type.description == "f32[N,64,32,32]")
  }

  @Test func arithmeticOnSymbolicDimsFlowsThroughShapes() throws {
    var loader = ModelLoader()
    let spec = MarkedSource("""
      model: sym
      inputs:
        x: f32[N, 3, H, W]
      layers:
        - conv2d(4, kernel=3, stride=2, padding=1)
        - maxpool2d(2)
      """)
    let path = Repository.temporaryFolder().appendingPathComponent("sym.yaml").path
    try spec.text.write(toFile: path, atomically: true, encoding: .utf8)
    let model = try loader.model(at: path)
    #expect(model.graph.nodes[model.graph.outputs[0].value].type.description == "f32[N,4,((H-1)//2-1)//2+1,((W-1)//2-1)//2+1]")
    #expect(model.graph.binding(["N": 1, "H": 32, "W": 17]).nodes.last!.type.staticShape == [1, 4, 8, 4])
  }
}
