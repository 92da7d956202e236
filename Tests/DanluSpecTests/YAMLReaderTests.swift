import DanluDiagnostics
import DanluSpec
import Testing

@Suite struct YAMLReaderTests {
  @Test func keepsLineAndColumnOfEveryNode() throws {
    let root = try YAMLReader.read("model: m\nlayers:\n  - relu\n  - fc: linear(3)\n", file: "f.yaml")
    let pairs = try #require(root.mapping)
    #expect(pairs[0].key.location == SourceLocation(file: "f.yaml", line: 1, column: 1))
    let layers = try #require(pairs[1].value.sequence)
    #expect(layers[0].location == SourceLocation(file: "f.yaml", line: 3, column: 5))
    let fc = try #require(layers[1].mapping?.first)
    #expect(fc.value.scalar == "linear(3)")
    #expect(fc.value.location == SourceLocation(file: "f.yaml", line: 4, column: 9))
  }

  @Test func malformedYAMLPointsAtTheProblem() {
    #expect {
      try YAMLReader.read("model: m\nlayers:\n  - relu\n - bad: [1, 2\n", file: "f.yaml")
    } throws: { error in
      let d = (error as! DiagnosticError).diagnostics[0]
      return d.id == "yaml-syntax" && d.location.file == "f.yaml" && d.location.line >= 3
    }
  }

  @Test func duplicateKeysAreErrors() {
    #expect {
      try YAMLReader.read("model: a\nmodel: b\n", file: "f.yaml")
    } throws: { error in
      let d = (error as! DiagnosticError).diagnostics[0]
      return d.id == "yaml-duplicate-key" && d.location.line == 2
    }
  }

  @Test func aliasesResolveToTheAnchoredNode() throws {
    let root = try YAMLReader.read("a: &x relu\nb: *x\n", file: "f.yaml")
    #expect(root.mapping?[1].value.scalar == "relu")
  }

  @Test func emptyAndMultiDocumentFilesAreErrors() {
    #expect(throws: DiagnosticError.self) { try YAMLReader.read("", file: "f.yaml") }
    #expect(throws: DiagnosticError.self) { try YAMLReader.read("a: 1\n---\nb: 2\n", file: "f.yaml") }
  }
}
