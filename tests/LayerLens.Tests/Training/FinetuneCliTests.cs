using System.Diagnostics;
using System.Globalization;
using LayerLens.Images;
using LayerLens.Models;

namespace LayerLens.Tests.Training;

public class FinetuneCliTests
{
    /// <summary>Writes generated square images as PNG files with a manifest (path, score).</summary>
    static string WriteSet(string dir, string name, int n, int seed)
    {
        var (images, targets) = FineTuneTests.Squares(n, seed, 48);
        var folder = Path.Combine(dir, name);
        Directory.CreateDirectory(folder);
        var lines = new List<string> { "path,score" };
        for (int i = 0; i < n; i++)
        {
            var file = $"{name}/img{i:D3}.png";
            ImageEncoder.Save(RgbImage.FromChwTensor(images[i]), Path.Combine(dir, file));
            lines.Add($"{file},{targets[i].item<float>().ToString(CultureInfo.InvariantCulture)}");
        }
        var manifest = Path.Combine(dir, name + ".csv");
        File.WriteAllLines(manifest, lines);
        return manifest;
    }

    [Fact]
    public void Finetune_writes_model_metrics_and_curves_and_evaluate_scores_the_saved_model()
    {
        var dir = TestPaths.NewTempDir();
        var train = WriteSet(dir, "train", 48, 31);
        var val = WriteSet(dir, "val", 16, 32);
        var outDir = Path.Combine(dir, "ft");
        var (code, output, err) = TestPaths.Cli("finetune", TestPaths.DemoModel, "--train", train, "--val", val, "--target", "score",
            "--train-layers", "last:2", "--epochs", "2", "--batch", "16", "--preset", "raw", "--resize", "48x48", "--out", outDir);
        Assert.True(code == 0, err + output);
        Assert.Contains("epoch 2/2", output);
        Assert.Contains("ETA", output);
        foreach (var f in new[] { "model.onnx", "model.layerlens.json", "metrics.csv", "curves.png", "curves.svg", "run.json", "checkpoints/best.ckpt" })
            Assert.True(File.Exists(Path.Combine(outDir, f)), f);
        var metrics = File.ReadAllLines(Path.Combine(outDir, "metrics.csv"));
        Assert.Equal(3, metrics.Length);
        Assert.StartsWith("epoch,learning_rate,train_loss,metric,validation", metrics[0]);

        using (var saved = ModelLoader.Load(Path.Combine(outDir, "model.onnx")))
            Assert.Equal(new[] { "layerlens_head" }, saved.OutputNames);
        (code, output, err) = TestPaths.Cli("evaluate", Path.Combine(outDir, "model.onnx"), "--data", val, "--target", "score", "--preset", "raw", "--resize", "48x48");
        Assert.True(code == 0, err + output);
        Assert.Contains("16 images", output);
        Assert.Matches(@"spearman -?[01]\.\d{4}", output);

        // Starting again with the same options resumes from the finished checkpoint instead of retraining.
        (code, output, err) = TestPaths.Cli("finetune", TestPaths.DemoModel, "--train", train, "--val", val, "--target", "score",
            "--train-layers", "last:2", "--epochs", "2", "--batch", "16", "--preset", "raw", "--resize", "48x48", "--out", outDir);
        Assert.True(code == 0, err + output);
        Assert.Contains("resuming after epoch 2", output);
        Assert.DoesNotContain("epoch 1/2", output);
    }

    [Fact]
    public void Finetune_of_a_zoo_tfjs_model_writes_an_onnx_model_that_evaluate_reads_with_its_preprocessing()
    {
        _ = TfJs.TfJsReference.HumanModelsDir;
        var dir = TestPaths.NewTempDir();
        var train = WriteSet(dir, "train", 24, 51);
        var val = WriteSet(dir, "val", 8, 52);
        var outDir = Path.Combine(dir, "ft");
        var (code, output, err) = TestPaths.Cli("finetune", "zoo:emotion", "--train", train, "--val", val, "--target", "score",
            "--train-layers", "all", "--epochs", "1", "--batch", "8", "--out", outDir);
        Assert.True(code == 0, err + output);
        var sidecar = File.ReadAllText(Path.Combine(outDir, "model.layerlens.json"));
        Assert.Contains("\"channels\": \"gray\"", sidecar);
        Assert.Contains("\"layout\": \"nhwc\"", sidecar);
        using (var saved = ModelLoader.Load(Path.Combine(outDir, "model.onnx")))
        {
            Assert.Equal("onnx", saved.Format);
            Assert.Equal(new[] { "layerlens_head" }, saved.OutputNames);
            Assert.Equal(new long[] { -1, 64, 64, 1 }, saved.Inputs[0].Shape);
        }
        // No preprocessing options: evaluate finds them in the sidecar (grey, 64×64, NHWC).
        (code, output, err) = TestPaths.Cli("evaluate", Path.Combine(outDir, "model.onnx"), "--data", val, "--target", "score");
        Assert.True(code == 0, err + output);
        Assert.Contains("8 images", output);
        Assert.Matches(@"spearman -?[01]\.\d{4}", output);
    }

    [Fact]
    public void Finetune_names_a_missing_target_column()
    {
        var dir = TestPaths.NewTempDir();
        var train = WriteSet(dir, "train", 4, 1);
        var (code, _, err) = TestPaths.Cli("finetune", TestPaths.DemoModel, "--train", train, "--val", train, "--target", "memorability",
            "--preset", "raw", "--out", Path.Combine(dir, "ft"));
        Assert.Equal(2, code);
        Assert.Contains("no column 'memorability'", err);
    }

    static string[] FinetuneArgs(string train, string val, string outDir) => new[]
    {
        "finetune", TestPaths.DemoModel, "--train", train, "--val", val, "--target", "score", "--train-layers", "all",
        "--epochs", "4", "--batch", "8", "--dropout", "0.1", "--augment", "--seed", "3", "--patience", "0",
        "--preset", "raw", "--resize", "48x48", "--out", outDir,
    };

    [Fact]
    public void Finetune_killed_twice_and_restarted_ends_with_the_same_model_as_an_uninterrupted_run()
    {
        var dir = TestPaths.NewTempDir();
        var train = WriteSet(dir, "train", 40, 41);
        var val = WriteSet(dir, "val", 12, 42);
        var whole = Path.Combine(dir, "whole");
        var (code, _, err) = TestPaths.Cli(FinetuneArgs(train, val, whole));
        Assert.True(code == 0, err);

        var killed = Path.Combine(dir, "killed");
        var last = Path.Combine(killed, "checkpoints", "last.ckpt");
        int kills = 0;
        // Once while the first epoch runs, once right after a later checkpoint was replaced.
        if (TestPaths.RunCliAndKill(FinetuneArgs(train, val, killed), () => Directory.Exists(Path.Combine(killed, "checkpoints")))) kills++;
        var before = File.Exists(last) ? File.GetLastWriteTimeUtc(last) : DateTime.MinValue;
        if (TestPaths.RunCliAndKill(FinetuneArgs(train, val, killed), () => File.Exists(last) && File.GetLastWriteTimeUtc(last) > before)) kills++;
        Assert.True(kills >= 1, "no run was killed before it finished");
        (code, _, err) = TestPaths.Cli(FinetuneArgs(train, val, killed));
        Assert.True(code == 0, err);
        Assert.Empty(Directory.GetFiles(Path.Combine(killed, "checkpoints"), "*.tmp-*"));

        using var a = ModelLoader.Load(Path.Combine(whole, "model.onnx"));
        using var b = ModelLoader.Load(Path.Combine(killed, "model.onnx"));
        Assert.Equal(a.Constants.Keys.Order(), b.Constants.Keys.Order());
        foreach (var (name, t) in a.Constants)
            Assert.True(t.dtype == b.Constants[name].dtype && t.allclose(b.Constants[name], 0, 0), $"{name} differs after kill and resume");
        Assert.Equal(File.ReadAllLines(Path.Combine(whole, "metrics.csv")).Select(l => string.Join(",", l.Split(',').Where((_, i) => i != 5))),
                     File.ReadAllLines(Path.Combine(killed, "metrics.csv")).Select(l => string.Join(",", l.Split(',').Where((_, i) => i != 5))));
    }
}
