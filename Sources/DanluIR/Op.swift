/// The closed set of IR operations. The frontend lowers friendly layers (conv2d with bias, linear,
/// flatten, dropout) onto these; codegen and the interpreter see nothing else.
public indirect enum Op: Hashable, Sendable {
  // MARK: Leaves
  /// A graph input, bound by name when the graph runs.
  case input(String)
  /// A trainable or stored tensor, named like a PyTorch `state_dict` key.
  case parameter(String)
  /// A stored tensor that is not trained by gradient (batch-norm running statistics): PyTorch's buffers.
  case buffer(String)
  /// A tensor of one repeated value, known at compile time (made by passes, e.g. batch-norm folding's zero bias).
  case fill(Float)
  /// The sinusoidal position table [L, D] of "Attention Is All You Need": sin(p / 10000^(2i/D)) in column 2i and
  /// cos of the same in column 2i + 1, for position p in row p. A constant, so computed once at load time.
  case sinusoid

  // MARK: Elementwise, unary
  case relu
  case leakyRelu(slope: Float)
  case sigmoid
  case tanh
  /// The exact GELU, `x·Φ(x)`, as PyTorch's default.
  case gelu
  case silu

  // MARK: Elementwise, binary (NumPy broadcasting)
  case add
  case mul

  // MARK: Linear algebra and convolution
  /// `a[..., K] · b[M, K]ᵀ` when `transposeB`, else `a[..., K] · b[K, M]`.
  case matmul(transposeB: Bool)
  /// A weight [N, …] as it is (the same values), which the C backend stores in panels of 32 rows of its first axis
  /// (each row the rest flattened) for a matmul with `transposeB` or a GEMM convolution to read as its weight
  /// (`pack-weights`), or a fused recurrent step its weight_ih and weight_hh; computed once at load time. Only those read it
  /// (`packedPanelsOperands`).
  case packPanels
  /// Adds a 1-D tensor along `axis`: the bias of conv2d (axis 1) and linear (last axis).
  case biasAdd(axis: Int)
  /// NCHW input, OIHW weight (O = out channels, I = in channels / groups).
  case conv2d(Conv2dAttributes)

  // MARK: Normalization
  /// Inference batch norm on axis 1: operands x, weight, bias, running_mean, running_var.
  case batchNorm(epsilon: Float)
  /// Layer norm over the last axis: operands x, weight, bias (each the size of that axis); PyTorch's `nn.LayerNorm(D)`.
  case layerNorm(epsilon: Float)

  // MARK: Pooling
  case maxPool2d(PoolAttributes)
  case avgPool2d(PoolAttributes)
  case adaptiveAvgPool2d(outputSize: [Int])

  // MARK: Reductions
  case softmax(axis: Int)
  case logSoftmax(axis: Int)

  // MARK: Recurrence
  /// One layer and direction of an RNN, LSTM or GRU over a whole sequence (`RecurrentAttributes`).
  case recurrent(RecurrentAttributes)

  // MARK: Attention
  /// Scaled dot-product attention of q, k, v split into heads, with optional causal and key-padding masks
  /// (`AttentionAttributes`): one kernel, never more than a block of scores at a time.
  case attention(AttentionAttributes)

  // MARK: Lookup
  /// Rows of a table: operands indices (integers stored as f32, any shape) and weight [V, D] → indices.shape + [D],
  /// PyTorch's `nn.Embedding`. An index outside [0, V) gives a row of NaN, never another row.
  case embedding

  // MARK: Regularization
  /// Zeroes each element with probability p and scales the rest by 1/(1 − p) in training; the identity at inference
  /// (`strip-dropout` removes it there). Training rewrites it into a product with a seeded mask.
  case dropout(p: Float)

  // MARK: Shape
  /// Reinterprets the elements in row-major order with the node's result shape.
  case reshape
  case concat(axis: Int)
  /// `length` elements along `axis` from `start`; a negative start counts from the end (−1: the last), so the last
  /// time step of a symbolic sequence length is `start=-1, length=1`.
  case slice(axis: Int, start: Int, length: Int)

  // MARK: Kernel groups (made by the fuse pass)
  case fused(FusedGroup)

  // MARK: Training (losses and the gradient ops autodiff emits)
  case training(TrainingOp)

  // MARK: Groups
  public static let elementwise: Set<String> = ["relu", "leaky_relu", "sigmoid", "tanh", "gelu", "silu", "add", "mul",
                                                "bias_add"]
  public static let reductions: Set<String> = ["softmax", "log_softmax"]
}

public struct Conv2dAttributes: Hashable, Sendable {
  /// How codegen computes the convolution; passes decide (`prefer-winograd`, `prefer-direct`), the math is the same.
  public enum Algorithm: String, Hashable, Sendable {
    /// im2col + GEMM, or the input itself as the GEMM operand for 1×1.
    case gemm
    /// Winograd F(2×2, 3×3): 16 GEMMs on transformed tiles, 2.25× fewer multiplies (stride-1 3×3 only).
    case winograd
    /// Direct loops, no im2col (`DirectConvolution`): by rows of 16 output columns with each filter tap broadcast,
    /// for few filters (unit column stride only); or, reading its filters packed, by vectors of 16 filters.
    case direct
  }

  public var stride: [Int]
  public var padding: [Int]
  public var dilation: [Int]
  public var groups: Int
  public var algorithm: Algorithm = .gemm

  public init(stride: [Int] = [1, 1], padding: [Int] = [0, 0], dilation: [Int] = [1, 1], groups: Int = 1) {
    self.stride = stride
    self.padding = padding
    self.dilation = dilation
    self.groups = groups
  }
}

public struct PoolAttributes: Hashable, Sendable {
  public var kernel: [Int]
  public var stride: [Int]
  public var padding: [Int]
  public var dilation: [Int]
  public var ceilMode: Bool
  /// Average pooling only: whether padded zeros count in the divisor (PyTorch's default is true).
  public var countIncludePad: Bool

  public init(kernel: [Int], stride: [Int], padding: [Int] = [0, 0], dilation: [Int] = [1, 1],
              ceilMode: Bool = false, countIncludePad: Bool = true) {
    self.kernel = kernel
    self.stride = stride
    self.padding = padding
    self.dilation = dilation
    self.ceilMode = ceilMode
    self.countIncludePad = countIncludePad
  }
}

extension Op {
  /// The operands a reader of `packPanels` reads it as: operand 1 of a matmul with `transposeB` or of an ungrouped
  /// convolution (plain, or a fused group's anchor; a Winograd one reads its transformed filters, `WinogradBlocks`),
  /// operands 1 and 2 (weight_ih, weight_hh) of a recurrence whose steps are fused (`RecurrentAttributes.fusesSteps`);
  /// none for every other op.
  public var packedPanelsOperands: [Int] {
    switch self {
    case .matmul(let t): return t ? [1] : []
    case .conv2d(let a): return a.groups == 1 ? [1] : []
    case .recurrent(let r): return r.fusesSteps ? [1, 2] : []
    case .fused(let group):
      switch group.anchor {
      case .matmul(let t): return t ? [1] : []
      case .conv2d(let a): return a.groups == 1 ? [1] : []
      case .elementwise: return []
      }
    default: return []
    }
  }
}
