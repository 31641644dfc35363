using System.Globalization;
using System.Text;
using LayerLens.Datasets;
using LayerLens.Features;
using LayerLens.Images;
using LayerLens.IO;
using LayerLens.Models;
using LayerLens.Preprocessing;
using static TorchSharp.torch;

namespace LayerLens.Tests.Sweep;

/// <summary>Generated images, planted targets and neural data in the sweep's file formats.</summary>
public static class SweepFixtures
{
    public static string Model => TestPaths.DemoModel;

    public static PreprocessingSpec Preprocessing(int size = 64) =>
        PreprocessingSpec.FromPreset("imagenet").With("resize", size.ToString(CultureInfo.InvariantCulture)).With("crop", size.ToString(CultureInfo.InvariantCulture));

    /// <summary>
    /// <paramref name="n"/> 64×64 PNGs with varied content, so that the layers' features vary in many directions: a
    /// random background, an oriented colour grating of random frequency, 1–4 rectangles and a disc of random colours,
    /// and pixel noise of random strength. Ids are the file names (img000.png, ...).
    /// </summary>
    public static string[] MakeImages(string dir, int n, int seed)
    {
        Directory.CreateDirectory(dir);
        var rng = new Random(seed);
        const int S = 64;
        var ids = new string[n];
        for (int i = 0; i < n; i++)
        {
            var img = new double[S, S, 3];
            var bg = new[] { rng.NextDouble(), rng.NextDouble(), rng.NextDouble() };
            double theta = rng.NextDouble() * Math.PI, freq = 0.05 + rng.NextDouble() * 0.5, amp = rng.NextDouble() * 0.4;
            var tint = new[] { rng.NextDouble(), rng.NextDouble(), rng.NextDouble() };
            for (int y = 0; y < S; y++)
                for (int x = 0; x < S; x++)
                {
                    double g = Math.Sin(freq * (x * Math.Cos(theta) + y * Math.Sin(theta)));
                    for (int c = 0; c < 3; c++) img[y, x, c] = bg[c] * 0.6 + amp * g * tint[c];
                }
            int rects = 1 + rng.Next(4);
            for (int k = 0; k < rects; k++)
            {
                int w = 4 + rng.Next(30), h = 4 + rng.Next(30), x0 = rng.Next(S - w), y0 = rng.Next(S - h);
                var col = new[] { rng.NextDouble(), rng.NextDouble(), rng.NextDouble() };
                for (int y = y0; y < y0 + h; y++) for (int x = x0; x < x0 + w; x++) for (int c = 0; c < 3; c++) img[y, x, c] = col[c];
            }
            {
                double cx = rng.Next(S), cy = rng.Next(S), r = 3 + rng.Next(15);
                var col = new[] { rng.NextDouble(), rng.NextDouble(), rng.NextDouble() };
                for (int y = 0; y < S; y++) for (int x = 0; x < S; x++)
                    if ((x - cx) * (x - cx) + (y - cy) * (y - cy) <= r * r) for (int c = 0; c < 3; c++) img[y, x, c] = col[c];
            }
            double noise = rng.NextDouble() * 0.15;
            var px = new byte[S * S * 3];
            for (int y = 0; y < S; y++) for (int x = 0; x < S; x++) for (int c = 0; c < 3; c++)
                px[(y * S + x) * 3 + c] = (byte)Math.Clamp((int)Math.Round(255 * (img[y, x, c] + noise * (rng.NextDouble() * 2 - 1))), 0, 255);
            ids[i] = $"img{i:D3}.png";
            ImageEncoder.Save(new RgbImage(S, S, px), Path.Combine(dir, ids[i]));
        }
        return ids;
    }

    /// <summary>Features of every tiny-resnet layer for the images (a store outside the sweep's own folder).</summary>
    public static FeatureStore Features(string images, string store, string reducer, long seed)
    {
        using var graph = ModelLoader.Load(Model);
        FeatureExtractor.Run(graph, Model, ImageDataset.Open(images), store, new ExtractionOptions { Reducer = reducer, Seed = seed, Threads = 2, Preprocessing = Preprocessing() });
        return FeatureStore.Open(store);
    }

    /// <summary>Columns standardised (constant columns left at zero), float64 [N, D].</summary>
    public static Tensor Standardised(FeatureStore store, string layer)
    {
        var d = store.Layers.First(l => l.Name == layer).Dim;
        var x = tensor(store.Read(layer), new long[] { store.Ids.Count, d }).to_type(ScalarType.Float64);
        var sd = x.std(new long[] { 0 }, unbiased: false);
        return ((x - x.mean(new long[] { 0 })) / where(sd > 1e-8, sd, ones_like(sd))).where(sd > 1e-8, zeros_like(x));
    }

    public static void WriteScores(string path, IReadOnlyList<string> ids, IReadOnlyList<double> scores)
    {
        var sb = new StringBuilder("id,score\n");
        for (int i = 0; i < ids.Count; i++) sb.Append(ids[i]).Append(',').Append(scores[i].ToString("R", CultureInfo.InvariantCulture)).Append('\n');
        File.WriteAllText(path, sb.ToString());
    }

    /// <summary>Neural data in the plain folder layout: responses = signal + unit noise per repetition, region IT.</summary>
    public static void WriteNeural(string dir, IReadOnlyList<string> ids, Tensor signal, int reps, double noise, int seed)
    {
        Directory.CreateDirectory(dir);
        var g = new Generator((ulong)seed);
        long n = signal.shape[0], k = signal.shape[1];
        var blocks = new List<Tensor>();
        var pres = new StringBuilder("stimulus_id,repetition,object_name\n");
        for (int r = 0; r < reps; r++)
        {
            blocks.Add(signal + noise * randn(new long[] { n, k }, dtype: ScalarType.Float64, generator: g));
            for (int s = 0; s < n; s++) pres.Append(ids[s]).Append(',').Append(r).Append(",o").Append(s % 8).Append('\n');
        }
        File.WriteAllText(Path.Combine(dir, "presentations.csv"), pres.ToString());
        File.WriteAllText(Path.Combine(dir, "neuroids.csv"), "neuroid_id,region\n" + string.Concat(Enumerable.Range(0, (int)k).Select(i => $"n{i},IT\n")));
        Npy.Write(Path.Combine(dir, "responses.npy"), cat(blocks, 0).to_type(ScalarType.Float32));
    }
}
