import CBLAS

/// OpenBLAS entry points. Matrix products in mugs go through `sgemm`; everything else is Swift loops.
public enum BLAS {
    /// Sets OpenBLAS's thread count (process-wide). Size it to the cores this process may use.
    public static func setThreads(_ n: Int) { openblas_set_num_threads(Int32(max(1, n))) }

    /// Row-major C(M,N) = alpha · op(A)(M,K) · op(B)(K,N) + beta · C.
    /// `transA`: A is stored (K,M) and used transposed; `transB`: B is stored (N,K) and used transposed.
    /// lda/ldb/ldc are the row strides of the matrices as stored.
    @inline(__always)
    public static func sgemm(transA: Bool = false, transB: Bool = false, M: Int, N: Int, K: Int,
                             alpha: Float = 1, A: UnsafePointer<Float>, lda: Int,
                             B: UnsafePointer<Float>, ldb: Int,
                             beta: Float = 0, C: UnsafeMutablePointer<Float>, ldc: Int) {
        cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                    Int32(M), Int32(N), Int32(K), alpha, A, Int32(lda), B, Int32(ldb), beta, C, Int32(ldc))
    }
}
