import DanluDiagnostics
import DanluIR

/// `rnn`, `lstm` and `gru` with PyTorch's arguments, parameter names (`weight_ih_l0`, `bias_hh_l1_reverse`, …) and
/// results: `name[0]` the output sequence, `name[1]` h_n [layers·directions, N, H], `name[2]` c_n for an LSTM. Each
/// layer and direction is one `recurrent` node; optional h0 (and c0) come as extra tensor arguments.
enum RecurrentLayers {
  static let all: [LayerDefinition] = [
    definition("rnn", extra: [.optional("nonlinearity", .string, .string("tanh"))]),
    definition("lstm", extra: []),
    definition("gru", extra: []),
  ]

  static func definition(_ name: String, extra: [LayerDefinition.Parameter]) -> LayerDefinition {
    LayerDefinition(name: name, parameters: [
      .required("hidden_size", .int), .optional("num_layers", .int, .int(1)), .optional("bias", .bool, .bool(true)),
      .optional("batch_first", .bool, .bool(false)), .optional("bidirectional", .bool, .bool(false)),
      .optional("input_size", .int),
    ] + extra, inputs: .many) { (c, x, a) throws(DiagnosticError) in
      let cell: RecurrentAttributes.Cell
      switch name {
      case "lstm": cell = .lstm
      case "gru": cell = .gru
      default:
        switch a.string("nonlinearity") {
        case "tanh": cell = .rnnTanh
        case "relu": cell = .rnnRelu
        default: throw c.fail(name, "nonlinearity must be 'tanh' or 'relu', got '\(a.string("nonlinearity"))'", x)
        }
      }
      return try lower(cell, name, &c, x, a)
    }
  }

  static func lower(_ cell: RecurrentAttributes.Cell, _ op: String, _ c: inout LoweringContext, _ x: [Int], _ a: Arguments)
    throws(DiagnosticError) -> Int
  {
    let states = cell == .lstm ? 2 : 1
    guard x.count <= 1 + states else { throw c.fail(op, "takes the input and at most \(states == 2 ? "h0 and c0" : "h0")", x) }
    let input = c.type(x[0])
    guard input.rank == 3 else { throw c.fail(op, "the input must be \(a.bool("batch_first") ? "(N, T, features)" : "(T, N, features)")", x) }
    let (hidden, layers, directions) = (a.int("hidden_size"), a.int("num_layers"), a.bool("bidirectional") ? 2 : 1)
    let batchFirst = a.bool("batch_first")
    let batch = input.shape[batchFirst ? 0 : 1], timeAxis = batchFirst ? 1 : 0
    var features = try c.staticDim(input.shape[2], of: x[0], what: op)
    if a.has("input_size"), a.int("input_size") != features {
      throw c.fail(op, "input_size=\(a.int("input_size")) but the input has \(features) features", x)
    }
    let stateShape: [Dim] = [.int(layers * directions), batch, .int(hidden)]
    for given in x.dropFirst() where c.type(given).shape != stateShape {
      throw c.fail(op, "initial states must be \(TensorType(.f32, stateShape))", x)
    }
    let bound = 1 / Float(hidden).squareRoot()
    var sequence = x[0]
    var finals: [[Int]] = Array(repeating: [], count: states)
    for layer in 0..<layers {
      var outputs: [Int] = []
      for direction in 0..<directions {
        let suffix = "_l\(layer)" + (direction == 1 ? "_reverse" : "")
        let index = layer * directions + direction
        let rows = (cell == .lstm ? 4 : cell == .gru ? 3 : 1) * hidden
        var operands = [sequence, try c.parameter("weight_ih" + suffix, [rows, features], .uniform(bound: bound)),
                        try c.parameter("weight_hh" + suffix, [rows, hidden], .uniform(bound: bound))]
        for bias in ["bias_ih", "bias_hh"] {
          operands.append(a.bool("bias") ? try c.parameter(bias + suffix, [rows], .uniform(bound: bound))
            : c.graph.addLeaf(.fill(0), type: TensorType(.f32, [.int(rows)]), name: c.path, location: c.location))
        }
        for state in 0..<states {
          if x.count > 1 + state {
            let one = try c.node(.slice(axis: 0, start: index, length: 1), [x[1 + state]])
            operands.append(try c.graph.reshape(one, to: [batch, .int(hidden)], name: c.path, location: c.location))
          } else {
            operands.append(c.graph.addLeaf(.fill(0), type: TensorType(.f32, [batch, .int(hidden)]), name: c.path, location: c.location))
          }
        }
        let attributes = RecurrentAttributes(cell: cell, hidden: hidden, reverse: direction == 1, batchFirst: batchFirst)
        let result = try c.node(.recurrent(attributes), operands)
        outputs.append(cell == .lstm ? try c.node(.slice(axis: 2, start: 0, length: hidden), [result]) : result)
        // The state after the last step processed: the last time position going forward, the first going back.
        let last = try c.node(.slice(axis: timeAxis, start: direction == 1 ? 0 : -1, length: 1), [result])
        for state in 0..<states {
          let part = cell == .lstm ? try c.node(.slice(axis: 2, start: state * hidden, length: hidden), [last]) : last
          finals[state].append(try c.graph.reshape(part, to: [.int(1), batch, .int(hidden)], name: c.path, location: c.location))
        }
      }
      sequence = directions == 1 ? outputs[0] : try c.node(.concat(axis: 2), outputs)
      features = hidden * directions
    }
    var results = [sequence]
    for state in finals { results.append(state.count == 1 ? state[0] : try c.node(.concat(axis: 0), state)) }
    c.results = results
    return sequence
  }
}
