import DanluDiagnostics
import DanluIR
import DanluRuntime
import DanluTestSupport
import Foundation
import Testing

@Suite struct DatasetTests {
  let folder = Repository.temporaryFolder()

  /// Three 2×2 images and their labels.
  func small(labels: [UInt8]) throws -> Dataset {
    let images = folder.file("i.idx", [0, 0, 8, 3, 0, 0, 0, 3, 0, 0, 0, 2, 0, 0, 0, 2] + (0..<12).map { UInt8($0 * 10) })
    let labelFile = folder.file("l.idx", [0, 0, 8, 1, 0, 0, 0, UInt8(labels.count)] + labels)
    return try Dataset.idx(images: images, labels: labelFile, classes: 10)
  }

  @Test func readsImagesWithAChannelAxisAndIntegerLabels() throws {
    let data = try small(labels: [3, 0, 9])
    #expect(data.images.shape == [3, 1, 2, 2])
    #expect(data.labels == [3, 0, 9])
    let (images, targets) = data.batch([2, 0])
    #expect(images.shape == [2, 1, 2, 2] && targets.data == [9, 3])
    #expect(images.data[0] == Float(80) / 255)
  }

  @Test func rejectsMismatchedOrCorruptLabels() {
    #expect { try small(labels: [1, 2]) } throws: { error in
      (error as! DiagnosticError).diagnostics[0].message.contains("2 labels for 3 images")
    }
    #expect { try small(labels: [1, 200, 2]) } throws: { error in
      (error as! DiagnosticError).diagnostics[0].message.contains("label 200 at index 1 is not one of the 10 classes")
    }
  }

  /// Byte windows and next-byte targets; the last tenth of the text is the test split; problems name the file.
  @Test func textGivesWindowsAndNextBytes() throws {
    let text = Array("abcdefghijklmnopqrstuvwxyz0123".utf8)  // 30 bytes: 27 to train, 3 to test
    let path = folder.file("t.txt", text)
    let train = try Dataset.text([path], context: 4, .train, testFraction: 0.1)
    #expect(train.images.shape == [6, 4] && train.targets.shape == [6, 4])
    #expect(train.images.data[0..<8] == ArraySlice("abcdefgh".utf8.map(Float.init)))
    #expect(train.targets.data[0..<8] == ArraySlice("bcdefghi".utf8.map(Float.init)))
    let test = try Dataset.text([path], context: 2, .test, testFraction: 0.1)
    #expect(test.images.data == "12".utf8.map(Float.init) && test.targets.data == "23".utf8.map(Float.init))
    #expect { try Dataset.text([path], context: 3, .test, testFraction: 0.1) } throws: { error in
      (error as! DiagnosticError).diagnostics[0].message.contains("the test split has 3 bytes, fewer than one window of 3 + 1")
    }
    #expect { try Dataset.text([folder.appendingPathComponent("missing.txt").path], context: 3, .train, testFraction: 0.1) } throws: {
      (($0 as! DiagnosticError).diagnostics[0].message).contains("missing.txt")
    }
  }

  @Test func shufflesReproduciblyIntoBatches() throws {
    let data = Dataset(images: Tensor(zeros: [10, 1, 1, 1]), labels: Array(repeating: 0, count: 10))
    let first = data.batchIndices(size: 4, seed: 7), again = data.batchIndices(size: 4, seed: 7)
    #expect(first == again)
    #expect(first.map(\.count) == [4, 4, 2])
    #expect(first.flatMap { $0 }.sorted() == Array(0..<10))
    #expect(first.flatMap { $0 } != Array(0..<10), "seeded order is shuffled")
    #expect(data.batchIndices(size: 4, seed: 8) != first)
    #expect(data.batchIndices(size: 4, seed: nil, dropLast: true) == [[0, 1, 2, 3], [4, 5, 6, 7]])
  }

  @Test func normalizes() throws {
    let data = try small(labels: [1, 2, 3]).normalized(mean: 0.5, std: 0.25)
    #expect(abs(data.images.data[0] - (0 - 0.5) / 0.25) < 1e-6)
  }

  @Test(.enabled(if: FileManager.default.fileExists(atPath: "/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz"),
                 "needs the dataset-fashion-mnist package"))
  func loadsFashionMNIST() throws {
    let test = try Dataset.fashionMNIST(.test)
    #expect(test.images.shape == [10_000, 1, 28, 28])
    #expect(Array(test.labels.prefix(4)) == [9, 2, 1, 1])
    #expect(Set(test.labels) == Set(0..<10))
  }
}

@Suite struct NPYDatasetTests {
  @Test func readsInputsAndTargetsOfAnyShape() throws {
    let folder = Repository.temporaryFolder()
    try NPY.write(Tensor(shape: [3, 2], data: [1, 2, 3, 4, 5, 6]), to: folder.appendingPathComponent("x.npy").path)
    try NPY.write(Tensor(shape: [3, 1], data: [0.5, 1.5, 2.5]), to: folder.appendingPathComponent("y.npy").path)
    let data = try Dataset.npy(inputs: folder.appendingPathComponent("x.npy").path, targets: folder.appendingPathComponent("y.npy").path)
    #expect(data.count == 3)
    let (inputs, targets) = data.batch([2, 0])
    #expect(inputs.data == [5, 6, 1, 2] && targets.shape == [2, 1] && targets.data == [2.5, 0.5])
  }

  @Test func countsMustAgree() throws {
    let folder = Repository.temporaryFolder()
    try NPY.write(Tensor(shape: [3, 2], data: [1, 2, 3, 4, 5, 6]), to: folder.appendingPathComponent("x.npy").path)
    try NPY.write(Tensor(shape: [2], data: [0, 1]), to: folder.appendingPathComponent("y.npy").path)
    #expect {
      try Dataset.npy(inputs: folder.appendingPathComponent("x.npy").path, targets: folder.appendingPathComponent("y.npy").path)
    } throws: { "\($0)".contains("2 targets for 3 inputs") }
  }
}
