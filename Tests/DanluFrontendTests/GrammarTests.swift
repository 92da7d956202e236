import DanluFrontend
import DanluTestSupport
import Foundation
import Testing

@Suite struct GrammarTests {
  @Test func theReferenceDocumentsEveryLayer() throws {
    let reference = try String(contentsOfFile: Repository.path("Grammar/layer-syntax.md"), encoding: .utf8)
    for name in Frontend.layerNames { #expect(reference.contains("`\(name)`"), "Grammar/layer-syntax.md lacks \(name)") }
  }

  static var validatorAvailable: Bool {
    let probe = Process()
    probe.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    probe.arguments = ["python3", "-c", "import yaml, jsonschema"]
    probe.standardError = FileHandle.nullDevice
    guard (try? probe.run()) != nil else { return false }
    probe.waitUntilExit()
    return probe.terminationStatus == 0
  }

  /// Every model validates against the JSON Schema with a standard YAML parser (PyYAML) and validator (jsonschema).
  @Test(.enabled(if: validatorAvailable, "needs python3 with PyYAML and jsonschema (apt-get install python3-yaml python3-jsonschema)"))
  func everyModelValidatesAgainstTheSchema() throws {
    let bad = Repository.temporaryFolder().appendingPathComponent("bad.yaml")
    try "model: m\ninputs: {x: 'f32[1]'}\nlayerz: [relu]\n".write(to: bad, atomically: true, encoding: .utf8)
    let models = Repository.models.map { Repository.path("Models/\($0).yaml") }
    let goldens = Repository.goldenCases.map { Repository.path("Tests/Fixtures/goldens/\($0)/model.yaml") }
    for (files, expected) in [(models + goldens, Int32(0)), ([bad.path], Int32(1))] {
      let process = Process()
      process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
      process.arguments = ["python3", Repository.path("Grammar/validate.py")] + files
      let pipe = Pipe()
      process.standardOutput = pipe
      try process.run()
      let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
      process.waitUntilExit()
      #expect(process.terminationStatus == expected, "\(output)")
    }
  }
}
