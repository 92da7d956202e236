import ArgumentParser
import DanluDriver

struct Sample: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Generate text from a byte-level Transformer language model, one byte at a time with a key/value cache.")

  @OptionGroup var options: ModelOptions

  @Option(help: "A checkpoint (.safetensors) from danlu train; default: seeded initial weights.")
  var weights: String?

  @Option(help: "The text to continue.")
  var prompt = ""

  @Option(help: "Bytes to generate.")
  var length = 200

  @Option(help: "Softmax temperature; 0 always takes the most likely byte.")
  var temperature: Float = 0.8

  @Option(name: .customLong("top-k"), help: "Draw among the k most likely bytes only.")
  var topK: Int?

  @Option(help: "The seed for drawing.")
  var seed: UInt64 = 0

  func run() throws {
    try runReporting {
      let sampling = SampleOptions(prompt: prompt, length: length, temperature: temperature, topK: topK, seed: seed)
      print(try Commands.sample(options.model, try options.buildOptions(), weights: weights, sampling), terminator: "")
    }
  }
}
