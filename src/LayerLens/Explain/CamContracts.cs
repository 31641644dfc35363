using TorchSharp;

namespace LayerLens.Explain;

/// <summary>The class-activation-map methods LayerLens computes (names as pytorch-grad-cam uses them on the CLI).</summary>
public enum CamMethod { Cam, GradCam, GradCamPlusPlus, XGradCam, HiResCam, LayerCam, ScoreCam, AblationCam, EigenCam, EigenGradCam }

/// <summary>Whether a target class is scored by its raw output (logit) or by its softmax probability.</summary>
public enum CamScore { Raw, Softmax }

/// <summary>Which class a map explains: the k-th predicted class (rank 0 = top-1), or a fixed class.</summary>
public abstract record CamTarget
{
    public sealed record Ranked(int Rank) : CamTarget;
    public sealed record ClassIndex(int Index) : CamTarget;
    public sealed record ClassName(string Name) : CamTarget;
    public static CamTarget Top1 { get; } = new Ranked(0);
}

/// <summary>What to compute for a batch.</summary>
/// <param name="Methods">Methods, each giving one map per image.</param>
/// <param name="Layers">Target layers (graph layer names); several layers are averaged after ReLU and per-layer rescaling.</param>
/// <param name="Target">The class explained.</param>
/// <param name="Score">Raw score or softmax probability as the differentiated/perturbed quantity.</param>
/// <param name="AugSmooth">Average over horizontal flip × scales {0.9, 1, 1.1}.</param>
/// <param name="EigenSmooth">Replace each activation-weighted map by its first principal component.</param>
/// <param name="MaskBatchSize">Batch size for the masked forward passes of Score-CAM and Ablation-CAM.</param>
/// <param name="OutputName">Graph output holding class scores; null = the graph's first output.</param>
public sealed record CamRequest(
    IReadOnlyList<CamMethod> Methods,
    IReadOnlyList<string> Layers,
    CamTarget Target,
    CamScore Score = CamScore.Raw,
    bool AugSmooth = false,
    bool EigenSmooth = false,
    int MaskBatchSize = 32,
    string? OutputName = null);

/// <summary>
/// Result for a batch of B images. Maps are float32, model-input height × width (row-major), rescaled to [0, 1]
/// per image (an all-equal map is all zeros). Plain managed arrays: nothing to dispose.
/// </summary>
public sealed record CamBatchResult(
    int Height,
    int Width,
    float[][] Probabilities,               // [B][classes], softmax of the class output
    int[] TargetClass,                     // [B], the class each map explains
    IReadOnlyDictionary<CamMethod, float[][]> Maps); // method → [B][Height*Width]

/// <summary>Computes CAMs for a preprocessed input batch (the tensor the graph takes, any layout it takes).</summary>
public interface ICamEngine
{
    CamBatchResult Compute(torch.Tensor input, CamRequest request);
}

/// <summary>CLI names of the CAM methods (cam, gradcam, gradcampp, xgradcam, hirescam, layercam, scorecam, ablationcam, eigencam, eigengradcam).</summary>
public static class CamMethodNames
{
    static readonly (string Name, CamMethod Method)[] Table =
    {
        ("cam", CamMethod.Cam), ("gradcam", CamMethod.GradCam), ("gradcampp", CamMethod.GradCamPlusPlus),
        ("xgradcam", CamMethod.XGradCam), ("hirescam", CamMethod.HiResCam), ("layercam", CamMethod.LayerCam),
        ("scorecam", CamMethod.ScoreCam), ("ablationcam", CamMethod.AblationCam), ("eigencam", CamMethod.EigenCam),
        ("eigengradcam", CamMethod.EigenGradCam),
    };

    public static string Name(CamMethod method) => Table.First(t => t.Method == method).Name;

    /// <summary>Parses a comma-separated list such as "gradcam,gradcampp"; an unknown name is a usage error listing the known ones.</summary>
    public static IReadOnlyList<CamMethod> ParseList(string text)
    {
        var methods = new List<CamMethod>();
        foreach (var raw in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var key = raw.ToLowerInvariant().Replace("-", "").Replace("_", "").Replace("++", "pp");
            var hit = Table.Where(t => t.Name == key).Select(t => (CamMethod?)t.Method).FirstOrDefault()
                ?? throw new LayerLensException($"unknown CAM method '{raw}' (known: {string.Join(", ", Table.Select(t => t.Name))})", ErrorKind.Usage);
            if (!methods.Contains(hit)) methods.Add(hit);
        }
        if (methods.Count == 0) throw new LayerLensException("no CAM method given", ErrorKind.Usage);
        return methods;
    }
}
