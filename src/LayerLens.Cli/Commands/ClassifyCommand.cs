using System.CommandLine;
using System.Globalization;
using System.Text;
using LayerLens.Classification;
using LayerLens.Detection;
using LayerLens.Images;
using LayerLens.Preprocessing;
using LayerLens.IO;
using LayerLens.Models;

namespace LayerLens.Cli.Commands;

/// <summary>`layerlens classify MODEL --images DIR --out PREDICTIONS.csv`: top-k classes per image.</summary>
public static class ClassifyCommand
{
    public static Command Build()
    {
        var model = new Argument<string>("model") { Description = "Classifier: zoo:NAME, or a model file with --labels (and --preset or a sidecar)." };
        var images = new Option<string>("--images") { Description = "Folder of images, or a manifest (one path per line, or id,path lines).", Required = true };
        var outFile = new Option<string>("--out", "-o") { Description = "CSV file to write (columns id, rank, label, probability).", Required = true };
        var top = new Option<int>("--top") { Description = "Classes per image.", DefaultValueFactory = _ => 5 };
        var labels = new Option<string?>("--labels") { Description = $"Label set ({string.Join(", ", LabelSet.BuiltIn)}) or label file, one name per line (default: the zoo entry's)." };
        var output = new Option<string?>("--output") { Description = "Model output holding the class scores (default: the zoo entry's, else the first)." };
        var faceCrop = new Option<bool>("--face-crop") { Description = "Find the largest face with zoo:blazeface and classify a square crop around it (images without a face are skipped and listed)." };
        var faceMargin = new Option<double>("--face-margin") { Description = "Border added on each side of the face, as a fraction of its size.", DefaultValueFactory = _ => 0.25 };
        var device = CommonOptions.Device();
        var pre = PreprocessingOptions.Create();
        var cmd = new Command("classify",
            "Classify images: probabilities (softmax applied when the model gives logits) and the top-k labels per image.\n\n" +
            "Examples:\n" +
            "  layerlens classify zoo:emotion --images photos/ --face-crop --out emotions.csv\n" +
            "  layerlens classify model.onnx --labels labels.txt --preset imagenet --images photos/ --top 3 --out predictions.csv")
        { model, images, outFile, top, labels, output, faceCrop, faceMargin, device };
        pre.AddTo(cmd);
        cmd.SetAction(parse => CommonOptions.Guard(parse, () =>
        {
            if (parse.GetValue(top) < 1) throw new LayerLensException("--top must be at least 1", ErrorKind.Usage);
            var err = parse.InvocationConfiguration.Error;
            var modelSpec = parse.GetValue(model)!;
            var (graph, entry) = ImageSetOptions.LoadModel(modelSpec, parse.GetValue(device)!);
            using (graph)
            {
                var labelSet = parse.GetValue(labels) is { } l ? LabelSet.Load(l)
                    : entry?.LoadLabels() ?? throw new LayerLensException("give --labels for a model that is not in the zoo", ErrorKind.Usage);
                var preprocessing = PreprocessingSpec.Resolve(modelSpec, pre.Overrides(parse));
                var classifier = new ImageClassifier(graph, preprocessing, labelSet, parse.GetValue(output) ?? entry?.Output);
                using var cropper = parse.GetValue(faceCrop)
                    ? FaceCropper.FromZoo(margin: parse.GetValue(faceMargin), device: ComputeDevice.Parse(parse.GetValue(device)!))
                    : null;
                var csv = new StringBuilder("id,rank,label,probability\n");
                var noFace = new List<string>();
                CliProgress.Items(parse.InvocationConfiguration.Output, err, "classify", "images", ImageSetOptions.List(parse.GetValue(images)!), item =>
                {
                    var (id, path) = item;
                    var image = ImageDecoder.Decode(path);
                    string where = "";
                    if (cropper != null)
                    {
                        var face = cropper.Find(image);
                        if (face == null)
                        {
                            noFace.Add(id);
                            return $"{id}: no face found, skipped";
                        }
                        image = face.Image;
                        where = $" (face [{face.X},{face.Y},{face.X + face.Width},{face.Y + face.Height}])";
                    }
                    var ranked = classifier.Classify(image, parse.GetValue(top));
                    foreach (var r in ranked)
                        csv.Append(CultureInfo.InvariantCulture, $"{Csv(id)},{r.Rank},{Csv(r.Label)},{r.Probability.ToString("0.######", CultureInfo.InvariantCulture)}\n");
                    return $"{id}: {ranked[0].Label} {ranked[0].Probability.ToString("0.000", CultureInfo.InvariantCulture)}{where}";
                });
                var file = parse.GetValue(outFile)!;
                AtomicFile.WriteAllText(file, csv.ToString());
                if (noFace.Count > 0) err.WriteLine($"images without a face (skipped): {noFace.Count}");
                parse.InvocationConfiguration.Output.WriteLine(file);
                return 0;
            }
        }));
        return cmd;
    }

    static string Csv(string s) => s.IndexOfAny(new[] { ',', '"', '\n' }) >= 0 ? "\"" + s.Replace("\"", "\"\"") + "\"" : s;
}
