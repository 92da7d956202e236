import DanluDiagnostics
import DanluIR

/// A labelled image data set in memory: images `[count, 1, H, W]` scaled to [0, 1] (or normalized), integer labels.
public struct Dataset: Sendable {
  public enum Split: String, Sendable { case train, test }

  public var images: Tensor
  public var labels: [Int]

  public var count: Int { labels.count }

  public init(images: Tensor, labels: [Int]) {
    precondition(images.shape.first == labels.count, "one label per image")
    self.images = images
    self.labels = labels
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

  /// The images and labels of one batch of indices.
  public func batch(_ indices: [Int]) -> (images: Tensor, labels: [Int]) {
    let itemSize = images.count / max(1, count)
    var data: [Float] = []
    data.reserveCapacity(indices.count * itemSize)
    for index in indices { data += images.data[(index * itemSize)..<((index + 1) * itemSize)] }
    return (Tensor(shape: [indices.count] + images.shape.dropFirst(), data: data), indices.map { labels[$0] })
  }
}
