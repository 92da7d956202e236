import DanluDiagnostics
import DanluSpec
import Testing

@Suite struct SpecLoaderTests {
  @Test func loadsLayersBlocksAndOutputs() throws {
    let spec = try SpecLoader.load("""
      model: m
      inputs:
        x: f32[N, 4]
      dims: {N: 2}
      blocks:
        B(width, act=1):
          - linear(width)
      layers:
        - fc: linear(3)
        - group:
            - relu
            - B(5)
      outputs:
        y: .
      """, file: "m.yaml")
    #expect(spec.name == "m")
    #expect(spec.inputs.map(\.name) == ["x"])
    #expect(spec.dimDefaults.map(\.value) == [2])
    #expect(spec.blocks.first?.parameters.map(\.name) == ["width", "act"])
    #expect(spec.layers.count == 2)
    guard case .sequential(let inner) = spec.layers[1].body else { Issue.record("not nested"); return }
    #expect(inner.count == 2)
    #expect(spec.outputs.map(\.name) == ["y"])
  }

  @Test func unknownTopLevelKeySuggestsTheRightOne() {
    #expect {
      try SpecLoader.load("model: m\ninput:\n  x: f32[1]\nlayers:\n  - relu\n", file: "m.yaml")
    } throws: { error in
      let d = (error as! DiagnosticError).diagnostics[0]
      return d.id == "unknown-key" && d.message.contains("did you mean 'inputs'") && d.location.line == 2
    }
  }

  @Test func collectsSeveralErrorsAtOnce() {
    #expect {
      try SpecLoader.load("model: m\ninputs:\n  x: f32[1\nlayers: relu\n", file: "m.yaml")
    } throws: { error in
      (error as! DiagnosticError).diagnostics.count == 2
    }
  }

  @Test func missingSectionsAreNamed() {
    #expect {
      try SpecLoader.load("model: m\nlayers:\n  - relu\n", file: "m.yaml")
    } throws: { error in
      (error as! DiagnosticError).diagnostics[0].message.contains("'inputs'")
    }
  }
}
