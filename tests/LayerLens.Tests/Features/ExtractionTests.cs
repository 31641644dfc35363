using System.Diagnostics;
using System.Globalization;
using LayerLens.Datasets;
using LayerLens.Features;
using LayerLens.Images;
using LayerLens.Models;
using LayerLens.Preprocessing;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace LayerLens.Tests.Features;

/// <summary>Seeded photos-like test images and the bundled demo model.</summary>
public static class ExtractionFixtures
{
    public static string Model => Path.Combine(AppContext.BaseDirectory, "Assets", "tiny-resnet.onnx");

    /// <summary>Writes <paramref name="n"/> JPEGs of varying size (smooth gradients plus noise) into class folders.</summary>
    public static void MakeImages(string dir, int n, int seed = 0)
    {
        var rng = new Random(seed);
        for (int i = 0; i < n; i++)
        {
            int w = 70 + rng.Next(30), h = 64 + rng.Next(30);
            var px = new byte[w * h * 3];
            for (int y = 0; y < h; y++)
                for (int x = 0; x < w; x++)
                    for (int c = 0; c < 3; c++)
                        px[(y * w + x) * 3 + c] = (byte)Math.Clamp((x * (c + 1) * 3 + y * (3 - c) * 2 + i * 17) % 256 + rng.Next(-20, 21), 0, 255);
            var path = Path.Combine(dir, i % 2 == 0 ? "even" : "odd", $"img{i:D3}.jpg");
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            ImageEncoder.Save(new RgbImage(w, h, px), path, 90);
        }
    }

    public static PreprocessingSpec Preprocessing => PreprocessingSpec.FromPreset("imagenet").With("resize", "64").With("crop", "64");
}

public sealed class ExtractionTests : IDisposable
{
    readonly string _dir = Directory.CreateTempSubdirectory("ll-extract").FullName;

    public void Dispose() => Directory.Delete(_dir, true);

    ExtractionSummary Extract(string images, string output, string reducer = "gap", bool skip = false, int batch = 4)
    {
        using var graph = ModelLoader.Load(ExtractionFixtures.Model);
        return FeatureExtractor.Run(graph, ExtractionFixtures.Model, ImageDataset.Open(images), output, new ExtractionOptions
        {
            Reducer = reducer,
            BatchSize = batch,
            Threads = 2,
            SkipBadImages = skip,
            Preprocessing = ExtractionFixtures.Preprocessing,
            BlockRows = 4,
        });
    }

    [Fact]
    public void Store_logits_equal_onnx_runtime_on_the_same_preprocessed_images()
    {
        var images = Path.Combine(_dir, "img");
        ExtractionFixtures.MakeImages(images, 6);
        var output = Path.Combine(_dir, "f.h5");
        var summary = Extract(images, output, "none");
        Assert.Equal(6, summary.Extracted);
        var store = FeatureStore.Open(output);
        Assert.Equal(ImageDataset.Open(images).Items.Select(i => i.Id), store.Ids);
        var logits = store.Read("logits");
        var pool = store.Read("/pool/GlobalAveragePool_output_0");

        using var session = new InferenceSession(ExtractionFixtures.Model);
        using var pre = new ImagePreprocessor(ExtractionFixtures.Preprocessing);
        var ds = ImageDataset.Open(images);
        for (int i = 0; i < ds.Count; i++)
        {
            using var x = pre.Apply(ImageDecoder.Decode(ds.Items[i].Path));
            var input = new DenseTensor<float>(x.data<float>().ToArray(), new[] { 1, 3, 64, 64 });
            using var results = session.Run(new[] { NamedOnnxValue.CreateFromTensor("image", input) });
            var expected = results.First(r => r.Name == "logits").AsEnumerable<float>().ToArray();
            for (int k = 0; k < 10; k++) Assert.Equal(expected[k], logits[i * 10 + k], 4);
        }
        Assert.Equal(6 * 32, pool.Length);
        Assert.Contains(store.Layers, l => l.Name == "logits" && l.Op == "Gemm" && l.Dim == 10 && l.RelativeDepth == 1.0);
    }

    [Fact]
    public void Store_is_readable_by_h5py_with_ids_names_attributes_and_values()
    {
        var images = Path.Combine(_dir, "img");
        ExtractionFixtures.MakeImages(images, 5);
        var output = Path.Combine(_dir, "f.h5");
        Extract(images, output, "stats");
        var store = FeatureStore.Open(output);
        var layer = store.Layers.First(l => l.Name.Contains('/'));
        var ours = store.Read(layer.Name);

        // h5py (Debian python3-h5py) is the reference reader; it finds the layer by its name attribute.
        var script = string.Join("\n",
            "import h5py, json, sys",
            "f = h5py.File(sys.argv[1], 'r')",
            "ids = [s.decode() if isinstance(s, bytes) else s for s in f['ids'][:]]",
            "prov = json.loads(f.attrs['provenance'])",
            "ds = [d for d in f['features'].values() if d.attrs['name'] == sys.argv[2]][0]",
            "print(json.dumps({'ids': ids, 'reducer': prov['Reducer'], 'shape': list(ds.shape), 'dtype': str(ds.dtype),",
            "  'op': ds.attrs['op'], 'values': [float(v) for v in ds[:].ravel()]}))");
        var psi = new ProcessStartInfo("/usr/bin/python3") { RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add("-c");
        psi.ArgumentList.Add(script);
        psi.ArgumentList.Add(output);
        psi.ArgumentList.Add(layer.Name);
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEnd();
        var stderr = p.StandardError.ReadToEnd();
        p.WaitForExit();
        Assert.True(p.ExitCode == 0, "python3 with h5py failed (install python3-h5py): " + stderr);
        using var doc = System.Text.Json.JsonDocument.Parse(stdout);
        var root = doc.RootElement;
        Assert.Equal(store.Ids, root.GetProperty("ids").EnumerateArray().Select(e => e.GetString()!));
        Assert.Equal("stats", root.GetProperty("reducer").GetString());
        Assert.Equal("float32", root.GetProperty("dtype").GetString());
        Assert.Equal(new[] { 5, layer.Dim }, root.GetProperty("shape").EnumerateArray().Select(e => e.GetInt32()));
        Assert.Equal(layer.Op, root.GetProperty("op").GetString());
        var values = root.GetProperty("values").EnumerateArray().Select(e => (float)e.GetDouble()).ToArray();
        Assert.Equal(ours, values);
    }

    [Fact]
    public void Rerun_with_same_settings_does_nothing_and_different_reducer_is_refused()
    {
        var images = Path.Combine(_dir, "img");
        ExtractionFixtures.MakeImages(images, 4);
        var output = Path.Combine(_dir, "f.h5");
        Extract(images, output, "gap");
        var before = File.GetLastWriteTimeUtc(output);
        var again = Extract(images, output, "gap");
        Assert.True(again.AlreadyComplete);
        Assert.Equal(before, File.GetLastWriteTimeUtc(output));
        var e = Assert.Throws<LayerLensException>(() => Extract(images, output, "gmp"));
        Assert.Contains("reducer differs (gmp vs gap)", e.Message);
        Assert.Contains(output, e.Message);
    }

    [Fact]
    public void Different_preprocessing_is_refused_instead_of_mixing_features()
    {
        var images = Path.Combine(_dir, "img");
        ExtractionFixtures.MakeImages(images, 4);
        var output = Path.Combine(_dir, "f.h5");
        Extract(images, output);
        using var graph = ModelLoader.Load(ExtractionFixtures.Model);
        var e = Assert.Throws<LayerLensException>(() => FeatureExtractor.Run(graph, ExtractionFixtures.Model, ImageDataset.Open(images), output,
            new ExtractionOptions { Preprocessing = ExtractionFixtures.Preprocessing.With("resize", "72"), BlockRows = 4, BatchSize = 4 }));
        Assert.Contains("preprocessing differs", e.Message);
    }

    [Fact]
    public void Bad_image_stops_the_run_by_default_and_is_skipped_and_counted_on_request()
    {
        var images = Path.Combine(_dir, "img");
        ExtractionFixtures.MakeImages(images, 5);
        var bad = Path.Combine(images, "odd", "broken.jpg");
        File.WriteAllBytes(bad, new byte[] { 0xFF, 0xD8, 0xFF, 0x00, 1, 2, 3 });
        var output = Path.Combine(_dir, "f.h5");
        var e = Assert.Throws<LayerLensException>(() => Extract(images, output));
        Assert.Contains(bad, e.Message);
        Assert.False(File.Exists(output));

        Directory.Delete(FeatureExtractor.PartsDir(output), true);
        var summary = Extract(images, output, skip: true);
        Assert.Equal(6, summary.Images);
        Assert.Equal(5, summary.Extracted);
        Assert.Equal("odd/broken.jpg", Assert.Single(summary.Skipped).Id);
        var store = FeatureStore.Open(output);
        Assert.Equal(5, store.Ids.Count);
        Assert.Equal(1, store.SkippedCount);
        Assert.DoesNotContain("odd/broken.jpg", store.Ids);
    }

    [Fact]
    public void Extract_and_features_commands_write_and_summarise_a_store()
    {
        var images = Path.Combine(_dir, "img");
        ExtractionFixtures.MakeImages(images, 3);
        var output = Path.Combine(_dir, "cli.h5");
        var sw = new StringWriter();
        var err = new StringWriter();
        int rc = LayerLens.Cli.CliApp.Run(new[] { "extract", ExtractionFixtures.Model, "--images", images, "--resize", "64", "--crop", "64",
            "--layers", "op:Relu", "--reduce", "grid:2", "--batch", "2", "--out", output }, sw, err);
        Assert.True(rc == 0, err.ToString());
        Assert.Contains("skipped images: 0", sw.ToString());
        // Not a terminal: plain progress lines instead of a progress bar.
        Assert.Contains("extract: 3/3 images", sw.ToString());
        Assert.Contains("images/s", sw.ToString());
        var store = FeatureStore.Open(output);
        Assert.All(store.Layers, l => Assert.Equal("Relu", l.Op));
        Assert.Equal(16 * 4, store.Layers[0].Dim);
        sw = new StringWriter();
        rc = LayerLens.Cli.CliApp.Run(new[] { "features", output }, sw, err);
        Assert.Equal(0, rc);
        Assert.Contains("complete, 3 images x 5 layers", sw.ToString());
        Assert.Contains("/layer1/Relu_output_0", sw.ToString());
    }
    [Fact]
    public void Pca_reducer_is_fitted_on_the_reference_set_and_applied_to_every_batch()
    {
        var images = Path.Combine(_dir, "img");
        var refs = Path.Combine(_dir, "ref");
        ExtractionFixtures.MakeImages(images, 5, seed: 1);
        ExtractionFixtures.MakeImages(refs, 7, seed: 2);
        var output = Path.Combine(_dir, "pca.h5");
        const string layer = "/layer2/Relu_1_output_0";
        using (var graph = ModelLoader.Load(ExtractionFixtures.Model))
            FeatureExtractor.Run(graph, ExtractionFixtures.Model, ImageDataset.Open(images), output, new ExtractionOptions
            {
                Reducer = "pca:4", LayerSelector = layer + ",logits", BatchSize = 2, Threads = 2, BlockRows = 2,
                Preprocessing = ExtractionFixtures.Preprocessing, PcaReference = ImageDataset.Open(refs),
            });
        var store = FeatureStore.Open(output);
        Assert.Equal(4, store.Layers.Single(l => l.Name == layer).Dim);
        var stored = store.Read(layer);

        // The same fit done by hand on the reference activations.
        using var g = ModelLoader.Load(ExtractionFixtures.Model);
        using var pre = new ImagePreprocessor(ExtractionFixtures.Preprocessing);
        TorchSharp.torch.Tensor Acts(string dir)
        {
            var ds = ImageDataset.Open(dir);
            using var x = TorchSharp.torch.stack(ds.Items.Select(i => pre.Apply(ImageDecoder.Decode(i.Path))).ToArray());
            using var r = g.Run(x, new Models.Engine.RunOptions { Taps = new[] { layer } });
            return r.Taps[layer].flatten(1).clone();
        }
        var pca = (PcaReducer)FeatureReducer.Parse("pca:4");
        using (var reference = Acts(refs)) pca.Fit(layer, reference);
        using var test = Acts(images);
        using var expected = pca.Reduce(layer, test);
        var e = expected.data<float>().ToArray();
        Assert.Equal(e.Length, stored.Length);
        for (int i = 0; i < e.Length; i++) Assert.Equal(e[i], stored[i], 3);
    }
    [Fact]
    public void Float16_store_holds_the_float32_features_rounded_to_half_and_h5py_sees_float16()
    {
        var images = Path.Combine(_dir, "img");
        ExtractionFixtures.MakeImages(images, 3);
        var full = Path.Combine(_dir, "f32.h5");
        var half = Path.Combine(_dir, "f16.h5");
        Extract(images, full);
        using (var graph = ModelLoader.Load(ExtractionFixtures.Model))
            FeatureExtractor.Run(graph, ExtractionFixtures.Model, ImageDataset.Open(images), half, new ExtractionOptions
            {
                Reducer = "gap", BatchSize = 4, Threads = 2, BlockRows = 4, Float16 = true, Preprocessing = ExtractionFixtures.Preprocessing,
            });
        var a = FeatureStore.Open(full);
        var b = FeatureStore.Open(half);
        Assert.Equal("float16", b.Provenance.DType);
        foreach (var layer in a.Layers)
            Assert.Equal(a.Read(layer.Name).Select(v => (float)(Half)v), b.Read(layer.Name));
        var psi = new ProcessStartInfo("/usr/bin/python3") { RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add("-c");
        psi.ArgumentList.Add("import h5py,sys; f=h5py.File(sys.argv[1],'r'); print(sorted({str(d.dtype) for d in f['features'].values()}))");
        psi.ArgumentList.Add(half);
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        Assert.Equal("['float16']", stdout.Trim());
    }
    [Fact]
    public void Features_command_reports_an_unfinished_run_with_its_finished_blocks()
    {
        var images = Path.Combine(_dir, "img");
        ExtractionFixtures.MakeImages(images, 4);
        Directory.CreateDirectory(Path.Combine(images, "zz"));
        File.WriteAllText(Path.Combine(images, "zz", "broken.png"), "not a png");
        var output = Path.Combine(_dir, "f.h5");
        var err = new StringWriter();
        int rc = LayerLens.Cli.CliApp.Run(new[] { "extract", ExtractionFixtures.Model, "--images", images, "--resize", "64", "--crop", "64",
            "--batch", "2", "--block-rows", "2", "--out", output }, new StringWriter(), err);
        Assert.Equal(2, rc);
        Assert.Contains("zz/broken.png", err.ToString());
        var sw = new StringWriter();
        rc = LayerLens.Cli.CliApp.Run(new[] { "features", output }, sw, err);
        Assert.Equal(0, rc);
        Assert.Contains("incomplete; 2 finished blocks (4 images)", sw.ToString());
    }
}
