using TorchSharp;
using LayerLens.Native;
using static TorchSharp.torch;

namespace LayerLens.Readout;

/// <summary>A fitted readout: maps features [N, D] to predictions [N, T] (float64). Holds native tensors.</summary>
public interface IFittedReadout : IDisposable
{
    Tensor Predict(Tensor x);
}

/// <summary>Feature standardisation fitted on a training fold only (scikit-learn StandardScaler: ddof 0, constant columns keep scale 1).</summary>
public sealed class Standardizer : IDisposable
{
    public Tensor Mean { get; }
    public Tensor Scale { get; }

    Standardizer(Tensor mean, Tensor scale) { Mean = mean; Scale = scale; }

    public static Standardizer Fit(Tensor x)
    {
        using var scope = NewDisposeScope();
        var mean = x.mean(new long[] { 0 });
        var sd = x.std(new long[] { 0 }, unbiased: false);
        var scale = where(sd == 0, ones_like(sd), sd);
        return new Standardizer(mean.MoveToOuterDisposeScope(), scale.MoveToOuterDisposeScope());
    }

    public Tensor Transform(Tensor x) => (x - Mean) / Scale;

    public void Dispose() { Mean.Dispose(); Scale.Dispose(); }
}

static class ReadoutTensors
{
    static ReadoutTensors() => TorchRuntime.EnsureLoaded();

    /// <summary>Features and targets as float64 2-D tensors; checks shapes and finiteness so no NaN leaks into a score.</summary>
    public static (Tensor X, Tensor Y) Prepare(Tensor x, Tensor y, string what)
    {
        if (x.dim() != 2) throw new LayerLensException($"{what}: features must be a matrix [samples, features], got shape [{string.Join(", ", x.shape)}]", ErrorKind.BadInput);
        var Y = y.dim() == 1 ? y.unsqueeze(1) : y;
        if (Y.dim() != 2 || Y.shape[0] != x.shape[0])
            throw new LayerLensException($"{what}: {x.shape[0]} feature rows but targets of shape [{string.Join(", ", y.shape)}]", ErrorKind.BadInput);
        var X = x.to_type(ScalarType.Float64);
        Y = Y.to_type(ScalarType.Float64);
        if (!X.isfinite().all().ToBoolean()) throw new LayerLensException($"{what}: the features contain NaN or infinite values", ErrorKind.BadInput);
        if (!Y.isfinite().all().ToBoolean()) throw new LayerLensException($"{what}: the targets contain NaN or infinite values", ErrorKind.BadInput);
        return (X, Y);
    }

    public static void Init() { }
}
