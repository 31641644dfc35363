using System.Text.Json;
using LayerLens.IO;
using LayerLens.Native;
using static TorchSharp.torch;

namespace LayerLens.Tests.Quality;

/// <summary>Reads Fixtures/Quality (made by scripts/fixtures/make_quality_fixtures.py).</summary>
internal static class QualityFixtures
{
    public static string Dir => Path.Combine(AppContext.BaseDirectory, "Fixtures", "Quality");

    public static IReadOnlyList<JsonElement> Cases()
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(Dir, "expected.json")));
        return doc.RootElement.GetProperty("cases").EnumerateArray().Select(e => e.Clone()).ToList();
    }

    /// <summary>An HxWx3 uint8 fixture as a [3,H,W] tensor.</summary>
    public static Tensor Image(string file)
    {
        TorchRuntime.EnsureLoaded();
        using var hwc = Npy.Read(Path.Combine(Dir, file));
        return hwc.permute(2, 0, 1).contiguous();
    }
}
