import Foundation

/// Paths inside this checkout, for tests that read models and fixtures.
public enum Repository {
  public static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()

  public static func path(_ relative: String) -> String { root.appendingPathComponent(relative).path }

  /// The `danlu` executable `swift build` put beside the test bundle (`.build/debug`), or nil when it is missing.
  public static var danluExecutable: String? {
    let beside = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("danlu")
    let candidates = [beside.path, path(".build/debug/danlu")]
    return candidates.first { FileManager.default.isExecutableFile(atPath: $0) }
  }

  /// Every model in `Models/`, by file name without extension.
  public static var models: [String] {
    let files = (try? FileManager.default.contentsOfDirectory(atPath: path("Models"))) ?? []
    return files.filter { $0.hasSuffix(".yaml") }.map { String($0.dropLast(5)) }.sorted()
  }

  public static var goldenCases: [String] {
    ((try? FileManager.default.contentsOfDirectory(atPath: path("Tests/Fixtures/goldens"))) ?? []).sorted()
  }

  /// A fresh temporary folder.
  public static func temporaryFolder() -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("danlu-test-\(UUID().uuidString)")
    try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
  }
}

/// Location markers in test sources, as in swift-syntax's tests: `1️⃣` marks where a diagnostic should point.
public struct MarkedSource {
  public var text: String
  /// Marker → (line, column), 1-based, in the text with markers removed.
  public var markers: [String: (line: Int, column: Int)] = [:]

  public init(_ marked: String) {
    var text = ""
    var line = 1, column = 1
    for character in marked {
      if let scalar = character.unicodeScalars.first, character.unicodeScalars.count > 1,
         ("1"..."9").contains(Character(scalar)), character.unicodeScalars.contains("\u{20E3}") {
        markers[String(character)] = (line, column)
        continue
      }
      text.append(character)
      if character == "\n" { line += 1; column = 1 } else { column += 1 }
    }
    self.text = text
  }
}

extension URL {
  /// Writes `bytes` to a file named `name` in this folder and returns its path (hostile-file tests).
  public func file(_ name: String, _ bytes: [UInt8]) -> String {
    let path = appendingPathComponent(name).path
    FileManager.default.createFile(atPath: path, contents: Data(bytes))
    return path
  }
}
