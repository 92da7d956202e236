/// A point in a source file, 1-based, as users see it in their editor.
public struct SourceLocation: Hashable, Sendable, CustomStringConvertible {
  public var file: String
  public var line: Int
  public var column: Int

  public init(file: String, line: Int, column: Int) {
    self.file = file
    self.line = line
    self.column = column
  }

  /// For nodes built by hand (tests, passes) rather than from a spec.
  public static let unknown = SourceLocation(file: "<unknown>", line: 0, column: 0)

  public var isUnknown: Bool { line == 0 }

  public var description: String { "\(file):\(line):\(column)" }

  /// The location `offset` characters further along the same line.
  public func advanced(by offset: Int) -> SourceLocation {
    SourceLocation(file: file, line: line, column: column + offset)
  }
}
