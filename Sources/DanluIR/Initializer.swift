import Foundation

/// How a parameter is filled when no checkpoint is given: PyTorch's defaults, so a fresh Danlu model and a fresh
/// PyTorch model are drawn from the same distributions.
public enum Initializer: Hashable, Sendable {
  /// U(-bound, bound): `nn.Linear`/`nn.Conv2d` weights (kaiming_uniform with a=√5) and biases, bound = 1/√fan_in.
  case uniform(bound: Float)
  case constant(Float)
  /// N(0, std²): `nn.Embedding` weights (std 1).
  case normal(std: Float)
}

/// A deterministic generator (SplitMix64), so seeded initial weights are identical on every machine.
public struct SeededGenerator: RandomNumberGenerator, Sendable {
  private var state: UInt64

  public init(seed: UInt64) { state = seed }

  public mutating func next() -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }

  /// Uniform in [-1, 1).
  public mutating func nextSymmetric() -> Float { Float(next() >> 40) / Float(1 << 23) - 1 }
}

extension Initializer {
  public func fill(count: Int, using generator: inout SeededGenerator) -> [Float] {
    switch self {
    case .constant(let value): return Array(repeating: value, count: count)
    case .uniform(let bound): return (0..<count).map { _ in generator.nextSymmetric() * bound }
    case .normal(let std):
      // Box–Muller from two uniforms in (0, 1].
      return (0..<count).map { _ in
        let u1 = (Double(generator.next() >> 11) + 1) / 9_007_199_254_740_992, u2 = Double(generator.next() >> 11) / 9_007_199_254_740_992
        return Float((-2 * Foundation.log(u1)).squareRoot() * Foundation.cos(2 * Double.pi * u2)) * std
      }
    }
  }
}
