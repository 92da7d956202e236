import DanluIR

/// Kernels that split their work over two threads (convolutions, Winograd, max pooling, attention) do it in an OpenMP
/// region: each thread runs the same body with its own `part` of `parts`, every OpenBLAS call inside single-threaded.
extension KernelEmitter {
  /// Declarations `inParts` regions use; in every source with such a kernel (`usesParts`).
  static let partsHelpers = """
    #ifdef _OPENMP
    #include <omp.h>
    #endif
    #include <stdatomic.h>

    /* Threads for `wanted` parts of a kernel, at most those given (set_threads, else the cores online). */
    static int danlu_threads_for(int wanted) {
    #ifndef _OPENMP
      return 1;  /* built without -fopenmp: every part in this thread */
    #endif
      const long threads = danlu_threads_available(danlu_threads);
      return wanted < threads ? wanted : (int)threads;
    }

    /* The next of `count` items for `part` (0 or 1) of a region whose parts share `claims` (two counts in one word,
       part 1's in the high half), or -1 when none is left: each part takes its own half in order, then the other's
       remaining items from the far end, so a part slowed by the machine hands its tail to the other. */
    static long danlu_claim_item(atomic_llong *claims, long part, long count) {
      const long long before = atomic_fetch_add(claims, part ? 1LL << 32 : 1);
      const long lo = (long)(before & 0xffffffffLL), hi = (long)(before >> 32), mine = part ? hi : lo;
      const long half = count / 2, first = part ? half : 0, own = part ? count - half : half;
      if (lo + hi >= count) return -1;
      return mine < own ? first + mine : (part ? half - 1 : count - 1) - (mine - own);
    }


    """

  /// The parts a kernel runs in (`inParts`): a Winograd convolution and the vector attention kernel always have a
  /// region, im2col + GEMM, max pooling and the loops of `Graph.loopParts` one when they have two parts; nil for no
  /// region (any other node, or one part).
  static func usesParts(_ graph: Graph, _ index: Int) -> Int? {
    let loop = graph.loopParts(index)
    if loop > 1 { return loop }
    if let packed = graph.packedMatmul(index) { return packed.parts > 1 ? packed.parts : nil }
    if let packed = graph.packedConvolution(index) { return packed.parts > 1 ? packed.parts : nil }
    if case .maxPool2d(let p) = graph.nodes[index].op, let x = graph.nodes[graph.nodes[index].operands[0]].type.staticShape,
       let y = graph.nodes[index].type.staticShape {
      let parts = maxPoolParts(x, y, p)
      return parts > 1 ? parts : nil
    }
    if case .attention(let a) = graph.nodes[index].op, let q = graph.nodes[graph.nodes[index].operands[0]].type.staticShape,
       let k = graph.nodes[graph.nodes[index].operands[1]].type.staticShape, a.vectorizedForward(width: q[2]) {
      return a.forwardParts(q: q, k: k)
    }
    guard let conv = graph.forwardConvolution(index) else { return nil }
    if let blocks = graph.winogradBlocks(index) { return blocks.parts }
    if conv.attributes.algorithm == .winograd { return WinogradTiling(weight: conv.weight, output: conv.output).parts }
    if let direct = graph.directConvolution(index) { return direct.parts > 1 ? direct.parts : nil }
    let parts = conv.attributes.tiling(weight: conv.weight, output: conv.output).parts
    return parts > 1 ? parts : nil
  }

  /// A region whose `parts` threads (at most those given; one without OpenMP) each run `body` with their own `part`,
  /// calling OpenBLAS single-threaded; with `claims` > 0, the parts share that many counters for `danlu_claim_item`
  /// (`claims[i]`).
  static func inParts(_ parts: Int, _ body: String, claims: Int = 0) -> String {
    (claims > 0 ? "  atomic_llong claims[\(claims)] = {0};\n" : "") + """
      const int parts = danlu_threads_for(\(parts));
      const int blas_threads = openblas_get_num_threads();
      if (parts > 1) openblas_set_num_threads(1);
      #pragma omp parallel num_threads(parts)
      {
    #ifdef _OPENMP
      const long part = omp_get_thread_num();
      /* The team OpenMP gave, which every split below goes by: fewer threads than asked inside another parallel
         region or under OMP_THREAD_LIMIT (ResNet-18 then came out as noise where the parts assumed two). */
      const int parts = omp_get_num_threads();
    #else
      const long part = 0;
    #endif

    """ + body + """
      }
      if (parts > 1) openblas_set_num_threads(blas_threads);

    """
  }

  /// A loop over `rows` rows of `inner` elements each, in a region of `parts` threads (`partOf`) or, with one part,
  /// on this thread: `body` writes the loop from the bounds it is given, this part's (`r0`, `r1`) and (`i0`, `i1`)
  /// or all of them (`0`, rows) and (`0`, inner).
  static func rowLoop(rows: Int, inner: Int = 1, parts: Int,
                      _ body: (_ rows: (from: String, to: String), _ inner: (from: String, to: String)) -> String) -> String {
    guard parts > 1 else { return body(("0", "\(rows)"), ("0", "\(inner)")) }
    return inParts(parts, partOf(rows: rows, inner: inner) + body(("r0", "r1"), ("i0", "i1")))
  }

  /// Inside an `inParts` region: this part's rows `r0..<r1`, and elements `i0..<i1` of each, of a loop over `rows`
  /// rows of `inner` elements: whole rows when there are enough to share evenly, else a range of every row.
  static func partOf(rows: Int, inner: Int) -> String {
    (rows >= 16 || inner == 1
      ? "  const long r0 = part * \(rows) / parts, r1 = (part + 1) * \(rows) / parts, i0 = 0, i1 = \(inner);\n"
      : "  const long r0 = 0, r1 = \(rows), i0 = part * \(inner) / parts, i1 = (part + 1) * \(inner) / parts;\n")
      + "  (void)i0; (void)i1;\n"
  }
}
