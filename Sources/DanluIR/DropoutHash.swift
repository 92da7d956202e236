/// The counter-based hash behind dropout masks, shared by the interpreter and generated C so that both draw the same
/// mask: SplitMix64 of a key mixed from (seed, step, salt), stepped once per element. A mask needs no state between
/// steps, so a resumed run draws exactly the masks an uninterrupted one would.
public enum DropoutHash {
  static let (seedFactor, stepFactor, saltFactor): (UInt64, UInt64, UInt64) =
    (0x9E37_79B9_7F4A_7C15, 0xD1B5_4A32_D192_ED03, 0x8CB9_2BA7_2F3D_8DD7)

  /// The seed input's three floats, each exact in float32: (seed mod 2²⁴, step ÷ 2²⁴, step mod 2²⁴).
  public static func seedInput(seed: UInt64, step: Int) -> [Float] {
    [Float(seed % (1 << 24)), Float((step >> 24) % (1 << 24)), Float(step % (1 << 24))]
  }

  /// An element is kept when its 24 hash bits reach this: probability 1 − p.
  public static func threshold(p: Float) -> UInt64 { UInt64((Double(p) * Double(1 << 24)).rounded(.up)) }

  static func key(_ seed: [Float], salt: Int) -> UInt64 {
    let step = UInt64(seed[1]) << 24 | UInt64(seed[2])
    return mix(UInt64(seed[0]) &* seedFactor ^ step &* stepFactor ^ UInt64(salt) &* saltFactor)
  }

  static func mix(_ value: UInt64) -> UInt64 {
    var z = value
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }

  /// The mask for `count` elements: 0 or 1/(1 − p).
  public static func mask(seed: [Float], salt: Int, p: Float, count: Int) -> [Float] {
    let key = key(seed, salt: salt), threshold = threshold(p: p)
    let scale = 1 / (1 - p)
    return (0..<count).map { i in mix(key &+ UInt64(i + 1) &* seedFactor) >> 40 >= threshold ? scale : 0 }
  }

  /// The same in C: `danlu_dropout_mask(seed, salt, threshold, scale, y, count)`.
  public static let cSource = """
    static uint64_t danlu_mix(uint64_t z) {
      z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
      z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
      return z ^ (z >> 31);
    }

    static void danlu_dropout_mask(const float *seed, uint64_t salt, uint64_t threshold, float scale, float *y, long count) {
      const uint64_t step = (uint64_t)seed[1] << 24 | (uint64_t)seed[2];
      const uint64_t key = danlu_mix((uint64_t)seed[0] * \(seedFactor)ull ^ step * \(stepFactor)ull ^ salt * \(saltFactor)ull);
      for (long i = 0; i < count; i++) y[i] = danlu_mix(key + (uint64_t)(i + 1) * \(seedFactor)ull) >> 40 >= threshold ? scale : 0.0f;
    }

    """
}
