import DanluDiagnostics
import DanluIR
import DanluSpec

/// What an expression evaluates to while the frontend walks a spec.
indirect enum Value: Sendable {
  case int(Int)
  case float(Double)
  case bool(Bool)
  case string(String)
  case tuple([Value])
  case dim(Dim)
  /// An IR value: a model input or a layer's output.
  case tensor(Int)
  /// A layer or block with its arguments, not yet applied to a tensor.
  case layer(Layer)

  var description: String {
    switch self {
    case .int(let v): return "the integer \(v)"
    case .float(let v): return "the number \(v)"
    case .bool(let v): return "the boolean \(v)"
    case .string(let v): return "the string '\(v)'"
    case .tuple(let items): return "a tuple of \(items.count)"
    case .dim(let d): return "the dimension \(d)"
    case .tensor: return "a tensor"
    case .layer(let l): return "the layer \(l.callee.name)"
    }
  }

  var asDim: Dim? {
    switch self {
    case .int(let v): return .int(v)
    case .dim(let d): return d
    default: return nil
    }
  }
}

/// `conv2d(64, kernel=3)`, `BasicBlock(128, stride=2)`, `repeat(2, BasicBlock(64))`: a callee and its arguments.
struct Layer: Sendable {
  enum Callee: Sendable {
    case op(LayerDefinition)
    case block(BlockSpec)
    case repeatLayer(count: Int, body: Box)

    var name: String {
      switch self {
      case .op(let d): return d.name
      case .block(let b): return b.name
      case .repeatLayer: return "repeat"
      }
    }
  }

  /// Breaks the recursion between `Layer` and `Callee`.
  final class Box: Sendable {
    let layer: Layer
    init(_ layer: Layer) { self.layer = layer }
  }

  var callee: Callee
  var arguments: [String: Value]
  var location: SourceLocation
  /// False for a bare name (`relu`, `BasicBlock`) until its arguments are bound, defaults included.
  var constructed: Bool
  /// `trainable=false`, which any layer or block call takes: its parameters get no gradient (PyTorch's
  /// `requires_grad_(False)` on a module).
  var trainable = true
}
