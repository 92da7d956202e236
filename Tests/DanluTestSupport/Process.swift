import Foundation

/// Runs a program and returns its exit status, standard output and standard error.
public func execute(_ program: String, _ arguments: [String]) throws -> (status: Int32, out: String, err: String) {
  let process = Process()
  process.executableURL = URL(fileURLWithPath: program)
  process.arguments = arguments
  let out = Pipe(), err = Pipe()
  process.standardOutput = out
  process.standardError = err
  try process.run()
  // Standard error is drained on its own thread: a program that fills one pipe while the other is being read would
  // otherwise wait forever (a failing nvcc build writes a lot to standard error).
  nonisolated(unsafe) var errData = Data()
  let drained = DispatchSemaphore(value: 0)
  DispatchQueue.global().async {
    errData = err.fileHandleForReading.readDataToEndOfFile()
    drained.signal()
  }
  let outData = out.fileHandleForReading.readDataToEndOfFile()
  drained.wait()
  process.waitUntilExit()
  return (process.terminationStatus, String(decoding: outData, as: UTF8.self), String(decoding: errData, as: UTF8.self))
}
