/// "Did you mean" suggestions: the closest candidate within a third of the word's length.
public func closestMatch(to word: String, in candidates: some Sequence<String>) -> String? {
  let limit = max(1, word.count / 3 + 1)
  var best: (String, Int)?
  for candidate in candidates {
    let distance = editDistance(word.lowercased(), candidate.lowercased())
    if distance <= limit, distance < (best?.1 ?? .max) { best = (candidate, distance) }
  }
  return best?.0
}

/// Levenshtein distance over characters.
public func editDistance(_ a: String, _ b: String) -> Int {
  let a = Array(a), b = Array(b)
  if a.isEmpty { return b.count }
  var previous = Array(0...b.count)
  for i in 1...a.count {
    var current = [i] + Array(repeating: 0, count: b.count)
    for j in stride(from: 1, through: b.count, by: 1) {
      let cost = a[i - 1] == b[j - 1] ? 0 : 1
      current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
    }
    previous = current
  }
  return previous[b.count]
}
