import DanluDiagnostics
import DanluFrontend
import DanluIR
import DanluSpec
import Foundation

/// Options shared by every command that builds a model: which symbolic dimensions to bind.
public struct BuildOptions: Sendable {
  public var batch: Int?
  public var bindings: [String: Int]
  /// Print each pass's time to standard error (`--time-passes`).
  public var timePasses = false
  /// BLAS threads for the compiled code (`--threads`); nil keeps OpenBLAS's default of one per core.
  public var threads: Int?
  /// The pass pipeline by name (`--passes a,b`); nil is the default inference pipeline.
  public var passes: [String]?
  /// Lowers for incremental decoding with a key/value cache of this many positions (`danlu sample`).
  public var decodeLength: Int?

  public init(batch: Int? = nil, bindings: [String: Int] = [:], timePasses: Bool = false, threads: Int? = nil,
              passes: [String]? = nil) {
    self.passes = passes
    self.batch = batch
    self.bindings = bindings
    self.timePasses = timePasses
    self.threads = threads
  }

  /// Parses `--dim` values of the form `T=64`.
  public static func parseBindings(_ items: [String]) throws(DiagnosticError) -> [String: Int] {
    var result: [String: Int] = [:]
    for item in items {
      let parts = item.split(separator: "=", maxSplits: 1)
      guard parts.count == 2, let value = Int(parts[1]), value > 0, !parts[0].isEmpty else {
        throw DiagnosticError(.badDimBinding(item), at: .unknown)
      }
      result[String(parts[0])] = value
    }
    return result
  }
}

/// Reads a model file and runs it through the spec loader and frontend; keeps the source for rendering errors.
public struct ModelLoader: Sendable {
  public private(set) var sources: [String: String] = [:]

  public init() {}

  public var renderer: DiagnosticRenderer { DiagnosticRenderer(sources: sources) }

  public mutating func spec(at path: String) throws(DiagnosticError) -> ModelSpec {
    guard let data = FileManager.default.contents(atPath: path) else {
      throw DiagnosticError(.fileNotReadable(path), at: .unknown)
    }
    guard let text = String(data: data, encoding: .utf8) else {
      throw DiagnosticError(.fileNotReadable(path + " (not UTF-8 text)"), at: .unknown)
    }
    sources[path] = text
    return try SpecLoader.load(text, file: path)
  }

  public mutating func model(at path: String, options: BuildOptions = BuildOptions()) throws(DiagnosticError) -> Model {
    // As `--dim N=0` is refused (`parseBindings`): a batch of 0 otherwise surfaced as the input's type being wrong.
    if let batch = options.batch, batch < 1 { throw DiagnosticError(.badBatch(batch), at: .unknown) }
    return try Frontend.build(try spec(at: path), bindings: options.bindings, batch: options.batch,
                       decode: options.decodeLength.map { DecodeState(length: $0) })
  }
}
