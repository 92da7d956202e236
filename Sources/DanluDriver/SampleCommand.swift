import DanluDiagnostics
import DanluFrontend
import DanluIR
import DanluRuntime
import Foundation

/// How `danlu sample` draws text.
public struct SampleOptions: Sendable {
  public var prompt: String
  /// Bytes to generate after the prompt.
  public var length: Int
  /// Logits are divided by it; 0 takes the most likely byte every time.
  public var temperature: Float
  /// Draw only among the k most likely bytes (nil: all).
  public var topK: Int?
  public var seed: UInt64

  public init(prompt: String, length: Int, temperature: Float = 1, topK: Int? = nil, seed: UInt64 = 0) {
    (self.prompt, self.length, self.temperature, self.topK, self.seed) = (prompt, length, temperature, topK, seed)
  }
}

extension Commands {
  /// `danlu sample`: generates bytes from a language model whose input is token ids [N, S] and whose first output is
  /// logits [N, S, vocabulary]. The model is compiled once for one position (`DecodeState`): every causal
  /// self-attention keeps its keys and values in a cache of the model's context length, so each new byte costs one
  /// position's work plus attention over the cache, however long the text already is. When the cache is full, its
  /// second half is re-encoded into a fresh cache and generation goes on.
  public static func sample(_ path: String, _ options: BuildOptions, weights file: String?, _ sampling: SampleOptions)
    throws(DriverFailure) -> String
  {
    // The context: the sequence length the spec declares (or --dim binds) for its token input.
    let (full, loader) = try load(path, options)
    guard let input = full.graph.inputs.first, full.graph.nodes[input].type.rank == 2,
          let context = full.graph.nodes[input].type.shape[1].staticValue, context >= 2 else {
      throw DriverFailure(loader.renderer.render(DiagnosticError(.runtimeFailed(
        "danlu sample needs a language model whose first input is token ids [N, S] with S bound (--dim S=64)"), at: .unknown)))
    }
    var decodeOptions = options
    (decodeOptions.batch, decodeOptions.decodeLength) = (1, context)
    let (model, graph, source, decodeLoader) = try generate(path, decodeOptions)
    do throws(DiagnosticError) {
      // Each bad option named with the value it was given (top-k 0 is not negative, and was reported so).
      let (length, temperature, topK) = (sampling.length, sampling.temperature, sampling.topK ?? 1)
      let problems = [length < 0 ? "--length must not be negative, got \(length)" : nil,
                      temperature < 0 ? "--temperature must not be negative, got \(temperature)" : nil,
                      topK < 1 ? "--top-k must be at least 1, got \(topK)" : nil].compactMap { $0 }
      guard problems.isEmpty else {
        throw DiagnosticError(.runtimeFailed(problems.joined(separator: "; ")), at: .unknown)
      }
      let weightSet = try weights(file, model, graph, seed: 0)
      return try inProcess(source, graph.name) { (compiled) throws(DiagnosticError) in
        var decoder = try Decoder(compiled, graph, weightSet, context: context)
        var generator = SeededGenerator(seed: sampling.seed)
        var text = Array(sampling.prompt.utf8)
        if text.isEmpty { text = [10] }  // no prompt: start after a newline
        var logits: [Float] = []
        for byte in text { logits = try decoder.feed(Int(byte)) }
        let start = DispatchTime.now().uptimeNanoseconds
        for _ in 0..<sampling.length {
          let next = draw(logits, sampling, &generator)
          text.append(UInt8(next))
          logits = try decoder.feed(next)
        }
        let milliseconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6
        FileHandle.standardError.write(Data(String(format: "sample: %d bytes in %.1f ms (%.3f ms per byte; context %d, %d cached tensors)\n",
                                                   sampling.length, milliseconds, milliseconds / Double(max(1, sampling.length)),
                                                   context, decoder.caches.count).utf8))
        return String(decoding: text, as: UTF8.self) + "\n"
      }
    } catch {
      throw DriverFailure(decodeLoader.renderer.render(error))
    }
  }

  /// The logits after each of `tokens`, fed one at a time through the cached one-position model (the cache's
  /// refill included): what `sample` draws from, for tests to hold against the whole model.
  public static func decodedLogits(_ path: String, _ options: BuildOptions, weights file: String, tokens: [Int])
    throws(DriverFailure) -> [[Float]]
  {
    let (full, loader) = try load(path, options)
    guard let input = full.graph.inputs.first, let context = full.graph.nodes[input].type.shape.last?.staticValue else {
      throw DriverFailure(loader.renderer.render(DiagnosticError(.runtimeFailed("no token input"), at: .unknown)))
    }
    var decodeOptions = options
    (decodeOptions.batch, decodeOptions.decodeLength) = (1, context)
    let (model, graph, source, decodeLoader) = try generate(path, decodeOptions)
    do throws(DiagnosticError) {
      let weightSet = try weights(file, model, graph, seed: 0)
      return try inProcess(source, graph.name) { (compiled) throws(DiagnosticError) in
        var decoder = try Decoder(compiled, graph, weightSet, context: context)
        var result: [[Float]] = []
        for token in tokens { result.append(try decoder.feed(token)) }
        return result
      }
    } catch {
      throw DriverFailure(decodeLoader.renderer.render(error))
    }
  }

  /// A byte drawn from softmax(logits / temperature) over the top k (the most likely one at temperature 0).
  static func draw(_ logits: [Float], _ s: SampleOptions, _ generator: inout SeededGenerator) -> Int {
    let order = logits.indices.sorted { logits[$0] > logits[$1] }
    guard s.temperature > 0 else { return order[0] }
    let candidates = Array(order.prefix(s.topK ?? logits.count))
    let peak = logits[candidates[0]]
    let weights = candidates.map { exp(Double(logits[$0] - peak) / Double(s.temperature)) }
    var pick = Double(generator.next() >> 11) / Double(1 << 53) * weights.reduce(0, +)
    for (candidate, weight) in zip(candidates, weights) {
      pick -= weight
      if pick < 0 { return candidate }
    }
    return candidates.last!
  }
}

/// The compiled one-position model and its caches: `feed` runs one token at the next position and returns the
/// logits for the position after it.
struct Decoder {
  let session: Session
  let context: Int
  let tokenInput: String, logitsName: String
  /// Each cache input (`past:…`) with the output (`present:…`) that fills its next row, and its row width.
  var caches: [(past: String, present: String, width: Int, values: Tensor)] = []
  var position = 0
  var history: [Int] = []

  init(_ compiled: CompiledModel, _ graph: Graph, _ weights: WeightSet, context: Int) throws(DiagnosticError) {
    self.context = context
    var inputs: [String: Tensor] = [:]
    for value in graph.inputs {
      let name = graph.inputName(value)!
      let shape = graph.nodes[value].type.staticShape!
      inputs[name] = Tensor(zeros: shape)
      if name.hasPrefix(DecodeState.pastPrefix) {
        let present = DecodeState.presentPrefix + name.dropFirst(DecodeState.pastPrefix.count)
        caches.append((name, present, shape[2], Tensor(zeros: shape)))
      }
    }
    guard !caches.isEmpty else {
      throw DiagnosticError(.runtimeFailed("the model has no causal self-attention to cache; danlu sample decodes Transformer "
        + "language models"), at: .unknown)
    }
    (tokenInput, logitsName) = (graph.inputName(graph.inputs[0])!, compiled.outputNames[0])
    session = try Session(compiled, inputs: inputs, weights: weights)
  }

  mutating func feed(_ token: Int) throws(DiagnosticError) -> [Float] {
    if position == context {
      // The cache is full: start a fresh one from the second half of what was fed.
      let keep = Array(history.suffix(context / 2))
      (position, history) = (0, [])
      for i in caches.indices { caches[i].values = Tensor(zeros: caches[i].values.shape) }
      for earlier in keep { _ = try run(earlier) }
    }
    return try run(token)
  }

  private mutating func run(_ token: Int) throws(DiagnosticError) -> [Float] {
    try session.setInput(tokenInput, Tensor(shape: [1, 1], data: [Float(token)]))
    try session.setInput(DecodeState.positionInput, Tensor(shape: [1, 1], data: [Float(position)]))
    // Cache rows not yet written are hidden; the last key, the new position's own, is always seen.
    try session.setInput(DecodeState.maskInput, Tensor(shape: [1, context + 1], data: (0...context).map { $0 < position || $0 == context ? 0 : 1 }))
    for cache in caches { try session.setInput(cache.past, cache.values) }
    session.forward()
    let outputs = session.outputs
    for i in caches.indices {
      guard let row = outputs[caches[i].present] else { preconditionFailure("no \(caches[i].present) output") }
      caches[i].values.data.replaceSubrange((position * caches[i].width)..<((position + 1) * caches[i].width), with: row.data)
    }
    position += 1
    history.append(token)
    guard let logits = outputs[logitsName] else { preconditionFailure("no logits") }
    return logits.data
  }
}
