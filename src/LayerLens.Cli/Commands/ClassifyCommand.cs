using System.CommandLine;
using System.Globalization;
using LayerLens.Classification;
using LayerLens.Images;
using LayerLens.Zoo;

namespace LayerLens.Cli.Commands;

/// <summary>`layerlens classify MODEL --images DIR --out PREDICTIONS.csv`: top-k classes per image.</summary>
public static class ClassifyCommand
{
    public static Command Build()
    {
        var model = new Argument<string>("model") { Description = "Classifier: zoo:NAME, or a model file with --labels and --preprocess." };
        var images = new Option<string>("--images") { Description = "Folder of images, or a manifest (one path per line, or id,path lines).", Required = true };
        var outFile = new Option<string>("--out", "-o") { Description = "CSV file to write (columns id, rank, label, probability).", Required = true };
        var top = new Option<int>("--top") { Description = "Classes per image.", DefaultValueFactory = _ => 5 };
        var labels = new Option<string?>("--labels") { Description = "Label set (emotion7, coco80) or label file, one name per line (default: the zoo entry's)." };
        var preprocess = new Option<string?>("--preprocess") { Description = $"Preprocessing preset: {string.Join(", ", PreprocessPreset.All.Select(p => p.Name))} (default: the zoo entry's)." };
        var output = new Option<string?>("--output") { Description = "Model output holding the class scores (default: the first)." };
        var size = CommonOptions.InputSize();
        var device = CommonOptions.Device();
        var cmd = new Command("classify",
            "Classify images: probabilities (softmax applied when the model gives logits) and the top-k labels per image.\n\n" +
            "Examples:\n" +
            "  layerlens classify zoo:emotion --images faces/ --out emotions.csv\n" +
            "  layerlens classify model.onnx --labels labels.txt --preprocess rgb01-nchw --images photos/ --top 3 --out predictions.csv")
        { model, images, outFile, top, labels, preprocess, output, size, device };
        cmd.SetAction(parse => CommonOptions.Guard(parse, () =>
        {
            if (parse.GetValue(top) < 1) throw new LayerLensException("--top must be at least 1", ErrorKind.Usage);
            var (graph, entry) = ImageSetOptions.LoadModel(parse.GetValue(model)!, parse.GetValue(device)!);
            using (graph)
            {
                var presetName = parse.GetValue(preprocess) ?? entry?.Preprocess
                    ?? throw new LayerLensException("give --preprocess for a model that is not in the zoo", ErrorKind.Usage);
                var labelName = parse.GetValue(labels) ?? entry?.Labels
                    ?? throw new LayerLensException("give --labels for a model that is not in the zoo", ErrorKind.Usage);
                var preset = PreprocessPreset.Get(presetName);
                var (h, w) = ImageSetOptions.InputSize(graph, entry, parse.GetValue(size), preset.Nchw);
                var classifier = new ImageClassifier(graph, preset, LabelSet.Load(labelName), h, w, parse.GetValue(output));
                var rows = new List<string> { "id,rank,label,probability" };
                foreach (var (id, path) in ImageSetOptions.List(parse.GetValue(images)!))
                {
                    var ranked = classifier.Classify(ImageDecoder.Decode(path), parse.GetValue(top));
                    foreach (var r in ranked)
                        rows.Add($"{Csv(id)},{r.Rank},{Csv(r.Label)},{r.Probability.ToString("0.######", CultureInfo.InvariantCulture)}");
                    parse.InvocationConfiguration.Error.WriteLine($"{id}: {ranked[0].Label} {ranked[0].Probability.ToString("0.000", CultureInfo.InvariantCulture)}");
                }
                var file = parse.GetValue(outFile)!;
                ImageSetOptions.WriteAtomically(file, wr => { foreach (var l in rows) wr.WriteLine(l); });
                parse.InvocationConfiguration.Output.WriteLine(file);
                return 0;
            }
        }));
        return cmd;
    }

    static string Csv(string s) => s.IndexOfAny(new[] { ',', '"', '\n' }) >= 0 ? "\"" + s.Replace("\"", "\"\"") + "\"" : s;
}
