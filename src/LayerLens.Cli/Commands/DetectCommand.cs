using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using LayerLens.Classification;
using LayerLens.Detection;
using LayerLens.Images;
using LayerLens.Zoo;

namespace LayerLens.Cli.Commands;

/// <summary>`layerlens detect MODEL --images DIR --out DIR`: boxes per image as JSON lines, optional overlays.</summary>
public static class DetectCommand
{
    public static Command Build()
    {
        var model = new Argument<string>("model") { Description = "Detector: zoo:NAME, or a model file with --head and --preprocess." };
        var images = new Option<string>("--images") { Description = "Folder of images, or a manifest (one path per line, or id,path lines).", Required = true };
        var outDir = new Option<string>("--out", "-o") { Description = "Output folder for detections.jsonl (and overlays/).", Required = true };
        var minScore = new Option<float>("--min-score") { Description = "Drop boxes scoring below this.", DefaultValueFactory = _ => 0.3f };
        var iou = new Option<float>("--iou") { Description = "Per-class NMS overlap threshold.", DefaultValueFactory = _ => 0.5f };
        var overlays = new Option<bool>("--overlays") { Description = "Also write overlays/ID.png with the boxes drawn." };
        var head = new Option<string?>("--head") { Description = $"Output decoder: {string.Join(", ", DetectionHeads.Names)} (default: the zoo entry's)." };
        var labels = new Option<string?>("--labels") { Description = "Label set (coco80) or label file, one name per line (default: the zoo entry's, else coco80)." };
        var preprocess = new Option<string?>("--preprocess") { Description = $"Preprocessing preset: {string.Join(", ", PreprocessPreset.All.Select(p => p.Name))} (default: the zoo entry's)." };
        var size = CommonOptions.InputSize();
        var device = CommonOptions.Device();
        var cmd = new Command("detect",
            "Detect objects in images. Writes OUT/detections.jsonl, one line per image:\n" +
            "{\"id\", \"width\", \"height\", \"detections\": [{\"label\", \"score\", \"box\": [x0, y0, x1, y1]}]} in original pixels.\n\n" +
            "Examples:\n" +
            "  layerlens detect zoo:nanodet --images photos/ --out det\n" +
            "  layerlens detect zoo:centernet --images photos/ --min-score 0.4 --overlays --out det\n" +
            "  layerlens detect yolov8n.onnx --head yolov8 --preprocess rgb01-nchw-letterbox-gray114 --images photos/ --out det")
        { model, images, outDir, minScore, iou, overlays, head, labels, preprocess, size, device };
        cmd.SetAction(parse => CommonOptions.Guard(parse, () =>
        {
            var (graph, entry) = ImageSetOptions.LoadModel(parse.GetValue(model)!, parse.GetValue(device)!);
            using (graph)
            {
                var presetName = parse.GetValue(preprocess) ?? entry?.Preprocess
                    ?? throw new LayerLensException("give --preprocess for a model that is not in the zoo", ErrorKind.Usage);
                var headName = parse.GetValue(head) ?? entry?.Head
                    ?? throw new LayerLensException("give --head for a model that is not in the zoo", ErrorKind.Usage);
                var preset = PreprocessPreset.Get(presetName);
                var (h, w) = ImageSetOptions.InputSize(graph, entry, parse.GetValue(size), preset.Nchw);
                var labelSet = LabelSet.Load(parse.GetValue(labels) ?? entry?.Labels ?? "coco80");
                var detector = new ObjectDetector(graph, preset, DetectionHeads.Get(headName), labelSet, h, w);
                var options = new DetectionOptions(parse.GetValue(minScore), parse.GetValue(iou));
                var list = ImageSetOptions.List(parse.GetValue(images)!);
                var dir = parse.GetValue(outDir)!;
                Directory.CreateDirectory(dir);
                var lines = new List<string>();
                foreach (var (id, path) in list)
                {
                    var image = ImageDecoder.Decode(path);
                    var dets = detector.Detect(image, options);
                    lines.Add(JsonSerializer.Serialize(new
                    {
                        id, width = image.Width, height = image.Height,
                        detections = dets.Select(d => new { label = d.Label, score = Math.Round(d.Score, 5), box = new[] { R(d.X0), R(d.Y0), R(d.X1), R(d.Y1) } }),
                    }));
                    if (parse.GetValue(overlays))
                        ImageEncoder.Save(Overlay.Draw(image, dets), Path.Combine(dir, "overlays", id + ".png"));
                    parse.InvocationConfiguration.Error.WriteLine($"{id}: {dets.Count} objects{(dets.Count > 0 ? " (" + string.Join(", ", dets.Take(5).Select(d => $"{d.Label} {d.Score.ToString("0.00", CultureInfo.InvariantCulture)}")) + ")" : "")}");
                }
                ImageSetOptions.WriteAtomically(Path.Combine(dir, "detections.jsonl"), wr => { foreach (var l in lines) wr.WriteLine(l); });
                parse.InvocationConfiguration.Output.WriteLine(Path.Combine(dir, "detections.jsonl"));
                return 0;
            }
        }));
        return cmd;
    }

    static double R(float v) => Math.Round(v, 2);
}
