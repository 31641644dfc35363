using LayerLens.Images;
using LayerLens.Models;
using LayerLens.Models.Engine;
using LayerLens.Zoo;

namespace LayerLens.Detection;

/// <summary>The face a <see cref="FaceCropper"/> chose and the square cut around it (X, Y, Width, Height in photo pixels).</summary>
public sealed record FaceCrop(DetectedObject Face, int X, int Y, int Width, int Height, RgbImage Image);

/// <summary>
/// Finds the largest face in a photo with a face detector (zoo:blazeface by default) and cuts a square around it:
/// side max(width, height)·(1 + 2·Margin), centred on the face, shifted and cut to stay inside the photo. Face
/// expression models such as zoo:emotion are trained on such crops.
/// </summary>
public sealed class FaceCropper : IDisposable
{
    readonly ObjectDetector _detector;
    ModelGraph? _ownedGraph;

    public FaceCropper(ObjectDetector detector, double margin = 0.25, float minScore = 0.5f)
    {
        if (!(margin >= 0 && margin <= 2)) throw new LayerLensException($"face crop margin {margin} must lie in 0..2 (a fraction of the face size)", ErrorKind.Usage);
        if (!(minScore > 0 && minScore < 1)) throw new LayerLensException($"face crop minimum score {minScore} must lie between 0 and 1", ErrorKind.Usage);
        _detector = detector;
        Margin = margin;
        MinScore = minScore;
    }

    /// <summary>A cropper running the zoo's face detector <paramref name="model"/> (fetched into the cache on first use).</summary>
    public static FaceCropper FromZoo(string model = "blazeface", double margin = 0.25, float minScore = 0.5f, ModelZoo? zoo = null, ComputeDevice? device = null)
    {
        zoo ??= ModelZoo.Default();
        var entry = zoo.Get(model);
        var graph = ModelLoader.Load(zoo.Resolve(model), device);
        try
        {
            return new FaceCropper(ObjectDetector.ForZoo(graph, entry), margin, minScore) { _ownedGraph = graph };
        }
        catch
        {
            graph.Dispose();
            throw;
        }
    }

    /// <summary>Extra border on each side, as a fraction of the face's larger side.</summary>
    public double Margin { get; }
    /// <summary>Faces scoring below this are ignored.</summary>
    public float MinScore { get; }
    public ObjectDetector Detector => _detector;

    /// <summary>The largest face and its crop, or null when the detector finds none.</summary>
    public FaceCrop? Find(RgbImage image)
    {
        var faces = _detector.Detect(image, new DetectionOptions(MinScore, 0.3f, 100));
        if (faces.Count == 0) return null;
        var face = faces.OrderByDescending(f => f.Area).ThenByDescending(f => f.Score).First();
        double side = Math.Max(face.X1 - face.X0, face.Y1 - face.Y0) * (1 + 2 * Margin);
        int s = (int)Math.Clamp(Math.Round(side), 1, Math.Min(image.Width, image.Height));
        double cx = (face.X0 + face.X1) / 2.0, cy = (face.Y0 + face.Y1) / 2.0;
        int x = (int)Math.Clamp(Math.Round(cx - s / 2.0), 0, image.Width - s);
        int y = (int)Math.Clamp(Math.Round(cy - s / 2.0), 0, image.Height - s);
        return new FaceCrop(face, x, y, s, s, image.Crop(x, y, s, s));
    }

    public void Dispose()
    {
        _ownedGraph?.Dispose();
        _ownedGraph = null;
    }
}
