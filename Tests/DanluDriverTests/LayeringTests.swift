import DanluTestSupport
import Foundation
import Testing

/// STYLE 1: a module imports only modules to its left in the pipeline; passes and codegen never import each other.
@Suite struct LayeringTests {
  static let allowed: [String: Set<String>] = [
    "DanluDiagnostics": [],
    "DanluSpec": ["DanluDiagnostics", "CYaml"],
    "DanluIR": ["DanluDiagnostics"],
    "DanluFrontend": ["DanluDiagnostics", "DanluSpec", "DanluIR"],
    "DanluInterpreter": ["DanluIR"],
    "DanluPasses": ["DanluDiagnostics", "DanluIR", "DanluInterpreter"],
    "DanluCodegen": ["DanluDiagnostics", "DanluIR"],
    "DanluRuntime": ["DanluDiagnostics", "DanluIR", "CDanluRuntime", "CZlib"],
    "DanluDriver": ["DanluDiagnostics", "DanluSpec", "DanluIR", "DanluFrontend", "DanluInterpreter", "DanluPasses", "CDanluRuntime",
                    "DanluCodegen", "DanluRuntime"],
    "danlu": ["DanluDriver", "ArgumentParser"],
  ]
  static let system: Set<String> = ["Foundation", "Glibc"]

  @Test func importsFollowThePipeline() throws {
    let sources = Repository.root.appendingPathComponent("Sources")
    var checked = 0
    for module in try FileManager.default.contentsOfDirectory(atPath: sources.path) where !module.hasPrefix("C") {
      let allowed = try #require(Self.allowed[module], "add \(module) to LayeringTests.allowed")
      let folder = sources.appendingPathComponent(module)
      for file in try FileManager.default.contentsOfDirectory(atPath: folder.path) where file.hasSuffix(".swift") {
        let text = try String(contentsOf: folder.appendingPathComponent(file), encoding: .utf8)
        for line in text.split(separator: "\n") where line.hasPrefix("import ") || line.hasPrefix("@testable import ") {
          let imported = String(line.split(separator: " ").last!)
          #expect(allowed.contains(imported) || Self.system.contains(imported), "\(module)/\(file) imports \(imported)")
          checked += 1
        }
      }
    }
    #expect(checked > 30)
  }
}
