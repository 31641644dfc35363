using LayerLens.Sweep;

namespace LayerLens.Tests.Sweep;

/// <summary>Sweep files: what is read, and errors that name the file and the line.</summary>
public sealed class SweepConfigTests : IDisposable
{
    readonly string _dir = TestPaths.NewTempDir();

    public SweepConfigTests()
    {
        Directory.CreateDirectory(Path.Combine(_dir, "images"));
        Directory.CreateDirectory(Path.Combine(_dir, "neural"));
        File.WriteAllText(Path.Combine(_dir, "scores.csv"), "id,score\na,1\n");
    }

    public void Dispose() => Directory.Delete(_dir, true);

    string Yaml(string body) => $"""
        images: images
        models:
          - name: tiny
            model: {SweepFixtures.Model}
            layers: op:Conv
            reducer: rp:32
            preprocessing:
              preset: imagenet
              resize: 64
              crop: 64
        targets:
          - name: mem
            scores: scores.csv
            cv: kfold:3
            readout: pls
          - neural: neural
            region: IT
            metric: cka
        {body}
        """;

    LayerLensException Error(string yaml)
    {
        var path = Path.Combine(_dir, "bad.yaml");
        File.WriteAllText(path, yaml);
        return Assert.Throws<LayerLensException>(() => SweepConfig.Load(path));
    }

    [Fact]
    public void Parses_models_targets_analysis_and_finetune_with_paths_relative_to_the_file()
    {
        File.WriteAllText(Path.Combine(_dir, "train.csv"), "path,score\n");
        var c = SweepConfig.Parse(Yaml("""
            seed: 7
            analysis: {accuracy: mem, bootstrap: 500}
            finetune:
              train: train.csv
              val: train.csv
              test: train.csv
              epochs: 3
              train_layers: last:2
              lr: 0.01
            """), _dir);
        Assert.Equal(7, c.Seed);
        Assert.Equal(Path.Combine(_dir, "images"), c.Images.Path);
        var m = Assert.Single(c.Models);
        Assert.Equal(("tiny", "op:Conv", "rp:32"), (m.Name, m.Layers, m.Reducer));
        Assert.Equal((64, 64), m.Preprocessing.CenterCrop!.Value);
        Assert.Equal(64, m.Preprocessing.ResizeShorter);
        Assert.Equal(new[] { 0.485f, 0.456f, 0.406f }, m.Preprocessing.Mean);
        var s = Assert.IsType<ScoreTarget>(c.Targets[0]);
        Assert.Equal((Path.Combine(_dir, "scores.csv"), "pls", "kfold:3", "spearman"), (s.File, s.Readout, s.Cv, s.PrimaryMetric));
        var n = Assert.IsType<NeuralTarget>(c.Targets[1]);
        Assert.Equal(("IT", "IT", "cka", "ceiled"), (n.Name, n.Region, n.Metric, n.PrimaryMetric));
        Assert.Equal(500, c.Analysis.Bootstrap);
        Assert.NotNull(c.FineTune);
        Assert.Equal(new[] { "tiny" }, c.FineTune!.Models);
        Assert.Equal((3, "last:2", 0.01, 7L), (c.FineTune.Options.Epochs, c.FineTune.Options.TrainLayers.ToString(), c.FineTune.Options.LearningRate, c.FineTune.Options.Seed));
    }

    [Fact]
    public void Errors_name_the_file_and_line()
    {
        var bad = Path.Combine(_dir, "bad.yaml");
        // Broken YAML: the unclosed flow mapping is reported where the parser gives up.
        var e = Error("images: images\nmodels: [\n  {name: a\n");
        Assert.StartsWith($"{bad}:", e.Message);
        Assert.Contains("not valid YAML", e.Message);

        e = Error(Yaml("colour: blue"));
        Assert.StartsWith($"{bad}:19: unknown top level key 'colour'", e.Message);

        e = Error(Yaml("").Replace(SweepFixtures.Model, "missing.onnx"));
        Assert.StartsWith($"{bad}:4: model file not found", e.Message);

        e = Error(Yaml("").Replace("metric: cka", "metric: cosine"));
        Assert.StartsWith($"{bad}:18: metric 'cosine'", e.Message);

        e = Error(Yaml("").Replace("reducer: rp:32", "reducer: blur"));
        Assert.StartsWith($"{bad}:6: unknown reducer 'blur'", e.Message);

        e = Error(Yaml("").Replace("resize: 64", "resize: big"));
        Assert.StartsWith($"{bad}:9:", e.Message);
        Assert.Contains("resize 'big'", e.Message);

        e = Error(Yaml("analysis:\n  brain: mem"));
        Assert.StartsWith($"{bad}:20: analysis.brain: 'mem' is not a neural target", e.Message);

        e = Error(Yaml("").Replace("- name: mem", "- name: IT"));
        Assert.StartsWith($"{bad}:16: target name 'IT' is used twice", e.Message);

        e = Error("images: images\nmodels: []\ntargets: []\n");
        Assert.StartsWith($"{bad}:2: models: the list is empty", e.Message);
        Assert.Equal(ErrorKind.BadInput, e.Kind);
    }
}
