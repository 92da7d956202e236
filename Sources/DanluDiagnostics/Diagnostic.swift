/// A user-facing problem: a stable id from the catalog, a message, and where it happened.
public struct Diagnostic: Hashable, Sendable, Error, CustomStringConvertible {
  public enum Severity: String, Sendable { case error, warning, note }

  public var id: String
  public var severity: Severity
  public var message: String
  public var location: SourceLocation
  public var notes: [String]

  public init(_ message: DiagnosticMessage, at location: SourceLocation, notes: [String] = []) {
    self.id = message.id
    self.severity = .error
    self.message = message.text
    self.location = location
    self.notes = notes
  }

  public var description: String { "\(location): \(severity.rawValue): \(message)" }
}

/// Thrown when a stage finds one or more user errors; every stage collects what it can before throwing.
public struct DiagnosticError: Error, Sendable, CustomStringConvertible {
  public var diagnostics: [Diagnostic]

  public init(_ diagnostics: [Diagnostic]) { self.diagnostics = diagnostics }
  public init(_ diagnostic: Diagnostic) { self.diagnostics = [diagnostic] }
  public init(_ message: DiagnosticMessage, at location: SourceLocation) {
    self.diagnostics = [Diagnostic(message, at: location)]
  }

  public var description: String { diagnostics.map(\.description).joined(separator: "\n") }
}
