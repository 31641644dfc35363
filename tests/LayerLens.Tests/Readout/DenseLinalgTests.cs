using LayerLens.Native;
using static TorchSharp.torch;

namespace LayerLens.Tests.Readout;

/// <summary>
/// The readouts' dense algebra: OpenBLAS (installed by scripts/install-test-deps.sh) against libtorch, which computes
/// the same products and eigendecompositions with its own BLAS/LAPACK.
/// </summary>
public class DenseLinalgTests
{
    static DenseLinalgTests() => LayerLens.Native.TorchRuntime.EnsureLoaded();

    static Tensor Random(long rows, long cols, int seed)
    {
        var g = new TorchSharp.torch.Generator((ulong)seed);
        return randn(rows, cols, dtype: ScalarType.Float64, generator: g) + 0.5;
    }

    static void Close(Tensor expected, Tensor actual, double tol, string what)
    {
        Assert.Equal(expected.shape, actual.shape);
        double err = (expected - actual).abs().max().item<double>(), scale = expected.abs().max().item<double>();
        Assert.True(err <= tol * scale, $"{what}: largest difference {err:E2} of {scale:E2}");
    }

    [Fact]
    public void OpenBlas_is_the_backend_where_the_test_dependencies_install_it()
    {
        Assert.True(DenseLinalg.UsesOpenBlas, $"expected OpenBLAS (scripts/install-test-deps.sh installs libopenblas0-pthread); backend: {DenseLinalg.Backend}");
        Assert.StartsWith("OpenBLAS", DenseLinalg.Backend);
    }

    [Theory]
    [InlineData(37, 11)]
    [InlineData(9, 40)]
    public void Gram_matrices_match_libtorch_and_are_symmetric(int n, int d)
    {
        using var scope = NewDisposeScope();
        var x = Random(n, d, 1);
        foreach (var ofRows in new[] { false, true })
        {
            var g = DenseLinalg.Gram(x, ofRows);
            Close(ofRows ? x.mm(x.T) : x.T.mm(x), g, 1e-13, $"Gram ofRows={ofRows}");
            Assert.True(g.equal(g.T).all().item<bool>(), "Gram is exactly symmetric");
        }
    }

    [Fact]
    public void Products_match_libtorch_for_every_transpose_and_for_views()
    {
        using var scope = NewDisposeScope();
        var a = Random(13, 7, 2); var b = Random(7, 5, 3);
        var at = a.T.contiguous(); var bt = b.T.contiguous();
        var expected = a.mm(b);
        Close(expected, DenseLinalg.MatMul(a, b), 1e-13, "A·B");
        Close(expected, DenseLinalg.MatMul(at, b, transposeA: true), 1e-13, "(Aᵀ)ᵀ·B");
        Close(expected, DenseLinalg.MatMul(a, bt, transposeB: true), 1e-13, "A·(Bᵀ)ᵀ");
        Close(expected, DenseLinalg.MatMul(at, bt, true, true), 1e-13, "(Aᵀ)ᵀ·(Bᵀ)ᵀ");
        Close(expected, DenseLinalg.MatMul(at.T, b), 1e-13, "transposed view");
        var wide = Random(13, 20, 4);
        var strided = wide[.., TensorIndex.Slice(0, 14, 2)];   // neither it nor its transpose is contiguous
        Close(strided.mm(b), DenseLinalg.MatMul(strided, b), 1e-13, "strided view");
        var offset = wide[3..];                                 // contiguous, but starting 3 rows into its storage
        Assert.True(offset.is_contiguous());
        Close(offset.mm(wide.T), DenseLinalg.MatMul(offset, wide, transposeB: true), 1e-13, "view with an offset");
        Close(offset.T.mm(offset), DenseLinalg.Gram(offset), 1e-13, "Gram of a view with an offset");
        Assert.Equal(new long[] { 0, 5 }, DenseLinalg.MatMul(zeros(0, 7, dtype: ScalarType.Float64), b).shape);
        Assert.Throws<ArgumentException>(() => DenseLinalg.MatMul(a, a));
    }

    [Fact]
    public void Eigendecomposition_matches_libtorch_and_reconstructs_the_matrix()
    {
        using var scope = NewDisposeScope();
        var x = Random(60, 25, 5);
        var g = x.T.mm(x);
        var (w, v) = DenseLinalg.Eigh(g);
        var (tw, _) = linalg.eigh(g);
        Close(tw, w, 1e-12, "eigenvalues");
        Assert.True((w[1..] >= w[..^1]).all().item<bool>(), "ascending");
        Close(g, v.mm(diag(w)).mm(v.T), 1e-12, "V diag(w) Vᵀ");
        Close(eye(25, dtype: ScalarType.Float64), v.T.mm(v), 1e-12, "VᵀV");
    }

    [Theory]
    [InlineData(120, 30, 3)]
    [InlineData(25, 80, 2)]
    public void Ridge_chooses_the_same_alphas_and_coefficients_with_either_backend(int n, int d, int t)
    {
        using var scope = NewDisposeScope();
        var x = Random(n, d, 6);
        var y = x[.., ..3].mm(Random(3, t, 7)) + Random(n, t, 8) * 2;
        using var fast = LayerLens.Readout.RidgeCv.Fit(x, y);
        using var torchOnly = DenseLinalg.WithTorch(() => LayerLens.Readout.RidgeCv.Fit(x, y));
        Assert.Equal(torchOnly.Alphas, fast.Alphas);
        Close(torchOnly.Coef, fast.Coef, 1e-9, "coefficients");
        Close(torchOnly.Intercept, fast.Intercept, 1e-9, "intercepts");
        for (int j = 0; j < t; j++) Assert.Equal(torchOnly.LooMse[j], fast.LooMse[j], 1e-9 * torchOnly.LooMse[j]);
    }
}
