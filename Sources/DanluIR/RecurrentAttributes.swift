/// One layer and direction of a recurrent network, with PyTorch's cells and gate order:
///
///     rnn:  h = act(W_ih x + b_ih + W_hh h + b_hh)                       act = tanh or relu
///     lstm: i, f, g, o = σ, σ, tanh, σ of (W_ih x + b_ih + W_hh h + b_hh)   c = f c + i g,   h = o tanh(c)
///     gru:  r, z = σ(W_i{r,z} x + b_i{r,z} + W_h{r,z} h + b_h{r,z})
///           n = tanh(W_in x + b_in + r (W_hn h + b_hn)),   h = (1 − z) n + z h
///
/// Operands: x [T, N, I] ([N, T, I] when `batchFirst`), weight_ih [G·H, I], weight_hh [G·H, H], bias_ih [G·H],
/// bias_hh [G·H], h0 [N, H], and c0 [N, H] for an LSTM. The result holds each step's state at its time position:
/// h, then c for an LSTM, so [T, N, H] or [T, N, 2H] (batch first: [N, T, …]).
public struct RecurrentAttributes: Hashable, Sendable {
  public enum Cell: String, Hashable, Sendable, CaseIterable {
    case rnnTanh = "rnn_tanh"
    case rnnRelu = "rnn_relu"
    case lstm
    case gru
  }

  public var cell: Cell
  public var hidden: Int
  /// Runs from the last time step to the first (the second direction of a bidirectional layer).
  public var reverse: Bool
  public var batchFirst: Bool

  public init(cell: Cell, hidden: Int, reverse: Bool = false, batchFirst: Bool = false) {
    self.cell = cell
    self.hidden = hidden
    self.reverse = reverse
    self.batchFirst = batchFirst
  }

  /// Gates per hidden unit: the rows of weight_ih are G·H.
  public var gates: Int {
    switch cell {
    case .rnnTanh, .rnnRelu: return 1
    case .lstm: return 4
    case .gru: return 3
    }
  }

  /// Whether the C backend runs each step as one fused kernel (`RecurrentEmitter.fusedSteps`): the hidden size is a
  /// multiple of 16, whole register tiles of units. It then reads weight_ih and weight_hh packed for the step.
  public var fusesSteps: Bool { hidden % 16 == 0 }

  /// Floats of state per step in the result: h, and c for an LSTM.
  public var stateWidth: Int { cell == .lstm ? 2 * hidden : hidden }
  public var operandCount: Int { cell == .lstm ? 7 : 6 }
}
