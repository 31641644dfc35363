using System.Reflection;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace LayerLens.Features;

/// <summary>
/// What a feature store was computed from. Two runs may share a store only when everything that
/// changes the numbers is equal (model bytes, preprocessing, reducer, seed, layers, image ids, dtype);
/// the LayerLens version and the paths are recorded but not compared.
/// </summary>
public sealed record FeatureProvenance
{
    public string LayerLensVersion { get; init; } = CurrentVersion;
    public string Model { get; init; } = "";
    public string ModelSha256 { get; init; } = "";
    /// <summary>Canonical JSON of the preprocessing (see PreprocessingSpec.ToJson).</summary>
    public string Preprocessing { get; init; } = "";
    public string Reducer { get; init; } = "";
    public long Seed { get; init; }
    public string LayerSelector { get; init; } = "all";
    public string[] Layers { get; init; } = Array.Empty<string>();
    public string Dataset { get; init; } = "";
    public int ImageCount { get; init; }
    /// <summary>SHA-256 of the image ids in order (one per line).</summary>
    public string IdsSha256 { get; init; } = "";
    public string DType { get; init; } = "float32";
    /// <summary>Images of the reference set a PCA was fitted on (0 when no PCA).</summary>
    public int PcaReferenceCount { get; init; }
    public string PcaReferenceIdsSha256 { get; init; } = "";

    public static string CurrentVersion =>
        typeof(FeatureProvenance).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion?.Split('+')[0]
        ?? typeof(FeatureProvenance).Assembly.GetName().Version?.ToString() ?? "0";

    public string ToJson() => JsonSerializer.Serialize(this, new JsonSerializerOptions { WriteIndented = false });

    public static FeatureProvenance FromJson(string json, string where)
    {
        try
        {
            return JsonSerializer.Deserialize<FeatureProvenance>(json) ?? throw new JsonException("null");
        }
        catch (JsonException e)
        {
            throw new LayerLensException($"{where}: unreadable provenance record ({e.Message.Split('\n')[0]})", ErrorKind.BadInput, e);
        }
    }

    /// <summary>The first setting that differs from <paramref name="other"/> as "name: this vs other", or null if compatible.</summary>
    public string? Difference(FeatureProvenance other)
    {
        static string Short(string s) => s.Length <= 120 ? s : s[..117] + "...";
        if (ModelSha256 != other.ModelSha256) return $"model file differs (SHA-256 {Short(ModelSha256)[..12]}… vs {Short(other.ModelSha256)[..Math.Min(12, other.ModelSha256.Length)]}…)";
        if (Preprocessing != other.Preprocessing) return $"preprocessing differs ({Short(Preprocessing)} vs {Short(other.Preprocessing)})";
        if (Reducer != other.Reducer) return $"reducer differs ({Reducer} vs {other.Reducer})";
        if (Seed != other.Seed) return $"seed differs ({Seed} vs {other.Seed})";
        if (!Layers.SequenceEqual(other.Layers)) return $"layer selection differs ({LayerSelector}: {Layers.Length} layers vs {other.LayerSelector}: {other.Layers.Length} layers)";
        if (IdsSha256 != other.IdsSha256) return $"image list differs ({ImageCount} images from {Dataset} vs {other.ImageCount} from {other.Dataset})";
        if (DType != other.DType) return $"dtype differs ({DType} vs {other.DType})";
        if (PcaReferenceIdsSha256 != other.PcaReferenceIdsSha256) return "PCA reference images differ";
        return null;
    }

    public static string Sha256Hex(IEnumerable<string> lines)
    {
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        foreach (var l in lines) sha.AppendData(Encoding.UTF8.GetBytes(l + "\n"));
        return Convert.ToHexString(sha.GetHashAndReset()).ToLowerInvariant();
    }

    public static string FileSha256(string path)
    {
        using var fs = File.OpenRead(path);
        return Convert.ToHexString(SHA256.HashData(fs)).ToLowerInvariant();
    }
}
