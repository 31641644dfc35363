using System.Globalization;
using System.Text;
using LayerLens.Datasets;
using LayerLens.Images;
using static TorchSharp.torch;

namespace LayerLens.Quality.Distortions;

/// <summary>
/// Turns any image folder into a TID-style set needing no external data: reference/STEM.png,
/// distorted/STEM_TYPE_LEVEL.png for every distortion and level, and pairs.csv (ref, dist, type, level,
/// parameter, dmos) readable as "csv:DIR/pairs.csv". With no human ratings, the dmos column is the level,
/// so correlations measure whether a metric orders severities.
/// </summary>
public static class DistortedSet
{
    public static string Build(string imageFolder, string outDir, int seed = 0, IReadOnlyList<DistortionType>? types = null,
        int? maxSide = null, IReadOnlyList<int>? levels = null, IProgress<string>? progress = null, CancellationToken cancel = default)
    {
        var levelList = (levels ?? Enumerable.Range(1, Distortion.Levels).ToArray()).Distinct().Order().ToArray();
        if (levelList.Length == 0 || levelList.Any(l => l < 1 || l > Distortion.Levels))
            throw new LayerLensException($"distortion levels must be between 1 and {Distortion.Levels}, got [{string.Join(",", levels ?? Array.Empty<int>())}]", ErrorKind.Usage);
        if (maxSide is <= 0) throw new LayerLensException($"max side must be positive, got {maxSide}", ErrorKind.Usage);
        var images = ImageDataset.FromFolder(imageFolder);
        types ??= Enum.GetValues<DistortionType>();
        var refDir = Path.Combine(outDir, "reference");
        var distDir = Path.Combine(outDir, "distorted");
        Directory.CreateDirectory(refDir);
        Directory.CreateDirectory(distDir);
        var csv = new StringBuilder("ref,dist,type,level,parameter,dmos\n");
        var stems = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        int index = 0;
        foreach (var item in images.Items)
        {
            cancel.ThrowIfCancellationRequested();
            var stem = Path.GetFileNameWithoutExtension(item.Path);
            for (int k = 2; !stems.Add(stem); k++) stem = $"{Path.GetFileNameWithoutExtension(item.Path)}_{k}";
            using var scope = NewDisposeScope();
            var img = ImageDecoder.Decode(item.Path).ToChwTensor();
            if (maxSide is int m && Math.Max(img.shape[1], img.shape[2]) > m)
            {
                double f = (double)m / Math.Max(img.shape[1], img.shape[2]);
                var size = new long[] { Math.Max(1, (long)Math.Round(img.shape[1] * f)), Math.Max(1, (long)Math.Round(img.shape[2] * f)) };
                img = nn.functional.interpolate(img.unsqueeze(0), size, mode: InterpolationMode.Area)[0];
            }
            var refName = $"{stem}.png";
            ImageEncoder.Save(RgbImage.FromChwTensor(img), Path.Combine(refDir, refName));
            // The reference as saved (8-bit) is what distortions start from, so level 0 would be identical to it.
            var reference = ImageDecoder.Decode(Path.Combine(refDir, refName)).ToChwTensor();
            foreach (var type in types)
                foreach (var level in levelList)
                {
                    using var inner = NewDisposeScope();
                    var name = $"{stem}_{Distortion.Name(type)}_{level}.png";
                    ImageEncoder.Save(RgbImage.FromChwTensor(Distortion.Apply(reference, type, level, seed, index)), Path.Combine(distDir, name));
                    csv.Append(CultureInfo.InvariantCulture,
                        $"reference/{refName},distorted/{name},{Distortion.Name(type)},{level},{Distortion.Parameter(type, level)},{level}\n");
                }
            progress?.Report(item.Path);
            index++;
        }
        var path = Path.Combine(outDir, "pairs.csv");
        LayerLens.IO.AtomicFile.WriteAllText(path, csv.ToString());
        return path;
    }
}
