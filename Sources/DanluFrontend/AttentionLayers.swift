import DanluDiagnostics
import DanluIR

/// `multi_head_attention` and `positional_encoding`, with PyTorch's arguments and `state_dict` names (`in_proj_weight`,
/// `out_proj.weight`, …; the Transformer layers built from them are in `TransformerLayers`). The attention itself is
/// one `attention` node; the projections are GEMMs (one for q, k and v together in self-attention).
enum AttentionLayers {
  static let all: [LayerDefinition] = [multiHeadAttention, positionalEncoding]

  /// nn.MultiheadAttention(embed_dim, num_heads): tensors (x) for self-attention, (query, memory) when keys and
  /// values are one tensor, or (query, key, value); with `key_padding_mask=true` the last tensor is the mask [N, S].
  static let multiHeadAttention = LayerDefinition(name: "multi_head_attention", parameters: [
    .required("embed_dim", .int), .required("num_heads", .int), .optional("bias", .bool, .bool(true)),
    .optional("batch_first", .bool, .bool(false)), .optional("causal", .bool, .bool(false)),
    .optional("key_padding_mask", .bool, .bool(false)), .optional("dropout", .float, .float(0)),
  ], inputs: .many) { (c, x, a) throws(DiagnosticError) in
    guard a.float("dropout") == 0 else {
      throw c.fail("multi_head_attention", "dropout on the attention weights is not supported (the attention is one fused kernel); "
        + "use dropout=0 and a dropout layer after it", x)
    }
    let masked = a.bool("key_padding_mask")
    let tensors = masked ? Array(x.dropLast()) : x
    guard (1...3).contains(tensors.count), !masked || x.count >= 2 else {
      throw c.fail("multi_head_attention", "takes (x), (query, memory) or (query, key, value)"
        + (masked ? ", then the key padding mask" : ""), x)
    }
    let (query, key) = (tensors[0], tensors.count > 1 ? tensors[1] : tensors[0])
    let value = tensors.count > 2 ? tensors[2] : key
    return try attention(&c, query: query, key: key, value: value, mask: masked ? x.last : nil,
                         options: Options(embed: a.int("embed_dim"), heads: a.int("num_heads"), bias: a.bool("bias"),
                                          batchFirst: a.bool("batch_first"), causal: a.bool("causal")))
  }

  struct Options {
    var embed: Int, heads: Int, bias: Bool, batchFirst: Bool, causal: Bool
  }

  /// The projections, the attention node and the output projection, with parameters under the current path.
  static func attention(_ c: inout LoweringContext, query: Int, key: Int, value: Int, mask: Int?, options o: Options)
    throws(DiagnosticError) -> Int
  {
    let operands = [query, key, value] + (mask.map { [$0] } ?? [])
    for tensor in [query, key, value] where c.type(tensor).rank != 3 || c.type(tensor).shape[2] != .int(o.embed) {
      throw c.fail("multi_head_attention", "query, key and value must be \(o.batchFirst ? "(N, S, \(o.embed))" : "(S, N, \(o.embed))")", operands)
    }
    guard o.heads > 0, o.embed % o.heads == 0 else {
      throw c.fail("multi_head_attention", "num_heads=\(o.heads) must divide embed_dim=\(o.embed)", operands)
    }
    let e = o.embed
    // xavier_uniform_ over [3E, E] and zero biases, as nn.MultiheadAttention._reset_parameters.
    let weight = try c.parameter("in_proj_weight", [3 * e, e], .uniform(bound: (6 / Float(4 * e)).squareRoot()))
    let bias = o.bias ? try c.parameter("in_proj_bias", [3 * e], .constant(0)) : nil
    func project(_ x: Int, rows: Int, count: Int) throws(DiagnosticError) -> Int {
      let w = count == 3 ? weight : try c.node(.slice(axis: 0, start: rows, length: count * e), [weight])
      var y = try c.node(.matmul(transposeB: true), [x, w])
      if let bias {
        let b = count == 3 ? bias : try c.node(.slice(axis: 0, start: rows, length: count * e), [bias])
        y = try c.node(.biasAdd(axis: 2), [y, b])
      }
      return y
    }
    var (q, k, v): (Int, Int, Int)
    if query == key && key == value {
      // Self-attention: one GEMM for q, k and v, then each is its third of the columns.
      let qkv = try project(query, rows: 0, count: 3)
      (q, k, v) = (try c.node(.slice(axis: 2, start: 0, length: e), [qkv]), try c.node(.slice(axis: 2, start: e, length: e), [qkv]),
                   try c.node(.slice(axis: 2, start: 2 * e, length: e), [qkv]))
    } else if key == value {
      q = try project(query, rows: 0, count: 1)
      let kv = try project(key, rows: e, count: 2)
      (k, v) = (try c.node(.slice(axis: 2, start: 0, length: e), [kv]), try c.node(.slice(axis: 2, start: e, length: e), [kv]))
    } else {
      (q, k, v) = (try project(query, rows: 0, count: 1), try project(key, rows: e, count: 1), try project(value, rows: 2 * e, count: 1))
    }
    var attributes = AttentionAttributes(heads: o.heads, causal: o.causal, keyPadding: mask != nil, batchFirst: o.batchFirst)
    var attentionOperands = [q, k, v] + (mask.map { [$0] } ?? [])
    if c.decode != nil, query == key, key == value {
      // Decoding one position: the new key and value join the cached ones, and the mask hides the cache's unused rows.
      guard o.causal, o.batchFirst, mask == nil else {
        throw c.fail("multi_head_attention", "decoding one position at a time needs causal, batch-first self-attention "
          + "without a padding mask", operands)
      }
      attentionOperands = try c.decodeCache(key: k, value: v, query: q)
      attributes = AttentionAttributes(heads: o.heads, causal: false, keyPadding: true, batchFirst: true)
    }
    let heads = try c.node(.attention(attributes), attentionOperands)
    let outWeight = try c.parameter("out_proj.weight", [e, e], .uniform(bound: 1 / Float(e).squareRoot()))
    var y = try c.node(.matmul(transposeB: true), [heads, outWeight])
    if o.bias { y = try c.node(.biasAdd(axis: 2), [y, try c.parameter("out_proj.bias", [e], .constant(0))]) }
    return y
  }

  /// Adds a position table to a sequence: `sinusoidal` (a constant) or `learned` (a parameter `weight`
  /// [max_len, D], as an nn.Embedding of positions).
  static let positionalEncoding = LayerDefinition(name: "positional_encoding", parameters: [
    .optional("kind", .string, .string("sinusoidal")), .optional("max_len", .int, .int(5000)),
    .optional("batch_first", .bool, .bool(false)),
  ]) { (c, x, a) throws(DiagnosticError) in
    let type = c.type(x[0])
    guard type.rank == 3 else { throw c.fail("positional_encoding", "the input must be \(a.bool("batch_first") ? "(N, S, D)" : "(S, N, D)")", x) }
    let width = try c.staticDim(type.shape[2], of: x[0], what: "positional_encoding")
    let lengthDim = type.shape[a.bool("batch_first") ? 1 : 0]
    let maxLength = a.int("max_len")
    guard ["sinusoidal", "learned"].contains(a.string("kind")) else {
      throw c.fail("positional_encoding", "kind must be 'sinusoidal' or 'learned', got '\(a.string("kind"))'", x)
    }
    let learned = a.string("kind") == "learned"
    let weight = learned ? try c.parameter("weight", [maxLength, width], .normal(std: 1)) : nil
    if let decode = c.decode {
      // One new position: its row of the table, looked up by the position input.
      guard a.bool("batch_first") else { throw c.fail("positional_encoding", "decoding needs batch_first=true", x) }
      guard decode.length <= maxLength else {
        throw c.fail("positional_encoding", "the context of \(decode.length) positions exceeds max_len=\(maxLength)", x)
      }
      let table = weight ?? c.graph.addLeaf(.sinusoid, type: TensorType(.f32, [.int(decode.length), .int(width)]), name: c.path, location: c.location)
      return try c.node(.add, [x[0], try c.node(.embedding, [c.decodePosition(batch: type.shape[0]), table])])
    }
    let length = try c.staticDim(lengthDim, of: x[0], what: "positional_encoding")
    guard length <= maxLength else {
      throw c.fail("positional_encoding", "the sequence has \(length) positions, more than max_len=\(maxLength)", x)
    }
    var table: Int
    if let weight {
      table = try c.node(.slice(axis: 0, start: 0, length: length), [weight])
    } else {
      table = c.graph.addLeaf(.sinusoid, type: TensorType(.f32, [.int(length), .int(width)]), name: c.path, location: c.location)
    }
    if !a.bool("batch_first") {
      table = try c.graph.reshape(table, to: [.int(length), .int(1), .int(width)], name: c.path, location: c.location)
    }
    return try c.node(.add, [x[0], table])
  }
}
