using LayerLens.Preprocessing;
using System.CommandLine;
using System.Globalization;
using LayerLens.Classification;
using LayerLens.Detection;
using LayerLens.Explain;
using LayerLens.Explain.Corpus;
using LayerLens.Zoo;

namespace LayerLens.Cli.Commands;

/// <summary>`layerlens explain MODEL --images DIR --method gradcam --layer L --out DIR`: CAMs over a corpus, with objects and edits.</summary>
public static class ExplainCommand
{
    public static Command Build()
    {
        var model = new Argument<string>("model") { Description = "Classifier: zoo:NAME, or a model file with --labels (and --preset or a sidecar)." };
        var images = new Option<string>("--images") { Description = "Folder of images, or a manifest (one path per line, or id,path lines).", Required = true };
        var method = new Option<string>("--method", "-m") { Description = "CAM methods, comma-separated: cam, gradcam, gradcampp, xgradcam, hirescam, layercam, scorecam, ablationcam, eigencam, eigengradcam.", DefaultValueFactory = _ => "gradcam" };
        var layer = new Option<string>("--layer", "-l") { Description = "Target layer(s), comma-separated (see `layerlens layers MODEL`); several are averaged.", Required = true };
        var target = new Option<string>("--target") { Description = "Class explained: top1 (or topK), a class index or a class name.", DefaultValueFactory = _ => "top1" };
        var detector = new Option<string?>("--detector") { Description = "Object detector whose boxes are scored against the maps: zoo:NAME, or a model file with --detector-head and --detector-preprocess." };
        var modify = new Option<string?>("--modify") { Description = "Edits whose effect is measured: remove:CATEGORY[:grey|mean|noise|blur], paste:CATEGORY, grayscale, hflip, crop[:F], brightness[:F], contrast[:F], blur[:SIGMA], jpeg[:Q]." };
        var outDir = new Option<string>("--out", "-o") { Description = "Output folder (maps/, overlays/, images/, tables/, charts/, report.html, gallery.html).", Required = true };
        var minDet = new Option<double>("--min-detection-score") { Description = "Drop boxes scoring below this.", DefaultValueFactory = _ => 0.3 };
        var minConf = new Option<double>("--min-confidence") { Description = "Leave images whose top class scores below this out of the corpus tables.", DefaultValueFactory = _ => 0.0 };
        var minImp = new Option<double>("--min-importance") { Description = "Leave objects whose importance (mean CAM in the box) is below this out of the corpus tables.", DefaultValueFactory = _ => 0.0 };
        var categories = new Option<string?>("--categories") { Description = "Object categories for the corpus tables, comma-separated (default: all found)." };
        var seed = new Option<int>("--seed") { Description = "Seed for permutations, bootstrap and noise fills.", DefaultValueFactory = _ => 0 };
        var permutations = new Option<int>("--permutations") { Description = "Permutations for the enrichment and agreement tests.", DefaultValueFactory = _ => 1000 };
        var batch = new Option<int>("--batch-size") { Description = "Images per CAM batch.", DefaultValueFactory = _ => 8 };
        var softmax = new Option<bool>("--softmax") { Description = "Explain the softmax probability instead of the raw class score." };
        var augSmooth = new Option<bool>("--aug-smooth") { Description = "Average maps over horizontal flip × scales 0.9, 1, 1.1." };
        var eigenSmooth = new Option<bool>("--eigen-smooth") { Description = "Replace each map by the first principal component of the weighted activations." };
        var noOverlays = new Option<bool>("--no-overlays") { Description = "Do not write an overlay PNG per image and method." };
        var detHead = new Option<string?>("--detector-head") { Description = $"Output decoder of a --detector that is not in the zoo: {string.Join(", ", DetectionHeads.Names)}." };
        var detPreprocess = new Option<string?>("--detector-preprocess") { Description = "Preprocessing preset of a --detector that is not in the zoo (default: its sidecar MODEL.layerlens.json, else imagenet)." };
        var detLabels = new Option<string?>("--detector-labels") { Description = "Label set or file of a --detector that is not in the zoo (default coco80)." };
        var labels = new Option<string?>("--labels") { Description = "Label set (emotion7, coco80) or label file (default: the zoo entry's)." };
        var output = new Option<string?>("--output") { Description = "Model output holding the class scores (default: the first)." };
        var pre = PreprocessingOptions.Create("the zoo entry's, else the model's sidecar, else imagenet");
        var device = CommonOptions.Device();
        var cmd = new Command("explain",
            "Class activation maps over a corpus, EmoCAM style: per image the top class, a map per method and the objects a\n" +
            "detector finds with their importance (mean map value in the box); over the corpus class × object tables with\n" +
            "enrichment tests, Dice/Jaccard association matrices and the agreement between methods; optionally the effect of\n" +
            "image edits on the prediction. Writes maps/ID.METHOD.npy, overlays/, images/ID.json, tables/*.csv, charts/,\n" +
            "report.html and gallery.html.\n\n" +
            "Example:\n" +
            "  layerlens explain zoo:emotion --images photos/ --method gradcam,gradcampp --layer conv2d_5 --detector zoo:nanodet --modify remove:person,grayscale --out expl")
        { model, images, method, layer, target, detector, modify, outDir, minDet, minConf, minImp, categories, seed, permutations, batch, softmax, augSmooth, eigenSmooth, noOverlays, detHead, detPreprocess, detLabels, labels, output, device };
        pre.AddTo(cmd);
        cmd.SetAction(parse => CommonOptions.Guard(parse, () =>
        {
            var methods = CamMethodNames.ParseList(parse.GetValue(method)!);
            var mods = ImageModification.ParseList(parse.GetValue(modify));
            if (parse.GetValue(batch) < 1) throw new LayerLensException("--batch-size must be at least 1", ErrorKind.Usage);
            if (parse.GetValue(permutations) < 0) throw new LayerLensException("--permutations must not be negative", ErrorKind.Usage);
            var dev = parse.GetValue(device)!;
            var (graph, entry) = ImageSetOptions.LoadModel(parse.GetValue(model)!, dev);
            using (graph)
            {
                ImageClassifier classifier;
                var overrides = pre.Overrides(parse);
                if (entry != null && overrides.Count == 0 && parse.GetValue(labels) == null && parse.GetValue(output) == null)
                    classifier = ImageClassifier.ForZoo(graph, entry);
                else
                {
                    var labelSet = parse.GetValue(labels) is { } l ? LabelSet.Load(l)
                        : entry?.LoadLabels() ?? throw new LayerLensException("give --labels for a model that is not in the zoo", ErrorKind.Usage);
                    classifier = new ImageClassifier(graph, PreprocessingSpec.Resolve(parse.GetValue(model)!, overrides), labelSet, parse.GetValue(output));
                }
                Models.Engine.ModelGraph? detGraph = null;
                try
                {
                    ObjectDetector? det = null;
                    if (parse.GetValue(detector) is { } dspec)
                    {
                        var (dg, dentry) = ImageSetOptions.LoadModel(dspec, dev);
                        detGraph = dg;
                        if (dentry != null) det = ObjectDetector.ForZoo(dg, dentry);
                        else
                        {
                            var dpre = parse.GetValue(detPreprocess) is { } dp ? PreprocessingSpec.FromPreset(dp) : PreprocessingSpec.Resolve(dspec);
                            var dhead = DetectionHeads.Get(parse.GetValue(detHead)
                                ?? throw new LayerLensException($"--detector '{dspec}' is not in the zoo: give --detector-head", ErrorKind.Usage));
                            det = new ObjectDetector(dg, dpre, dhead, LabelSet.Load(parse.GetValue(detLabels) ?? "coco80"));
                        }
                    }
                    var stdout = parse.InvocationConfiguration.Output;
                    var summary = CliProgress.Run(stdout, progress => CorpusExplainer.Run(new CorpusRunOptions
                    {
                        Images = new[] { parse.GetValue(images)! },
                        Classifier = classifier,
                        Detector = det,
                        Methods = methods.Select(CamMethodNames.Name).ToList(),
                        Layers = parse.GetValue(layer)!.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries),
                        Target = parse.GetValue(target)!,
                        Modifications = mods.Select(m => m.Name).ToList(),
                        OutputDir = parse.GetValue(outDir)!,
                        MinDetectionScore = parse.GetValue(minDet),
                        MinClassConfidence = parse.GetValue(minConf),
                        MinImportance = parse.GetValue(minImp),
                        Categories = parse.GetValue(categories)?.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries),
                        Seed = parse.GetValue(seed),
                        Permutations = parse.GetValue(permutations),
                        BatchSize = parse.GetValue(batch),
                        Score = parse.GetValue(softmax) ? CamScore.Softmax : CamScore.Raw,
                        AugSmooth = parse.GetValue(augSmooth),
                        EigenSmooth = parse.GetValue(eigenSmooth),
                        Overlays = !parse.GetValue(noOverlays),
                    }, progress));
                    var err = parse.InvocationConfiguration.Error;
                    foreach (var r in summary.Images.Take(20))
                        err.WriteLine($"{r.Id}: {r.TopClass} {r.Confidence.ToString("0.000", CultureInfo.InvariantCulture)}, {r.Detections} objects");
                    if (summary.Images.Count > 20) err.WriteLine($"... {summary.Images.Count - 20} more images");
                    stdout.WriteLine(summary.ReportPath);
                    return 0;
                }
                finally { detGraph?.Dispose(); }
            }
        }));
        return cmd;
    }
}
