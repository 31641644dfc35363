using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using LayerLens.Classification;
using LayerLens.Detection;
using LayerLens.Images;
using LayerLens.Preprocessing;
using LayerLens.IO;

namespace LayerLens.Cli.Commands;

/// <summary>`layerlens detect MODEL --images DIR --out DIR`: boxes per image as JSON lines, optional overlays.</summary>
public static class DetectCommand
{
    public static Command Build()
    {
        var model = new Argument<string>("model") { Description = "Detector: zoo:NAME, or a model file with --head (and --preset or a sidecar)." };
        var images = new Option<string>("--images") { Description = "Folder of images, or a manifest (one path per line, or id,path lines).", Required = true };
        var outDir = new Option<string>("--out", "-o") { Description = "Output folder for detections.jsonl (and overlays/).", Required = true };
        var minScore = new Option<float>("--min-score") { Description = "Drop boxes scoring below this.", DefaultValueFactory = _ => 0.3f };
        var iou = new Option<float>("--iou") { Description = "Per-class NMS overlap threshold.", DefaultValueFactory = _ => 0.5f };
        var overlays = new Option<bool>("--overlays") { Description = "Also write overlays/ID.png with the boxes drawn." };
        var head = new Option<string?>("--head") { Description = $"Output decoder: {string.Join(", ", DetectionHeads.Names)} (default: the zoo entry's)." };
        var labels = new Option<string?>("--labels") { Description = $"Label set ({string.Join(", ", LabelSet.BuiltIn)}) or label file, one name per line (default: the zoo entry's, else coco80)." };
        var device = CommonOptions.Device();
        var pre = PreprocessingOptions.Create();
        var cmd = new Command("detect",
            "Detect objects in images. Writes OUT/detections.jsonl, one line per image:\n" +
            "{\"id\", \"width\", \"height\", \"detections\": [{\"label\", \"score\", \"box\": [x0, y0, x1, y1]}]} in original pixels.\n\n" +
            "Examples:\n" +
            "  layerlens detect zoo:nanodet --images photos/ --out det\n" +
            "  layerlens detect zoo:centernet --images photos/ --min-score 0.4 --overlays --out det\n" +
            "  layerlens detect yolov8n.onnx --head yolov8 --preset yolo --images photos/ --out det")
        { model, images, outDir, minScore, iou, overlays, head, labels, device };
        pre.AddTo(cmd);
        cmd.SetAction(parse => CommonOptions.Guard(parse, () =>
        {
            var modelSpec = parse.GetValue(model)!;
            var (graph, entry) = ImageSetOptions.LoadModel(modelSpec, parse.GetValue(device)!);
            using (graph)
            {
                var headName = parse.GetValue(head) ?? entry?.Head
                    ?? throw new LayerLensException("give --head for a model that is not in the zoo", ErrorKind.Usage);
                var labelSet = parse.GetValue(labels) is { } l ? LabelSet.Load(l) : entry?.LoadLabels() ?? LabelSet.Load("coco80");
                var preprocessing = PreprocessingSpec.Resolve(modelSpec, pre.Overrides(parse));
                var detector = new ObjectDetector(graph, preprocessing, DetectionHeads.Get(headName), labelSet);
                var options = new DetectionOptions(parse.GetValue(minScore), parse.GetValue(iou));
                var list = ImageSetOptions.List(parse.GetValue(images)!);
                var dir = parse.GetValue(outDir)!;
                Directory.CreateDirectory(dir);
                var lines = new List<string>();
                CliProgress.Items(parse.InvocationConfiguration.Output, parse.InvocationConfiguration.Error, "detect", "images", list, item =>
                {
                    var (id, path) = item;
                    var image = ImageDecoder.Decode(path);
                    var dets = detector.Detect(image, options);
                    lines.Add(JsonSerializer.Serialize(new
                    {
                        id, width = image.Width, height = image.Height,
                        detections = dets.Select(d => new { label = d.Label, score = Math.Round(d.Score, 5), box = new[] { R(d.X0), R(d.Y0), R(d.X1), R(d.Y1) } }),
                    }));
                    if (parse.GetValue(overlays))
                        ImageEncoder.Save(Overlay.Draw(image, dets), Path.Combine(dir, "overlays", id + ".png"));
                    return $"{id}: {dets.Count} objects{(dets.Count > 0 ? " (" + string.Join(", ", dets.Take(5).Select(d => $"{d.Label} {d.Score.ToString("0.00", CultureInfo.InvariantCulture)}")) + ")" : "")}";
                });
                AtomicFile.WriteAllText(Path.Combine(dir, "detections.jsonl"), string.Concat(lines.Select(line => line + "\n")));
                parse.InvocationConfiguration.Output.WriteLine(Path.Combine(dir, "detections.jsonl"));
                return 0;
            }
        }));
        return cmd;
    }

    static double R(float v) => Math.Round(v, 2);
}
