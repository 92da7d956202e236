import DanluDiagnostics

/// The spec AST: a model file after YAML parsing and call-syntax parsing, before any name is resolved.
public struct ModelSpec: Sendable, Hashable {
  public var name: String
  public var file: String
  public var inputs: [InputSpec]
  /// Default values of symbolic dimensions (`dims: {H: 224}`); the command line may override them.
  public var dimDefaults: [DimDefault]
  public var blocks: [BlockSpec]
  public var layers: [LayerItem]
  /// Empty means "the last layer's output, named `output`".
  public var outputs: [OutputSpec]
  /// The `train:` section, kept as YAML until training reads it.
  public var train: YAMLNode?
  public var location: SourceLocation
}

public struct InputSpec: Sendable, Hashable {
  public var name: String
  /// `f32[N, 1, 28, 28]`: a subscript of a dtype name by dimension expressions.
  public var type: Expr
  public var location: SourceLocation
}

public struct DimDefault: Sendable, Hashable {
  public var name: String
  public var value: Int
  public var location: SourceLocation
}

/// `BasicBlock(planes, stride=1): [layers…]`: a reusable, parameterized list of layers.
public struct BlockSpec: Sendable, Hashable {
  public struct Parameter: Sendable, Hashable {
    public var name: String
    public var defaultValue: Expr?
    public var location: SourceLocation
  }

  public var name: String
  public var parameters: [Parameter]
  public var body: [LayerItem]
  public var location: SourceLocation
}

/// One entry of a layer list: `- relu`, `- conv1: conv2d(6, kernel=5)`, or `- features: [ …nested list… ]`.
public struct LayerItem: Sendable, Hashable {
  public enum Body: Sendable, Hashable {
    case expr(Expr)
    /// A nested list behaves like `nn.Sequential`: its unnamed items are named by position.
    case sequential([LayerItem])
  }

  public var name: String?
  public var body: Body
  public var location: SourceLocation
}

public struct OutputSpec: Sendable, Hashable {
  public var name: String
  public var value: Expr
  public var location: SourceLocation
}
