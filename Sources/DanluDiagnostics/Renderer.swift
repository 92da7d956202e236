/// Renders diagnostics as `file:line:col: error: message`, the source line and a caret under the column.
public struct DiagnosticRenderer: Sendable {
  /// Source text by file name, so the renderer can quote the offending line.
  public var sources: [String: String]

  public init(sources: [String: String] = [:]) { self.sources = sources }

  public func render(_ diagnostic: Diagnostic) -> String {
    var out = diagnostic.location.isUnknown
      ? "\(diagnostic.severity.rawValue): \(diagnostic.message)"
      : "\(diagnostic.location): \(diagnostic.severity.rawValue): \(diagnostic.message)"
    if let line = sourceLine(diagnostic.location) {
      out += "\n" + line + "\n" + String(repeating: " ", count: max(0, diagnostic.location.column - 1)) + "^"
    }
    for note in diagnostic.notes { out += "\nnote: " + note }
    return out
  }

  public func render(_ error: DiagnosticError) -> String {
    error.diagnostics.map(render).joined(separator: "\n")
  }

  private func sourceLine(_ location: SourceLocation) -> String? {
    guard !location.isUnknown, let text = sources[location.file] else { return nil }
    var current = 1
    for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
      if current == location.line { return String(line) }
      current += 1
    }
    return nil
  }
}
