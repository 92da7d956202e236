import DanluDriver
import DanluTestSupport
import Testing

/// A golden FileCheck of a whole model's IR: types, layer paths and locations.
@Suite struct IRDumpTests {
  @Test func lenet5Dump() throws {
    let ir = try Commands.ir(Repository.path("Models/lenet5.yaml"), BuildOptions(), after: "frontend", printAfterAll: false,
                             format: .text).replacingOccurrences(of: Repository.root.path + "/", with: "")
    let failures = FileCheck.check(ir, against: """
      // CHECK: graph lenet5 {
      // CHECK-NEXT: %0 = input {name="x"} : f32[N,1,28,28]  # x @ Models/lenet5.yaml:5:3
      // CHECK-NEXT: %1 = param {name="conv1.weight"} : f32[6,1,5,5]  # conv1 @ Models/lenet5.yaml:7:12
      // CHECK-NEXT: %2 = conv2d(%0, %1) {dilation=[1,1] groups=1 padding=[2,2] stride=[1,1]} : f32[N,6,28,28]  # conv1
      // CHECK-NEXT: %3 = param {name="conv1.bias"} : f32[6]
      // CHECK-NEXT: %4 = bias_add(%2, %3) {axis=1} : f32[N,6,28,28]  # conv1
      // CHECK-NEXT: %5 = relu(%4) : f32[N,6,28,28]  # 1 @ Models/lenet5.yaml:8:5
      // CHECK-NEXT: %6 = max_pool2d(%5) {ceil_mode=false dilation=[1,1] kernel=[2,2] padding=[0,0] stride=[2,2]} : f32[N,6,14,14]
      // CHECK: : f32[N,400]  # 6
      // CHECK: {transpose_b=true} : f32[N,120]  # fc1
      // CHECK: output logits = %27
      // CHECK-NEXT: }
      """)
    #expect(failures.isEmpty, "\(failures)\n\(ir)")
  }
}
