// swift-tools-version:6.0
import PackageDescription

let package = Package(
  name: "Danlu",
  platforms: [.macOS(.v13)],
  products: [
    .executable(name: "danlu", targets: ["danlu"]),
    .library(name: "DanluDriver", targets: ["DanluDriver"]),
  ],
  dependencies: [
    .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
  ],
  targets: [
    // MARK: System libraries
    .systemLibrary(
      name: "CYaml",
      pkgConfig: "yaml-0.1",
      providers: [.apt(["libyaml-dev"])]
    ),
    .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),

    // MARK: Compiler pipeline (each module imports only those above it)
    .target(name: "DanluDiagnostics"),
    .target(name: "DanluSpec", dependencies: ["DanluDiagnostics", "CYaml"]),
    .target(name: "DanluIR", dependencies: ["DanluDiagnostics"]),
    .target(name: "DanluFrontend", dependencies: ["DanluDiagnostics", "DanluSpec", "DanluIR"]),
    .target(name: "DanluInterpreter", dependencies: ["DanluIR"]),
    .target(name: "DanluPasses", dependencies: ["DanluIR", "DanluInterpreter"]),
    .target(name: "DanluCodegen", dependencies: ["DanluDiagnostics", "DanluIR"]),

    // MARK: Runtime
    // The C runtime is the ABI of generated code; its sources are also compiled into every standalone binary.
    // Optimized even in debug builds: the optimizer update and tensor I/O run from here during in-process training;
    // without errno from sqrtf the update loop vectorizes (4× faster).
    .target(name: "CDanluRuntime", cSettings: [.unsafeFlags(["-O2", "-fno-math-errno"])]),
    .target(name: "DanluRuntime", dependencies: ["DanluIR", "CDanluRuntime", "CZlib"]),

    // MARK: Driver and command line
    .target(
      name: "DanluDriver",
      dependencies: ["DanluDiagnostics", "DanluSpec", "DanluIR", "DanluFrontend", "DanluInterpreter",
                     "DanluPasses", "DanluCodegen", "DanluRuntime", "CDanluRuntime"]
    ),
    .executableTarget(
      name: "danlu",
      dependencies: ["DanluDriver", .product(name: "ArgumentParser", package: "swift-argument-parser")]
    ),

    // MARK: Tests
    .target(name: "DanluTestSupport", dependencies: ["DanluIR", "DanluDriver", "DanluCodegen", "DanluRuntime", "DanluInterpreter", "DanluPasses"], path: "Tests/DanluTestSupport"),
    .testTarget(name: "DanluDiagnosticsTests", dependencies: ["DanluDiagnostics"]),
    .testTarget(name: "DanluSpecTests", dependencies: ["DanluSpec"]),
    .testTarget(name: "DanluIRTests", dependencies: ["DanluIR", "DanluTestSupport"]),
    .testTarget(name: "DanluFrontendTests", dependencies: ["DanluFrontend", "DanluDriver", "DanluTestSupport"]),
    .testTarget(name: "DanluInterpreterTests", dependencies: ["DanluInterpreter", "DanluDriver", "DanluTestSupport"]),
    .testTarget(name: "DanluPassesTests", dependencies: ["DanluPasses", "DanluInterpreter", "DanluDriver", "DanluRuntime", "DanluCodegen",
                                                        "CDanluRuntime", "DanluTestSupport"],
                exclude: ["Inputs"]),
    .testTarget(name: "DanluCodegenTests", dependencies: ["DanluCodegen", "DanluDriver", "DanluPasses", "DanluTestSupport"]),
    .testTarget(name: "DanluRuntimeTests", dependencies: ["DanluRuntime", "CDanluRuntime", "DanluDriver", "DanluTestSupport"]),
    .testTarget(name: "DanluDriverTests", dependencies: ["DanluDriver", "DanluTestSupport"]),
  ]
)
