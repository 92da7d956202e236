import DanluDiagnostics

/// A YAML document tree in which every node remembers where it was written.
public struct YAMLNode: Sendable, Hashable {
  public enum Kind: Sendable, Hashable {
    /// `quoted` is false for plain scalars, which are the only ones read as layer calls or numbers.
    case scalar(String, quoted: Bool)
    case sequence([YAMLNode])
    case mapping([YAMLPair])
  }

  public var kind: Kind
  public var location: SourceLocation

  public init(_ kind: Kind, at location: SourceLocation) {
    self.kind = kind
    self.location = location
  }

  public var scalar: String? {
    if case .scalar(let text, _) = kind { return text }
    return nil
  }

  public var sequence: [YAMLNode]? {
    if case .sequence(let items) = kind { return items }
    return nil
  }

  public var mapping: [YAMLPair]? {
    if case .mapping(let pairs) = kind { return pairs }
    return nil
  }

  /// How the node is described in messages: "a list", "a mapping", "'relu'".
  public var kindDescription: String {
    switch kind {
    case .scalar(let text, _): return "'\(text)'"
    case .sequence: return "a list"
    case .mapping: return "a mapping"
    }
  }
}

public struct YAMLPair: Sendable, Hashable {
  public var key: YAMLNode
  public var value: YAMLNode

  public init(key: YAMLNode, value: YAMLNode) {
    self.key = key
    self.value = value
  }
}
