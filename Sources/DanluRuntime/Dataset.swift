import DanluDiagnostics
import Foundation
import DanluIR

/// A data set in memory: inputs `[count, …]` (images `[count, 1, H, W]` scaled to [0, 1], or normalized) and targets
/// `[count]` (class indices, stored as floats) or `[count, …]` (values, for mse, bce and the like).
public struct Dataset: Sendable {
  public enum Split: String, Sendable { case train, test }

  public var images: Tensor
  public var targets: Tensor

  public var count: Int { images.shape.first ?? 0 }
  /// The targets as class indices (meaningful when they are `[count]`).
  public var labels: [Int] { targets.data.map { Int($0) } }

  public init(images: Tensor, labels: [Int]) {
    self.init(images: images, targets: Tensor(shape: [labels.count], data: labels.map(Float.init)))
  }

  public init(images: Tensor, targets: Tensor) {
    precondition(images.shape.first == targets.shape.first, "one target per input")
    self.images = images
    self.targets = targets
  }

  /// A pair of `.npy` files (float32): inputs `[count, …]` and targets `[count]` (class indices) or `[count, …]`.
  public static func npy(inputs inputPath: String, targets targetPath: String) throws(DiagnosticError) -> Dataset {
    let inputs = try NPY.read(inputPath), targets = try NPY.read(targetPath)
    guard inputs.shape.count >= 1, targets.shape.count >= 1, inputs.shape[0] == targets.shape[0], inputs.shape[0] > 0 else {
      throw DiagnosticError(.badTensorFile(path: targetPath, problem: "\(targets.shape.first.map(String.init) ?? "no") targets for "
        + "\(inputs.shape.first.map(String.init) ?? "no") inputs in \(inputPath); both need the same first dimension"), at: .unknown)
    }
    return Dataset(images: inputs, targets: targets)
  }

  /// Plain text files, joined, as bytes: inputs `[count, context]` (byte values as floats) and targets the same
  /// windows one byte later, for a byte-level language model (a vocabulary of 256). The windows do not overlap; the
  /// train split is the text before the last `testFraction` of it, the test split that last part.
  public static func text(_ paths: [String], context: Int, _ split: Split, testFraction: Double) throws(DiagnosticError) -> Dataset {
    var bytes: [UInt8] = []
    for path in paths {
      guard let data = FileManager.default.contents(atPath: path) else {
        throw DiagnosticError(.badTensorFile(path: path, problem: "cannot be read"), at: .unknown)
      }
      bytes += data
    }
    // Rounded: a fraction given as a float (0.2 is 0.200000003) must not move the cut by a byte.
    let cut = bytes.count - Int((Double(bytes.count) * testFraction).rounded())
    let part = split == .train ? bytes[..<cut] : bytes[cut...]
    let count = (part.count - 1) / context
    guard count >= 1 else {
      throw DiagnosticError(.badTensorFile(path: paths[0], problem: "the \(split.rawValue) split has \(part.count) bytes, fewer than "
        + "one window of \(context) + 1"), at: .unknown)
    }
    let start = part.startIndex
    let inputs = (0..<count * context).map { Float(part[start + $0]) }
    let targets = (0..<count * context).map { Float(part[start + $0 + 1]) }
    return Dataset(images: Tensor(shape: [count, context], data: inputs), targets: Tensor(shape: [count, context], data: targets))
  }

  /// Fashion-MNIST from the Debian package `dataset-fashion-mnist` (IDX files, gzip-compressed).
  public static func fashionMNIST(_ split: Split, directory: String = "/usr/share/datasets/fashion-mnist")
    throws(DiagnosticError) -> Dataset
  {
    let prefix = split == .train ? "train" : "t10k"
    return try idx(images: "\(directory)/\(prefix)-images-idx3-ubyte.gz", labels: "\(directory)/\(prefix)-labels-idx1-ubyte.gz",
                   classes: 10)
  }

  /// An image file `[count, H, W]` and a label file `[count]` whose values are below `classes`.
  public static func idx(images imagePath: String, labels labelPath: String, classes: Int) throws(DiagnosticError) -> Dataset {
    let images = try IDX.read(imagePath), labels = try IDX.read(labelPath)
    func fail(_ path: String, _ problem: String) -> DiagnosticError {
      DiagnosticError(.badTensorFile(path: path, problem: problem), at: .unknown)
    }
    guard images.shape.count == 3 else { throw fail(imagePath, "images must be [count, height, width], got \(images.shape)") }
    guard labels.shape.count == 1 else { throw fail(labelPath, "labels must be [count], got \(labels.shape)") }
    guard images.shape[0] == labels.shape[0] else {
      throw fail(labelPath, "\(labels.shape[0]) labels for \(images.shape[0]) images in \(imagePath)")
    }
    let values = labels.data.map { Int(($0 * 255).rounded()) }
    if let bad = values.firstIndex(where: { $0 >= classes }) {
      throw fail(labelPath, "label \(values[bad]) at index \(bad) is not one of the \(classes) classes")
    }
    let shape = [images.shape[0], 1, images.shape[1], images.shape[2]]
    return Dataset(images: Tensor(shape: shape, data: images.data), labels: values)
  }

  /// `(x - mean) / std` on every pixel, as a spec's `normalize: {mean, std}` asks.
  public func normalized(mean: Float, std: Float) -> Dataset {
    var copy = self
    copy.images.data = images.data.map { ($0 - mean) / std }
    return copy
  }

  /// Index batches of `size`, in a seeded shuffled order (nil: in order); the last partial batch is kept unless
  /// `dropLast`. The same seed gives the same order on every machine.
  public func batchIndices(size: Int, seed: UInt64?, dropLast: Bool = false) -> [[Int]] {
    precondition(size > 0, "batch size must be positive")
    var order = Array(0..<count)
    if let seed {
      var generator = SeededGenerator(seed: seed)
      for i in stride(from: count - 1, to: 0, by: -1) {
        let j = Int(generator.next() % UInt64(i + 1))
        order.swapAt(i, j)
      }
    }
    var batches: [[Int]] = []
    for start in stride(from: 0, to: count, by: size) {
      let batch = Array(order[start..<min(start + size, count)])
      if batch.count == size || !dropLast { batches.append(batch) }
    }
    return batches
  }

  /// The inputs and targets of one batch of indices.
  public func batch(_ indices: [Int]) -> (images: Tensor, targets: Tensor) {
    (Self.rows(images, indices), Self.rows(targets, indices))
  }

  public static func rows(_ tensor: Tensor, _ indices: [Int]) -> Tensor {
    let itemSize = tensor.count / max(1, tensor.shape.first ?? 1)
    var data: [Float] = []
    data.reserveCapacity(indices.count * itemSize)
    for index in indices { data += tensor.data[(index * itemSize)..<((index + 1) * itemSize)] }
    return Tensor(shape: [indices.count] + tensor.shape.dropFirst(), data: data)
  }
}
