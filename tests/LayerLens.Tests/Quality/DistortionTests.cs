using LayerLens.Images;
using LayerLens.Models;
using LayerLens.Quality.Datasets;
using LayerLens.Quality.Distances;
using LayerLens.Quality.Distortions;
using LayerLens.Quality.Metrics;
using static TorchSharp.torch;

namespace LayerLens.Tests.Quality;

public class DistortionTests
{
    static List<Tensor> Photos() =>
        new[] { "astronaut96.npy", "chelsea96.npy", "coffee96.npy" }.Select(f =>
        {
            using var u8 = QualityFixtures.Image(f);
            return u8.to_type(ScalarType.Float32) / 255;
        }).ToList();

    [Fact]
    public void Ssim_and_deep_distances_grow_with_level_within_every_distortion_type()
    {
        var photos = Photos();
        using var graph = ModelLoader.Load(Path.Combine(AppContext.BaseDirectory, "Assets", "tiny-resnet.onnx"));
        var layers = graph.Layers.Where(l => l.OpType == "Relu").Take(3).Select(l => l.Name).ToArray();
        var l2 = new DeepDistance(graph, layers, new L2Readout());
        var lpips = new DeepDistance(graph, layers, new LpipsReadout());
        var failures = new List<string>();
        foreach (var type in Enum.GetValues<DistortionType>())
        {
            var ssim = new double[Distortion.Levels];
            var dl2 = new double[Distortion.Levels];
            var dlp = new double[Distortion.Levels];
            for (int i = 0; i < photos.Count; i++)
            {
                using var scope = NewDisposeScope();
                var reference = photos[i];
                var batch = stack(Enumerable.Range(1, Distortion.Levels).Select(l => Distortion.Apply(reference, type, l, seed: 1, imageIndex: i)).ToArray());
                using var s = Ssim.Compute(reference * 255, batch * 255);
                // The bundled network takes 64×64 inputs: compare the central crop.
                var crop = TensorIndex.Slice(16, 80);
                var refCrop = reference[TensorIndex.Colon, crop, crop].unsqueeze(0).contiguous();
                var batchCrop = batch[TensorIndex.Colon, TensorIndex.Colon, crop, crop].contiguous();
                using var f = l2.Features(refCrop);
                using var g = lpips.Features(refCrop);
                var r2 = l2.Compare(f, batchCrop).Combined;
                var rl = lpips.Compare(g, batchCrop).Combined;
                for (int l = 0; l < Distortion.Levels; l++)
                {
                    ssim[l] += (1 - s[l].item<double>()) / photos.Count;
                    dl2[l] += r2[l] / photos.Count;
                    dlp[l] += rl[l] / photos.Count;
                }
            }
            foreach (var (name, v) in new[] { ("1-SSIM", ssim), ("l2", dl2), ("lpips", dlp) })
                for (int l = 1; l < Distortion.Levels; l++)
                    if (!(v[l] > v[l - 1])) failures.Add($"{type} {name}: level {l + 1} {v[l]:G4} ≤ level {l} {v[l - 1]:G4}");
            Assert.True(ssim[0] > 0, $"{type} level 1 changed nothing");
        }
        Assert.True(failures.Count == 0, string.Join("; ", failures));
        foreach (var p in photos) p.Dispose();
    }

    [Fact]
    public void Distortions_are_seeded_and_keep_shape_and_range()
    {
        var photo = Photos()[0];
        using (photo)
        foreach (var type in Enum.GetValues<DistortionType>())
        {
            using var a = Distortion.Apply(photo, type, 3, seed: 5);
            using var b = Distortion.Apply(photo, type, 3, seed: 5);
            Assert.Equal(photo.shape, a.shape);
            Assert.True((a - b).abs().max().item<float>() == 0, $"{type} not reproducible");
            Assert.True(a.min().item<float>() >= 0 && a.max().item<float>() <= 1);
        }
        Assert.Contains("level must be", Assert.Throws<LayerLensException>(() => Distortion.Parameter(DistortionType.Jpeg, 6)).Message);
    }

    [Fact]
    public void Distorted_set_writes_a_tid_style_folder_readable_as_generic_csv()
    {
        var root = Directory.CreateTempSubdirectory("layerlens-dset-").FullName;
        try
        {
            var photos = Photos();
            Directory.CreateDirectory(Path.Combine(root, "in"));
            ImageEncoder.Save(RgbImage.FromChwTensor(photos[1]), Path.Combine(root, "in", "cat.png"));
            ImageEncoder.Save(RgbImage.FromChwTensor(photos[2]), Path.Combine(root, "in", "cup.png"));
            var csv = DistortedSet.Build(Path.Combine(root, "in"), Path.Combine(root, "out"), seed: 2);
            var ds = IqaDatasets.Csv(csv);
            Assert.Equal(2 * 10 * 5, ds.Pairs.Count);
            Assert.False(ds.HigherScoreIsBetter);
            Assert.Equal(10, ds.Pairs.Select(p => p.DistortionType).Distinct().Count());
            var first = File.ReadAllBytes(Path.Combine(root, "out", "distorted", "cat_noise_3.png"));
            DistortedSet.Build(Path.Combine(root, "in"), Path.Combine(root, "out2"), seed: 2);
            Assert.Equal(first, File.ReadAllBytes(Path.Combine(root, "out2", "distorted", "cat_noise_3.png")));
            Assert.Empty(Directory.EnumerateFiles(Path.Combine(root, "out"), "*.tmp", SearchOption.AllDirectories));
            foreach (var p in photos) p.Dispose();
        }
        finally { Directory.Delete(root, true); }
    }
}
