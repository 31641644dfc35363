using System.Globalization;
using LayerLens.Cli;
using LayerLens.Images;
using LayerLens.Models;

namespace LayerLens.Tests.Training;

public class FinetuneCliTests
{
    static (int Code, string Out, string Err) Cli(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int code = CliApp.Run(args, stdout, stderr);
        return (code, stdout.ToString(), stderr.ToString());
    }

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
        var (code, output, err) = Cli("finetune", TestPaths.DemoModel, "--train", train, "--val", val, "--target", "score",
            "--train-layers", "last:2", "--epochs", "2", "--batch", "16", "--preset", "raw", "--resize", "48x48", "--out", outDir);
        Assert.True(code == 0, err + output);
        Assert.Contains("epoch 2/2", output);
        Assert.Contains("ETA", output);
        foreach (var f in new[] { "model.onnx", "metrics.csv", "curves.svg", "run.json", "checkpoints/best.ckpt" })
            Assert.True(File.Exists(Path.Combine(outDir, f)), f);
        var metrics = File.ReadAllLines(Path.Combine(outDir, "metrics.csv"));
        Assert.Equal(3, metrics.Length);
        Assert.StartsWith("epoch,learning_rate,train_loss,metric,validation", metrics[0]);

        using (var saved = ModelLoader.Load(Path.Combine(outDir, "model.onnx")))
            Assert.Equal(new[] { "layerlens_head" }, saved.OutputNames);
        (code, output, err) = Cli("evaluate", Path.Combine(outDir, "model.onnx"), "--data", val, "--target", "score", "--preset", "raw", "--resize", "48x48");
        Assert.True(code == 0, err + output);
        Assert.Contains("16 images", output);
        Assert.Matches(@"spearman -?[01]\.\d{4}", output);

        // Starting again with the same options resumes from the finished checkpoint instead of retraining.
        (code, output, err) = Cli("finetune", TestPaths.DemoModel, "--train", train, "--val", val, "--target", "score",
            "--train-layers", "last:2", "--epochs", "2", "--batch", "16", "--preset", "raw", "--resize", "48x48", "--out", outDir);
        Assert.True(code == 0, err + output);
        Assert.Contains("resuming after epoch 2", output);
        Assert.DoesNotContain("epoch 1/2", output);
    }

    [Fact]
    public void Finetune_names_a_missing_target_column()
    {
        var dir = TestPaths.NewTempDir();
        var train = WriteSet(dir, "train", 4, 1);
        var (code, _, err) = Cli("finetune", TestPaths.DemoModel, "--train", train, "--val", train, "--target", "memorability",
            "--preset", "raw", "--out", Path.Combine(dir, "ft"));
        Assert.Equal(2, code);
        Assert.Contains("no column 'memorability'", err);
    }
}
