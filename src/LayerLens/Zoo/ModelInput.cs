using LayerLens.Models.Engine;
using LayerLens.Preprocessing;

namespace LayerLens.Zoo;

/// <summary>Fits preprocessing to a model whose input has a fixed size.</summary>
public static class ModelInput
{
    /// <summary>
    /// The preprocessing unchanged when it fixes the input size (exact resize or crop); otherwise with an exact
    /// resize to the H×W the model's first input declares (read in the preprocessing's layout).
    /// </summary>
    public static PreprocessingSpec Complete(PreprocessingSpec spec, ModelGraph graph)
    {
        if (spec.FixedSize != null) return spec.Validate();
        var s = graph.Inputs.Count > 0 ? graph.Inputs[0].Shape : Array.Empty<long>();
        if (s.Length == 4)
        {
            bool nchw = spec.Layout == TensorLayout.Nchw;
            long h = nchw ? s[2] : s[1], w = nchw ? s[3] : s[2];
            if (h > 0 && w > 0) return (spec with { ResizeExact = ((int)h, (int)w), ResizeShorter = null }).Validate();
        }
        throw new LayerLensException($"model '{graph.Name}' does not declare its input size; give the preprocessing an exact resize HxW (--resize)", ErrorKind.Usage);
    }
}
