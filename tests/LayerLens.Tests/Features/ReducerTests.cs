using LayerLens.Features;
using LayerLens.IO;
using static TorchSharp.torch;

namespace LayerLens.Tests.Features;

/// <summary>Reducers against PyTorch and scikit-learn (scripts/fixtures/make_feature_fixtures.py).</summary>
public class ReducerTests
{
    static Tensor Fixture(string name) => Npy.Read(Path.Combine(AppContext.BaseDirectory, "Fixtures", "Features", name + ".npy"));

    static void AssertClose(Tensor expected, Tensor actual, double tol)
    {
        Assert.Equal(expected.shape, actual.shape);
        double d = expected.to(ScalarType.Float64).sub(actual.to(ScalarType.Float64)).abs().max().item<double>();
        Assert.True(d <= tol, $"max |diff| {d:G4}");
    }

    [Theory]
    [InlineData("gap", "gap")]
    [InlineData("gmp", "gmp")]
    [InlineData("stats", "stats")]
    [InlineData("grid:2", "grid2")]
    public void Pooling_reducers_match_torch(string spec, string fixture)
    {
        using var act = Fixture("act");
        using var expected = Fixture(fixture);
        using var ours = FeatureReducer.Parse(spec).Reduce("layer", act);
        AssertClose(expected, ours, 1e-5);
    }

    [Fact]
    public void None_flattens_and_token_reducers_take_cls_or_mean()
    {
        using var tokens = arange(2 * 3 * 4, ScalarType.Float32).reshape(2, 3, 4);
        using var flat = FeatureReducer.Parse("none").Reduce("t", tokens);
        Assert.Equal(new long[] { 2, 12 }, flat.shape);
        using var cls = FeatureReducer.Parse("cls").Reduce("t", tokens);
        Assert.Equal(new[] { 0f, 1, 2, 3, 12, 13, 14, 15 }, cls.data<float>().ToArray());
        using var mean = FeatureReducer.Parse("mean").Reduce("t", tokens);
        Assert.Equal(new[] { 4f, 5, 6, 7, 16, 17, 18, 19 }, mean.data<float>().ToArray());
        using var conv = zeros(1, 2, 3, 3);
        var e = Assert.Throws<LayerLensException>(() => FeatureReducer.Parse("cls").Reduce("conv5", conv));
        Assert.Contains("[1,2,3,3]", e.Message);
    }

    [Fact]
    public void Pca_matches_scikit_learn_up_to_float32_rounding()
    {
        using var reference = Fixture("pca_ref");
        using var test = Fixture("pca_test");
        using var expected = Fixture("pca4");
        var pca = (PcaReducer)FeatureReducer.Parse("pca:4");
        pca.Fit("conv", reference);
        using var ours = pca.Reduce("conv", test);
        AssertClose(expected, ours, 1e-4);
    }

    [Fact]
    public void Pca_keeps_layers_with_at_most_D_features_as_they_are()
    {
        var pca = (PcaReducer)FeatureReducer.Parse("pca:16");
        using var small = randn(5, 4, 2, 2);
        pca.Fit("fc", small);
        Assert.False(pca.IsFitted("fc"));
        using var reduced = pca.Reduce("fc", small);
        Assert.Equal(small.flatten(1).data<float>().ToArray(), reduced.data<float>().ToArray());
    }

    [Fact]
    public void Random_projection_preserves_squared_norms_on_average_and_is_seeded()
    {
        manual_seed(3);
        using var x = randn(64, 64, 14, 14);
        var rp = FeatureReducer.Parse("rp:512", seed: 7);
        using var y = rp.Reduce("block3", x);
        Assert.Equal(new long[] { 64, 512 }, y.shape);
        using var ratio = y.pow(2).sum(1).div(x.flatten(1).pow(2).sum(1));
        double mean = ratio.mean().item<float>();
        double max = ratio.sub(1).abs().max().item<float>();
        // Johnson–Lindenstrauss: E‖Sx‖² = ‖x‖², and with D = 512 single ratios stay within ~±20%.
        Assert.InRange(mean, 0.95, 1.05);
        Assert.True(max < 0.3, $"worst ratio deviates by {max}");

        using var again = FeatureReducer.Parse("rp:512", seed: 7).Reduce("block3", x);
        Assert.Equal(y.data<float>().ToArray(), again.data<float>().ToArray());
        using var other = FeatureReducer.Parse("rp:512", seed: 8).Reduce("block3", x);
        Assert.NotEqual(y.data<float>().ToArray(), other.data<float>().ToArray());
        // Batch composition does not change a row: the projection is per image.
        using var firstOnly = FeatureReducer.Parse("rp:512", seed: 7).Reduce("block3", x.narrow(0, 0, 1));
        Assert.Equal(y[0].data<float>().ToArray(), firstOnly[0].data<float>().ToArray());
    }

    [Theory]
    [InlineData("grid", "positive")]
    [InlineData("rp:x", "positive")]
    [InlineData("maxpool", "unknown reducer")]
    public void Bad_reducer_specs_are_usage_errors(string spec, string message)
    {
        var e = Assert.Throws<LayerLensException>(() => FeatureReducer.Parse(spec));
        Assert.Contains(message, e.Message);
        Assert.Equal(ErrorKind.Usage, e.Kind);
    }
}
