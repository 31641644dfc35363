using System.Runtime.InteropServices;
using static TorchSharp.torch;

namespace LayerLens.Native;

/// <summary>
/// Dense float64 linear algebra for the readouts — Gram matrices, matrix products and symmetric eigendecompositions —
/// through the system's OpenBLAS when one is installed, otherwise through libtorch. libtorch's x86-64 builds carry
/// Intel MKL, whose double-precision kernels take a slow path on other vendors' processors: on the project's
/// 2-core AMD EPYC machine a float64 matrix product ran at 45 GFLOPS in libtorch against 95 in OpenBLAS, and the
/// eigendecomposition of a 4,096 × 4,096 Gram matrix took 20.6 s against 7.5 s. OpenBLAS chooses its kernels for
/// the processor it runs on. Both back ends give the same numbers up to rounding.
/// <para>Environment: <c>LAYERLENS_LINALG</c> = <c>auto</c> (default: OpenBLAS when found), <c>openblas</c> (fail
/// when it is missing) or <c>torch</c>; <c>LAYERLENS_OPENBLAS</c> = the library file to load instead of the usual
/// names (libopenblas.so.0 from Debian/Ubuntu's libopenblas0 package, libopenblas.so, libopenblas.dylib,
/// libopenblas.dll).</para>
/// </summary>
public static unsafe class DenseLinalg
{
    const int RowMajor = 101, NoTrans = 111, Trans = 112, Upper = 121;

    sealed class OpenBlasApi
    {
        public required string Description;
        public required delegate* unmanaged<int, int, int, int, int, int, double, double*, int, double*, int, double, double*, int, void> Dgemm;
        public required delegate* unmanaged<int, int, int, int, int, double, double*, int, double, double*, int, void> Dsyrk;
        public required delegate* unmanaged<byte*, byte*, int*, double*, int*, double*, double*, int*, int*, int*, int*, nuint, nuint, void> Dsyevd;
        public required delegate* unmanaged<int, void> SetThreads;
    }

    static readonly Lazy<(OpenBlasApi? Api, string Why)> Loaded = new(Load, LazyThreadSafetyMode.ExecutionAndPublication);

    /// <summary>Which back end the readouts use, e.g. "OpenBLAS 0.3.21 (libopenblas.so.0)" or "libtorch (…)".</summary>
    public static string Backend => Loaded.Value.Api?.Description ?? $"libtorch ({Loaded.Value.Why})";

    /// <summary>True when OpenBLAS carries the work.</summary>
    public static bool UsesOpenBlas => Loaded.Value.Api != null;

    /// <summary>Forces libtorch for the calls made inside <paramref name="action"/> on this thread (tests compare the two back ends).</summary>
    public static T WithTorch<T>(Func<T> action)
    {
        bool old = _forceTorch;
        _forceTorch = true;
        try { return action(); }
        finally { _forceTorch = old; }
    }

    [ThreadStatic] static bool _forceTorch;

    static OpenBlasApi? Api => _forceTorch ? null : Loaded.Value.Api;

    static (OpenBlasApi?, string) Load()
    {
        var mode = (Environment.GetEnvironmentVariable("LAYERLENS_LINALG") ?? "auto").Trim().ToLowerInvariant();
        if (mode == "torch") return (null, "LAYERLENS_LINALG=torch");
        if (mode != "auto" && mode != "openblas")
            throw new LayerLensException($"LAYERLENS_LINALG must be auto, openblas or torch, got '{mode}'", ErrorKind.Usage);
        var explicitPath = Environment.GetEnvironmentVariable("LAYERLENS_OPENBLAS");
        var names = !string.IsNullOrWhiteSpace(explicitPath)
            ? new[] { explicitPath }
            : new[] { "libopenblas.so.0", "libopenblas.so", "libopenblas.dylib", "/opt/homebrew/opt/openblas/lib/libopenblas.dylib", "libopenblas.dll" };
        string why = "no OpenBLAS library found; on Debian/Ubuntu: apt-get install libopenblas0";
        foreach (var name in names)
        {
            if (!NativeLibrary.TryLoad(name, out var handle)) continue;
            if (!NativeLibrary.TryGetExport(handle, "cblas_dgemm", out var gemm) || !NativeLibrary.TryGetExport(handle, "cblas_dsyrk", out var syrk)
                || !NativeLibrary.TryGetExport(handle, "dsyevd_", out var syevd) || !NativeLibrary.TryGetExport(handle, "openblas_set_num_threads", out var threads))
            {
                why = $"{name} lacks cblas_dgemm, cblas_dsyrk, dsyevd_ or openblas_set_num_threads";
                continue;
            }
            string config = "";
            if (NativeLibrary.TryGetExport(handle, "openblas_get_config", out var cfg))
                config = Marshal.PtrToStringAnsi(((delegate* unmanaged<nint>)cfg)()) ?? "";
            // A build with 64-bit integers takes int64 dimensions; these bindings pass int32.
            if (config.Contains("USE64BITINT", StringComparison.Ordinal)) { why = $"{name} is built with 64-bit integers"; continue; }
            var api = new OpenBlasApi
            {
                Description = $"OpenBLAS ({name}{(config.Length > 0 ? ": " + config.Trim() : "")})",
                Dgemm = (delegate* unmanaged<int, int, int, int, int, int, double, double*, int, double*, int, double, double*, int, void>)gemm,
                Dsyrk = (delegate* unmanaged<int, int, int, int, int, double, double*, int, double, double*, int, void>)syrk,
                Dsyevd = (delegate* unmanaged<byte*, byte*, int*, double*, int*, double*, double*, int*, int*, int*, int*, nuint, nuint, void>)syevd,
                SetThreads = (delegate* unmanaged<int, void>)threads,
            };
            return (api, "");
        }
        if (mode == "openblas") throw new LayerLensException($"LAYERLENS_LINALG=openblas but {why}", ErrorKind.Usage);
        return (null, why);
    }

    // OpenBLAS takes int dimensions and the tensor's memory is reached through a Span (at most 2 GB).
    static bool Fits(params Tensor[] ts) => ts.All(t => t.numel() * 8 <= int.MaxValue && t.shape.All(s => s <= int.MaxValue));

    static void Check(Tensor t, string what)
    {
        if (t.dtype != ScalarType.Float64 || t.dim() != 2 || t.device_type != TorchSharp.DeviceType.CPU)
            throw new ArgumentException($"{what} must be a 2-D float64 CPU tensor, got {t.dtype} [{string.Join(",", t.shape)}]");
    }

    /// <summary>
    /// xᵀx ([d, d]) or, with <paramref name="ofRows"/>, xxᵀ ([n, n]), symmetric, for a float64 matrix x [n, d].
    /// </summary>
    public static Tensor Gram(Tensor x, bool ofRows = false)
    {
        Check(x, "Gram input");
        var api = Api;
        if (api == null || !Fits(x)) return ofRows ? x.mm(x.T) : x.T.mm(x);
        using var scope = NewDisposeScope();
        var a = x.contiguous();
        int n = (int)a.shape[0], d = (int)a.shape[1], m = ofRows ? n : d;
        var c = zeros(m, m, dtype: ScalarType.Float64);
        api.SetThreads(Math.Max(1, get_num_threads()));
        fixed (byte* pa = a.bytes, pc = c.bytes)
            api.Dsyrk(RowMajor, Upper, ofRows ? NoTrans : Trans, m, ofRows ? d : n, 1.0, (double*)pa, d, 0.0, (double*)pc, m);
        // syrk fills the upper triangle; mirror it.
        var full = c + c.triu(1).T;
        return full.MoveToOuterDisposeScope();
    }

    /// <summary>op(a)·op(b) for float64 matrices, op = transpose when asked.</summary>
    public static Tensor MatMul(Tensor a, Tensor b, bool transposeA = false, bool transposeB = false)
    {
        Check(a, "left factor");
        Check(b, "right factor");
        var api = Api;
        if (api == null || !Fits(a, b))
            return (transposeA ? a.T : a).mm(transposeB ? b.T : b);
        using var scope = NewDisposeScope();
        var (ca, ta) = Operand(a, transposeA);
        var (cb, tb) = Operand(b, transposeB);
        long m = transposeA ? a.shape[1] : a.shape[0], k = transposeA ? a.shape[0] : a.shape[1];
        long n = transposeB ? b.shape[0] : b.shape[1];
        if ((transposeB ? b.shape[1] : b.shape[0]) != k)
            throw new ArgumentException($"matrix product of [{m},{k}] and [{(transposeB ? b.shape[1] : b.shape[0])},{n}]");
        var c = empty(m, n, dtype: ScalarType.Float64);
        if (m == 0 || n == 0) return c.MoveToOuterDisposeScope();
        if (k == 0) return c.zero_().MoveToOuterDisposeScope();
        api.SetThreads(Math.Max(1, get_num_threads()));
        fixed (byte* pa = ca.bytes, pb = cb.bytes, pc = c.bytes)
            api.Dgemm(RowMajor, ta ? Trans : NoTrans, tb ? Trans : NoTrans, (int)m, (int)n, (int)k, 1.0,
                (double*)pa, (int)ca.shape[1], (double*)pb, (int)cb.shape[1], 0.0, (double*)pc, (int)n);
        return c.MoveToOuterDisposeScope();
    }

    // A contiguous matrix and whether BLAS must transpose it: a transposed view of a contiguous matrix is passed
    // as that matrix with the flag flipped, so no copy is made.
    static (Tensor Data, bool Transpose) Operand(Tensor t, bool transpose)
    {
        if (t.is_contiguous()) return (t, transpose);
        var tt = t.T;
        if (tt.is_contiguous()) return (tt, !transpose);
        return (t.contiguous(), transpose);
    }

    /// <summary>
    /// Eigenvalues (ascending, [n]) and eigenvectors (columns, [n, n]) of a symmetric float64 matrix, as
    /// <c>torch.linalg.eigh</c> (LAPACK dsyevd in both back ends).
    /// </summary>
    public static (Tensor Values, Tensor Vectors) Eigh(Tensor symmetric)
    {
        Check(symmetric, "eigendecomposition input");
        var api = Api;
        if (api == null || !Fits(symmetric)) return linalg.eigh(symmetric);
        int n = (int)symmetric.shape[0];
        if (symmetric.shape[1] != n) throw new ArgumentException($"eigendecomposition of a non-square [{n},{symmetric.shape[1]}] matrix");
        using var scope = NewDisposeScope();
        // dsyevd overwrites its input with the eigenvectors, stored column by column: read row-major, that is Vᵀ.
        var a = symmetric.contiguous().clone();
        var w = empty(n, dtype: ScalarType.Float64);
        byte jobz = (byte)'V', uplo = (byte)'U';
        int lda = Math.Max(1, n), info = 0, lwork = -1, liwork = -1, iworkQuery = 0;
        double workQuery = 0;
        api.SetThreads(Math.Max(1, get_num_threads()));
        fixed (byte* pa = a.bytes, pw = w.bytes)
        {
            api.Dsyevd(&jobz, &uplo, &n, (double*)pa, &lda, (double*)pw, &workQuery, &lwork, &iworkQuery, &liwork, &info, 1, 1);
            if (info != 0) throw new LayerLensException($"dsyevd workspace query failed (info {info})", ErrorKind.Internal);
            lwork = (int)Math.Ceiling(workQuery);
            liwork = iworkQuery;
            // The divide-and-conquer workspace is 1 + 6n + 2n² doubles (270 MB at n = 4,096): native, not zeroed.
            var work = (double*)NativeMemory.Alloc((nuint)Math.Max(1, lwork), sizeof(double));
            var iwork = (int*)NativeMemory.Alloc((nuint)Math.Max(1, liwork), sizeof(int));
            try { api.Dsyevd(&jobz, &uplo, &n, (double*)pa, &lda, (double*)pw, work, &lwork, iwork, &liwork, &info, 1, 1); }
            finally { NativeMemory.Free(work); NativeMemory.Free(iwork); }
        }
        if (info != 0) throw new LayerLensException($"eigendecomposition did not converge (dsyevd info {info})", ErrorKind.BadInput);
        var vectors = a.T.contiguous();
        return (w.MoveToOuterDisposeScope(), vectors.MoveToOuterDisposeScope());
    }
}
