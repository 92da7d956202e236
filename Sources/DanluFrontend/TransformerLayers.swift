import DanluDiagnostics
import DanluIR

/// nn.TransformerEncoderLayer and nn.TransformerDecoderLayer: post-LN (`norm_first=false`, PyTorch's default) or
/// pre-LN, ReLU or GELU, PyTorch's names (`self_attn.*`, `multihead_attn.*`, `linear1`, `linear2`, `norm1`–`norm3`).
/// Stacks are `repeat(6, transformer_encoder_layer(…))`, named `layers.0.` … like nn.TransformerEncoder's. The
/// `dropout` applies where PyTorch's residual and feed-forward dropouts are; the attention weights are not dropped
/// (the attention is one fused kernel).
enum TransformerLayers {
  static let all: [LayerDefinition] = [encoderLayer, decoderLayer]

  static let common: [LayerDefinition.Parameter] = [
    .required("d_model", .int), .required("nhead", .int), .optional("dim_feedforward", .int, .int(2048)),
    .optional("dropout", .float, .float(0.1)), .optional("activation", .string, .string("relu")),
    .optional("layer_norm_eps", .float, .float(1e-5)), .optional("batch_first", .bool, .bool(false)),
    .optional("norm_first", .bool, .bool(false)), .optional("bias", .bool, .bool(true)),
  ]

  /// Tensors (x), or (x, key padding mask [N, S]) with `key_padding_mask=true`; `causal` masks future positions.
  static let encoderLayer = LayerDefinition(name: "transformer_encoder_layer", parameters: common + [
    .optional("causal", .bool, .bool(false)), .optional("key_padding_mask", .bool, .bool(false)),
  ], inputs: .many) { (c, x, a) throws(DiagnosticError) in
    guard x.count == (a.bool("key_padding_mask") ? 2 : 1) else {
      throw c.fail("transformer_encoder_layer", a.bool("key_padding_mask") ? "takes x and the key padding mask" : "takes one tensor", x)
    }
    let layer = try Layer(c, x, a, "transformer_encoder_layer")
    let mask = x.count > 1 ? x[1] : nil
    let attended = try layer.block(&c, x[0], "norm1") { (c, h) throws(DiagnosticError) in
      try layer.attention(&c, "self_attn", h, h, mask: mask, causal: a.bool("causal"))
    }
    return try layer.block(&c, attended, "norm2") { (c, h) throws(DiagnosticError) in try layer.feedForward(&c, h) }
  }

  /// Tensors (target, memory); `causal` masks the target's future positions (`tgt_is_causal`).
  static let decoderLayer = LayerDefinition(name: "transformer_decoder_layer", parameters: common + [
    .optional("causal", .bool, .bool(false)),
  ], inputs: .two) { (c, x, a) throws(DiagnosticError) in
    let layer = try Layer(c, x, a, "transformer_decoder_layer")
    let memory = x[1]
    let attended = try layer.block(&c, x[0], "norm1") { (c, h) throws(DiagnosticError) in
      try layer.attention(&c, "self_attn", h, h, mask: nil, causal: a.bool("causal"))
    }
    let crossed = try layer.block(&c, attended, "norm2") { (c, h) throws(DiagnosticError) in
      try layer.attention(&c, "multihead_attn", h, memory, mask: nil, causal: false)
    }
    return try layer.block(&c, crossed, "norm3") { (c, h) throws(DiagnosticError) in try layer.feedForward(&c, h) }
  }

  /// One layer's settings and its sublayers, each lowered under its own name below the layer's path.
  struct Layer {
    let model: Int, heads: Int, feedForwardSize: Int, dropout: Float, gelu: Bool, eps: Float
    let batchFirst: Bool, normFirst: Bool, bias: Bool

    init(_ c: LoweringContext, _ x: [Int], _ a: Arguments, _ op: String) throws(DiagnosticError) {
      (model, heads, feedForwardSize) = (a.int("d_model"), a.int("nhead"), a.int("dim_feedforward"))
      (dropout, eps, batchFirst, normFirst, bias) = (a.float("dropout"), a.float("layer_norm_eps"), a.bool("batch_first"),
                                                    a.bool("norm_first"), a.bool("bias"))
      guard ["relu", "gelu"].contains(a.string("activation")) else {
        throw c.fail(op, "activation must be 'relu' or 'gelu', got '\(a.string("activation"))'", x)
      }
      gelu = a.string("activation") == "gelu"
      guard (0..<1).contains(dropout) else { throw c.fail(op, "dropout=\(dropout) must be in [0, 1)", x) }
      let type = c.type(x[0])
      guard type.rank == 3, type.shape[2] == .int(model) else {
        throw c.fail(op, "the input must be \(batchFirst ? "(N, S, \(model))" : "(S, N, \(model))") for d_model=\(model)", x)
      }
    }

    /// Lowers `body` with `c.path` set to `path.name`.
    func sublayer(_ c: inout LoweringContext, _ name: String, _ body: (inout LoweringContext) throws(DiagnosticError) -> Int)
      throws(DiagnosticError) -> Int
    {
      let saved = c.path
      c.path = saved.isEmpty ? name : "\(saved).\(name)"
      defer { c.path = saved }
      return try body(&c)
    }

    /// A residual sublayer: `norm(x + f(x))` (post-LN) or `x + f(norm(x))` (pre-LN).
    func block(_ c: inout LoweringContext, _ x: Int, _ norm: String,
               _ body: (inout LoweringContext, Int) throws(DiagnosticError) -> Int) throws(DiagnosticError) -> Int
    {
      let input = normFirst ? try layerNorm(&c, norm, x) : x
      let residual = try c.node(.add, [x, try drop(&c, try body(&c, input))])
      return normFirst ? residual : try layerNorm(&c, norm, residual)
    }

    func drop(_ c: inout LoweringContext, _ x: Int) throws(DiagnosticError) -> Int {
      dropout == 0 ? x : try c.node(.dropout(p: dropout), [x])
    }

    func layerNorm(_ c: inout LoweringContext, _ name: String, _ x: Int) throws(DiagnosticError) -> Int {
      try sublayer(&c, name) { (c) throws(DiagnosticError) in
        let weight = try c.parameter("weight", [model], .constant(1)), shift = try c.parameter("bias", [model], .constant(0))
        return try c.node(.layerNorm(epsilon: eps), [x, weight, shift])
      }
    }

    func linear(_ c: inout LoweringContext, _ name: String, _ x: Int, inputs: Int, outputs: Int) throws(DiagnosticError) -> Int {
      try sublayer(&c, name) { (c) throws(DiagnosticError) in
        let bound = 1 / Float(inputs).squareRoot()
        var y = try c.node(.matmul(transposeB: true), [x, try c.parameter("weight", [outputs, inputs], .uniform(bound: bound))])
        if bias { y = try c.node(.biasAdd(axis: 2), [y, try c.parameter("bias", [outputs], .uniform(bound: bound))]) }
        return y
      }
    }

    func feedForward(_ c: inout LoweringContext, _ x: Int) throws(DiagnosticError) -> Int {
      let hidden = try c.node(gelu ? .gelu : .relu, [try linear(&c, "linear1", x, inputs: model, outputs: feedForwardSize)])
      return try linear(&c, "linear2", try drop(&c, hidden), inputs: feedForwardSize, outputs: model)
    }

    func attention(_ c: inout LoweringContext, _ name: String, _ query: Int, _ memory: Int, mask: Int?, causal: Bool)
      throws(DiagnosticError) -> Int
    {
      try sublayer(&c, name) { (c) throws(DiagnosticError) in
        try AttentionLayers.attention(&c, query: query, key: memory, value: memory, mask: mask,
                                      options: .init(embed: model, heads: heads, bias: bias, batchFirst: batchFirst, causal: causal))
      }
    }
  }
}
