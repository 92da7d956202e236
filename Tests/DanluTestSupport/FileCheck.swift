import Foundation
/// A small FileCheck, after LLVM's: `// CHECK: text` must appear in order, `// CHECK-NEXT:` on the very next line,
/// `// CHECK-NOT:` nowhere between the previous match and the next one. Returns the failures, empty when it passes.
public enum FileCheck {
  public static func check(_ output: String, against checks: String) -> [String] {
    let lines = output.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
    var failures: [String] = []
    var position = 0  // the first line a CHECK may match
    var lastMatch = -1
    var pendingNot: [String] = []
    let directives = checks.split(separator: "\n").compactMap { line -> (String, String)? in
      let trimmed = line.drop { $0 == " " }
      for kind in ["CHECK-NEXT:", "CHECK-NOT:", "CHECK:"] where trimmed.hasPrefix("// " + kind) {
        return (kind, String(trimmed.dropFirst(3 + kind.count)).trimmingCharacters(in: " "))
      }
      return nil
    }
    for (kind, pattern) in directives {
      switch kind {
      case "CHECK-NOT:":
        pendingNot.append(pattern)
      case "CHECK-NEXT:":
        let next = lastMatch + 1
        if next < lines.count, lines[next].contains(pattern) {
          lastMatch = next
          position = next + 1
        } else {
          failures.append("CHECK-NEXT: '\(pattern)' is not on the line after '\(lastMatch >= 0 ? lines[lastMatch] : "<start>")'")
        }
      default:
        guard let found = (position..<lines.count).first(where: { lines[$0].contains(pattern) }) else {
          failures.append("CHECK: '\(pattern)' not found after line \(position)")
          continue
        }
        for not in pendingNot where lines[position..<found].contains(where: { $0.contains(not) }) {
          failures.append("CHECK-NOT: '\(not)' found before '\(pattern)'")
        }
        pendingNot = []
        lastMatch = found
        position = found + 1
      }
    }
    for not in pendingNot where lines[min(position, lines.count)...].contains(where: { $0.contains(not) }) {
      failures.append("CHECK-NOT: '\(not)' found after the last match")
    }
    if directives.isEmpty { failures.append("no CHECK lines: a test that cannot fail") }
    return failures
  }

  /// Splits a test file into cases at `// -----` lines.
  public static func cases(_ text: String) -> [String] {
    text.components(separatedBy: "\n// -----\n")
  }
}

extension String {
  func trimmingCharacters(in set: Character) -> String {
    var s = Substring(self)
    while s.first == set { s = s.dropFirst() }
    while s.last == set { s = s.dropLast() }
    return String(s)
  }
}
