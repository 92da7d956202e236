import DanluDiagnostics
import DanluDriver
import DanluTestSupport
import Foundation
import Testing

/// Every user error names the file, line and column (the `1️⃣` marker), with a message a newcomer understands.
@Suite struct ErrorTests {
  struct Case: CustomTestStringConvertible, Sendable {
    var name: String
    var yaml: String
    var id: String
    var fragments: [String]
    var testDescription: String { name }
  }

  static let header = "model: m\ninputs:\n  x: f32[N, 1, 28, 28]\n"

  static let cases: [Case] = [
    Case(name: "unknown op", yaml: header + "layers:\n  - 1️⃣conv2dd(6, kernel=5)\n", id: "unknown-op",
         fragments: ["unknown layer or block 'conv2dd'", "did you mean 'conv2d'?"]),
    Case(name: "unknown attribute", yaml: header + "layers:\n  - conv2d(6, 1️⃣kernal=5)\n", id: "unknown-argument",
         fragments: ["layer '0'", "conv2d has no argument 'kernal'", "did you mean 'kernel'?"]),
    Case(name: "wrong attribute type", yaml: header + "layers:\n  - c1: conv2d(6, kernel=5, 1️⃣bias=3)\n", id: "bad-argument",
         fragments: ["layer 'c1'", "'bias' of conv2d must be true or false, got the integer 3"]),
    Case(name: "missing attribute", yaml: header + "layers:\n  - c1: 1️⃣conv2d(6)\n", id: "missing-argument",
         fragments: ["conv2d needs the argument 'kernel'"]),
    Case(name: "linear after conv without flatten",
         yaml: header + "layers:\n  - conv1: conv2d(6, kernel=5)\n  - fc: 1️⃣linear(10)\n", id: "shape-mismatch",
         fragments: ["layer 'fc' (linear)", "f32[N,6,24,24]", "add 'flatten' before it"]),
    Case(name: "shape mismatch in add",
         yaml: header + "layers:\n  - a: conv2d(4, kernel=3)\n  - b: conv2d(4, kernel=5)(x)\n  - 1️⃣add(a, b)\n", id: "shape-mismatch",
         fragments: ["layer '2' (add)", "f32[N,4,26,26] and f32[N,4,24,24]", "cannot be broadcast"]),
    Case(name: "in_features disagrees", yaml: header + "layers:\n  - flatten\n  - fc: 1️⃣linear(10, in_features=400)\n",
         id: "shape-mismatch", fragments: ["in_features=400 but the input has 784 features"]),
    Case(name: "undefined name", yaml: header + "layers:\n  - shortcut: relu\n  - add(., 1️⃣shortcutt)\n", id: "undefined-name",
         fragments: ["'shortcutt' is not defined here", "did you mean 'shortcut'?"]),
    Case(name: "duplicate name", yaml: header + "layers:\n  - conv1: relu\n  - 1️⃣conv1: sigmoid\n", id: "duplicate-name",
         fragments: ["'conv1' is already used"]),
    Case(name: "cycle", yaml: header + "layers:\n  - a: add(., 1️⃣b)\n  - b: relu(a)\n", id: "forward-reference",
         fragments: ["'b' is defined later (line 6)", "cycle"]),
    Case(name: "self reference", yaml: header + "layers:\n  - a: relu(1️⃣a)\n", id: "forward-reference", fragments: ["cycle"]),
    Case(name: "recursive block", yaml: header + "blocks:\n  Loop:\n    - 1️⃣Loop\nlayers:\n  - Loop\n", id: "block-recursion",
         fragments: ["block 'Loop' uses itself"]),
    Case(name: "block with too many arguments",
         yaml: header + "blocks:\n  B(width):\n    - linear(width)\nlayers:\n  - flatten\n  - B(4, 1️⃣5)\n", id: "block-arity",
         fragments: ["block 'B' takes 1 parameter (width)"]),
    Case(name: "block missing an argument", yaml: header + "blocks:\n  B(width):\n    - linear(width)\nlayers:\n  - flatten\n  - 1️⃣B\n",
         id: "block-arity", fragments: ["block 'B' needs a value for 'width'"]),
    Case(name: "unknown dtype", yaml: "model: m\ninputs:\n  x: 1️⃣f23[N, 4]\nlayers:\n  - relu\n", id: "unknown-dtype",
         fragments: ["unknown element type 'f23'", "did you mean 'f32'?"]),
    Case(name: "malformed call", yaml: header + "layers:\n  - conv2d(6, kernel=5 1️⃣padding=2)\n", id: "expected-token",
         fragments: ["expected ')', found 'padding'"]),
    Case(name: "malformed YAML", yaml: header + "layers:\n  - relu\n 1️⃣- sigmoid\n", id: "yaml-syntax", fragments: ["malformed YAML"]),
    Case(name: "layers not a list", yaml: header + "layers: 1️⃣relu\n", id: "expected-sequence",
         fragments: ["'layers' must be a list"]),
    Case(name: "not a layer", yaml: header + "layers:\n  - 1️⃣3\n", id: "not-a-layer", fragments: ["the integer 3"]),
    Case(name: "zero stride", yaml: header + "layers:\n  - conv2d(6, kernel=5, 1️⃣stride=0)\n", id: "bad-argument",
         fragments: ["'stride' of conv2d must be at least 1, got 0"]),
    Case(name: "negative padding", yaml: header + "layers:\n  - maxpool2d(2, 1️⃣padding=-1)\n", id: "bad-argument",
         fragments: ["'padding' of maxpool2d must be zero or more, got -1"]),
    Case(name: "zero channels", yaml: header + "layers:\n  - conv2d(1️⃣0, kernel=3)\n", id: "bad-argument",
         fragments: ["'out_channels' of conv2d must be at least 1"]),
    Case(name: "dropout probability", yaml: header + "layers:\n  - 1️⃣dropout(1.5)\n", id: "shape-mismatch",
         fragments: ["p=1.5 must be in [0, 1)"]),
    Case(name: "repeat too often", yaml: header + "layers:\n  - repeat(1️⃣100000, relu)\n", id: "bad-argument",
         fragments: ["an integer from 1 to 10000"]),
    Case(name: "weight too large", yaml: header + "layers:\n  - flatten\n  - 1️⃣linear(2000000000)\n", id: "shape-mismatch",
         fragments: ["the weight 1.weight", "too many elements"]),
    Case(name: "tensor too large", yaml: "model: m\ninputs:\n  x: f32[2000000000, 2000000000]\nlayers:\n  - 1️⃣relu\n",
         id: "shape-mismatch", fragments: ["f32[2000000000,2000000000]", "too many elements"]),
    Case(name: "name with a quote", yaml: header + "layers:\n  - 1️⃣\"con\\\"v\": relu\n", id: "bad-name",
         fragments: ["cannot be a layer name"]),
    Case(name: "model name with a space", yaml: "model: 1️⃣my model\ninputs:\n  x: f32[1]\nlayers:\n  - relu\n", id: "bad-name",
         fragments: ["'my model' cannot be the model name"]),
    Case(name: "recurrent nonlinearity", yaml: "model: m\ninputs:\n  x: f32[T, N, 4]\nlayers:\n  - r: 1️⃣rnn(8, nonlinearity='sigmoid')\n",
         id: "shape-mismatch", fragments: ["layer 'r' (rnn)", "nonlinearity must be 'tanh' or 'relu', got 'sigmoid'"]),
    Case(name: "recurrent initial state shape",
         yaml: "model: m\ninputs:\n  x: f32[T, N, 4]\n  h0: f32[1, N, 5]\nlayers:\n  - r: 1️⃣gru(8)(x, h0)\n", id: "shape-mismatch",
         fragments: ["layer 'r' (gru)", "initial states must be f32[1,N,8]"]),
    Case(name: "result index out of range",
         yaml: "model: m\ninputs:\n  x: f32[T, N, 4]\nlayers:\n  - r: gru(8)\noutputs:\n  y: r[1️⃣2]\n", id: "bad-argument",
         fragments: ["index", "0 to 1", "got 2"]),
    Case(name: "heads that do not divide the embedding",
         yaml: seqHeader + "layers:\n  - a: 1️⃣multi_head_attention(8, 3, batch_first=true)\n", id: "shape-mismatch",
         fragments: ["layer 'a' (multi_head_attention)", "f32[N,S,8]", "num_heads=3 must divide embed_dim=8"]),
    Case(name: "attention embedding size", yaml: seqHeader + "layers:\n  - a: 1️⃣multi_head_attention(16, 2, batch_first=true)\n",
         id: "shape-mismatch", fragments: ["layer 'a' (multi_head_attention)", "must be (N, S, 16)"]),
    Case(name: "key padding mask shape",
         yaml: "model: m\ninputs:\n  x: f32[2, 5, 8]\n  mask: f32[2, 4]\nlayers:\n"
           + "  - a: 1️⃣multi_head_attention(8, 2, batch_first=true, key_padding_mask=true)(x, mask)\n", id: "shape-mismatch",
         fragments: ["layer 'a' (attention)", "f32[2,4]", "the key padding mask should be f32[2,5]"]),
    Case(name: "attention weight dropout", yaml: seqHeader + "layers:\n  - a: 1️⃣multi_head_attention(8, 2, dropout=0.1)\n",
         id: "shape-mismatch", fragments: ["dropout on the attention weights is not supported", "a dropout layer after it"]),
    Case(name: "positions beyond max_len",
         yaml: "model: m\ninputs:\n  x: f32[2, 12, 8]\nlayers:\n  - p: 1️⃣positional_encoding(kind='learned', max_len=10, batch_first=true)\n",
         id: "shape-mismatch", fragments: ["layer 'p' (positional_encoding)", "12 positions, more than max_len=10"]),
    Case(name: "transformer activation", yaml: seqHeader + "layers:\n  - e: 1️⃣transformer_encoder_layer(8, 2, activation='tanh')\n",
         id: "shape-mismatch", fragments: ["layer 'e' (transformer_encoder_layer)", "activation must be 'relu' or 'gelu', got 'tanh'"]),
    Case(name: "transformer d_model", yaml: seqHeader + "layers:\n  - e: 1️⃣transformer_encoder_layer(16, 2, batch_first=true)\n",
         id: "shape-mismatch", fragments: ["layer 'e' (transformer_encoder_layer)", "f32[N,S,8]", "(N, S, 16) for d_model=16"]),
    Case(name: "decoder without memory", yaml: seqHeader + "layers:\n  - d: 1️⃣transformer_decoder_layer(8, 2)\n",
         id: "extra-argument", fragments: ["transformer_decoder_layer takes 2 tensors, got 1"]),
  ]

  static let seqHeader = "model: m\ninputs:\n  x: f32[N, S, 8]\n"

  @Test(arguments: cases)
  func reportsTheErrorAtTheMarker(_ testCase: Case) throws {
    let source = MarkedSource(testCase.yaml)
    let path = Repository.temporaryFolder().appendingPathComponent("m.yaml").path
    try source.text.write(toFile: path, atomically: true, encoding: .utf8)
    var loader = ModelLoader()
    do {
      _ = try loader.model(at: path)
      Issue.record("no error for \(testCase.name)")
    } catch {
      let diagnostic = error.diagnostics[0]
      #expect(diagnostic.id == testCase.id, "\(diagnostic)")
      for fragment in testCase.fragments { #expect(diagnostic.message.contains(fragment), "\(diagnostic.message)") }
      let marker = try #require(source.markers["1️⃣"])
      #expect(diagnostic.location.file == path)
      #expect(diagnostic.location.line == marker.line, "\(diagnostic)")
      if testCase.id != "yaml-syntax" { #expect(diagnostic.location.column == marker.column, "\(diagnostic)") }
      let rendered = loader.renderer.render(error)
      #expect(rendered.hasPrefix("\(path):\(marker.line):"))
      #expect(rendered.split(separator: "\n").count >= 3, "the source line and a caret follow:\n\(rendered)")
    }
  }

  @Test func bindingAnUnknownDimensionIsAnError() throws {
    var loader = ModelLoader()
    #expect {
      try loader.model(at: Repository.path("Models/lenet5.yaml"), options: BuildOptions(bindings: ["T": 64]))
    } throws: { error in
      (error as! DiagnosticError).diagnostics[0].message.contains("no symbolic dimension 'T'; its symbols are N")
    }
  }
}
