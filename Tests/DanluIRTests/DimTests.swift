import DanluIR
import Testing

@Suite struct DimTests {
  let h = Dim.symbol("H"), n = Dim.symbol("N")

  @Test func foldsConstantsAndIdentities() {
    #expect(Dim.int(3) + 4 == 7)
    #expect(h + 0 == h)
    #expect(h * 1 == h)
    #expect((h + 2) + 3 == h + 5)
    #expect((n * 4) * 2 == n * 8)
    #expect((n * 8).floorDivided(by: 4) == n * 2)
    #expect(Dim.int(-3).floorDivided(by: 2) == -2)  // Python's floor division
  }

  @Test func printsAndParsesBack() throws {
    let convolved = ShapeInference.outputSize(h, kernel: 3, stride: 2, padding: 1, dilation: 1)
    #expect(convolved.description == "(H-1)//2+1")
    let type = TensorType(.f32, [n, .int(64), convolved, h * n])
    #expect(type.description == "f32[N,64,(H-1)//2+1,H*N]")
    #expect(try IRParser.parseType(type.description, at: .unknown) == type)
  }

  @Test func evaluatesWithBindings() {
    let convolved = ShapeInference.outputSize(h, kernel: 7, stride: 2, padding: 3, dilation: 1)
    #expect(convolved.evaluate(["H": 224]) == 112)
    #expect(convolved.evaluate([:]) == nil)
    #expect(convolved.binding(["H": 32]) == 16)
  }

  @Test func ceilModeMatchesPyTorch() {
    // nn.MaxPool2d(3, 2, padding=1, ceil_mode=True) on 8 → 5, but on 7 the last window would start in the padding: 4.
    #expect(ShapeInference.outputSize(8, kernel: 3, stride: 2, padding: 1, dilation: 1, ceilMode: true) == 5)
    #expect(ShapeInference.outputSize(7, kernel: 3, stride: 2, padding: 1, dilation: 1, ceilMode: true) == 4)
    #expect(ShapeInference.outputSize(7, kernel: 2, stride: 2, padding: 0, dilation: 1, ceilMode: true) == 4)
  }
}
