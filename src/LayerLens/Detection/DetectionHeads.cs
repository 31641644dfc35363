using LayerLens.Classification;
using LayerLens.Zoo;
using TorchSharp;
using static TorchSharp.torch;

namespace LayerLens.Detection;

/// <summary>Score threshold, NMS overlap and the most boxes kept per image.</summary>
public sealed record DetectionOptions(float MinScore = 0.3f, float IouThreshold = 0.5f, int MaxDetections = 100);

/// <summary>Turns a detector's raw outputs into boxes in original image pixels.</summary>
public interface IDetectionHead
{
    List<DetectedObject> Decode(IReadOnlyDictionary<string, Tensor> outputs, InputPlacement placement, int inputHeight, int inputWidth, LabelSet labels, DetectionOptions options);
}

public static class DetectionHeads
{
    public static IReadOnlyList<string> Names { get; } = new[] { "nanodet", "centernet", "yolov5", "yolov8", "blazeface" };

    public static IDetectionHead Get(string name) => name switch
    {
        "nanodet" => new NanoDetHead(),
        "centernet" => new CenterNetHead(),
        "yolov5" => new YoloV5Head(),
        "yolov8" => new YoloV8Head(),
        "blazeface" => new BlazeFaceHead(),
        _ => throw new LayerLensException($"unknown detection head '{name}' (known: {string.Join(", ", Names)})", ErrorKind.BadInput),
    };

    internal static float[] Floats(Tensor t)
    {
        using var c = t.detach().to_type(ScalarType.Float32).cpu().contiguous();
        return c.data<float>().ToArray();
    }

    /// <summary>A box given in model-input pixels, mapped to the original photo.</summary>
    internal static DetectedObject ToOriginal(int cls, LabelSet labels, float score, double x0, double y0, double x1, double y1, InputPlacement p)
    {
        var (ox0, oy0) = p.ToOriginal(x0, y0);
        var (ox1, oy1) = p.ToOriginal(x1, y1);
        return new DetectedObject(cls, labels[cls], score, (float)ox0, (float)oy0, (float)ox1, (float)oy1);
    }
}

/// <summary>
/// NanoDet (GFL head): per stride 8/16/32, class scores [1, n, C] (already sigmoid) and box distributions [1, n, 4·11]:
/// each side (left, top, right, bottom) is a softmax over 11 bins whose expectation, times the stride, is the distance
/// from the cell centre. Outputs are matched to strides by their cell counts.
/// </summary>
public sealed class NanoDetHead : IDetectionHead
{
    public const int Bins = 11;

    public List<DetectedObject> Decode(IReadOnlyDictionary<string, Tensor> outputs, InputPlacement placement, int inputHeight, int inputWidth, LabelSet labels, DetectionOptions options)
    {
        var cls = outputs.Values.Where(t => t.dim() == 3 && t.shape[2] != 4 * Bins).ToList();
        var box = outputs.Values.Where(t => t.dim() == 3 && t.shape[2] == 4 * Bins).ToList();
        if (cls.Count == 0 || cls.Count != box.Count)
            throw new LayerLensException($"nanodet head: expected pairs of class [1,n,C] and box [1,n,{4 * Bins}] outputs, got {string.Join(" ", outputs.Values.Select(t => "[" + string.Join(",", t.shape) + "]"))}", ErrorKind.BadInput);
        var candidates = new List<DetectedObject>();
        foreach (var c in cls)
        {
            long n = c.shape[1];
            var b = box.FirstOrDefault(t => t.shape[1] == n)
                ?? throw new LayerLensException($"nanodet head: no box output with {n} cells", ErrorKind.BadInput);
            // Cells form a grid of inputHeight/stride × inputWidth/stride.
            int stride = Enumerable.Range(0, 7).Select(k => 1 << k).FirstOrDefault(s => (long)(inputHeight / s) * (inputWidth / s) == n);
            if (stride == 0) throw new LayerLensException($"nanodet head: {n} cells match no stride for a {inputHeight}x{inputWidth} input", ErrorKind.BadInput);
            int gridW = inputWidth / stride;
            long classes = c.shape[2];
            var scores = DetectionHeads.Floats(c);
            using var scope = torch.NewDisposeScope();
            var dist = b[0].reshape(n, 4, Bins).softmax(-1);
            var expectation = (dist * torch.arange(Bins, dtype: ScalarType.Float32)).sum(-1);
            var d = DetectionHeads.Floats(expectation);
            for (int i = 0; i < n; i++)
            {
                int best = 0;
                for (int k = 1; k < classes; k++) if (scores[i * classes + k] > scores[i * classes + best]) best = k;
                float score = scores[i * classes + best];
                if (score < options.MinScore) continue;
                double cx = (i % gridW + 0.5) * stride, cy = (i / gridW + 0.5) * stride;
                double x0 = cx - d[4 * i] * stride, y0 = cy - d[4 * i + 1] * stride;
                double x1 = cx + d[4 * i + 2] * stride, y1 = cy + d[4 * i + 3] * stride;
                candidates.Add(DetectionHeads.ToOriginal(best, labels, score, x0, y0, x1, y1, placement));
            }
        }
        return NonMaxSuppression.PerClass(candidates, options.IouThreshold, options.MaxDetections);
    }
}

/// <summary>CenterNet as exported in human-models: a [1, K, 6] output of (x0, y0, x1, y1, score, class) in input pixels.</summary>
public sealed class CenterNetHead : IDetectionHead
{
    public List<DetectedObject> Decode(IReadOnlyDictionary<string, Tensor> outputs, InputPlacement placement, int inputHeight, int inputWidth, LabelSet labels, DetectionOptions options)
    {
        var det = outputs.Values.FirstOrDefault(t => t.dim() == 3 && t.shape[2] == 6)
            ?? throw new LayerLensException("centernet head: no [1, K, 6] detections output", ErrorKind.BadInput);
        var v = DetectionHeads.Floats(det);
        var list = new List<DetectedObject>();
        for (long i = 0; i < det.shape[1]; i++)
        {
            float score = v[i * 6 + 4];
            if (score < options.MinScore) continue;
            list.Add(DetectionHeads.ToOriginal((int)v[i * 6 + 5], labels, score, v[i * 6], v[i * 6 + 1], v[i * 6 + 2], v[i * 6 + 3], placement));
        }
        return NonMaxSuppression.PerClass(list, options.IouThreshold, options.MaxDetections);
    }
}

/// <summary>YOLOv5 ONNX export: [1, boxes, 5 + C] of (cx, cy, w, h, objectness, class scores) in input pixels.</summary>
public sealed class YoloV5Head : IDetectionHead
{
    public List<DetectedObject> Decode(IReadOnlyDictionary<string, Tensor> outputs, InputPlacement placement, int inputHeight, int inputWidth, LabelSet labels, DetectionOptions options)
    {
        var t = outputs.Values.First();
        if (t.dim() != 3 || t.shape[2] < 6)
            throw new LayerLensException($"yolov5 head: expected [1, boxes, 5+C], got [{string.Join(",", t.shape)}]", ErrorKind.BadInput);
        return YoloV8Head.DecodeRows(DetectionHeads.Floats(t), t.shape[1], t.shape[2], objectness: true, placement, labels, options);
    }
}

/// <summary>YOLOv8 ONNX export: [1, 4 + C, boxes] of (cx, cy, w, h, class scores) in input pixels, no objectness.</summary>
public sealed class YoloV8Head : IDetectionHead
{
    public List<DetectedObject> Decode(IReadOnlyDictionary<string, Tensor> outputs, InputPlacement placement, int inputHeight, int inputWidth, LabelSet labels, DetectionOptions options)
    {
        var t = outputs.Values.First();
        if (t.dim() != 3 || t.shape[1] < 5)
            throw new LayerLensException($"yolov8 head: expected [1, 4+C, boxes], got [{string.Join(",", t.shape)}]", ErrorKind.BadInput);
        using var rows = t[0].transpose(0, 1).contiguous();
        return DecodeRows(DetectionHeads.Floats(rows), t.shape[2], t.shape[1], objectness: false, placement, labels, options);
    }

    internal static List<DetectedObject> DecodeRows(float[] v, long boxes, long width, bool objectness, InputPlacement placement, LabelSet labels, DetectionOptions options)
    {
        int first = objectness ? 5 : 4;
        var list = new List<DetectedObject>();
        for (long i = 0; i < boxes; i++)
        {
            long o = i * width;
            int best = 0;
            for (int k = 1; k < width - first; k++) if (v[o + first + k] > v[o + first + best]) best = k;
            float score = v[o + first + best] * (objectness ? v[o + 4] : 1f);
            if (score < options.MinScore) continue;
            float cx = v[o], cy = v[o + 1], w = v[o + 2], h = v[o + 3];
            list.Add(DetectionHeads.ToOriginal(best, labels, score, cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2, placement));
        }
        return NonMaxSuppression.PerClass(list, options.IouThreshold, options.MaxDetections);
    }
}

/// <summary>
/// MediaPipe BlazeFace (human-models' 256×256 back-camera graph): anchor sets of 2 per cell on a (size/16)² grid and
/// 6 per cell on a (size/8)² grid, each with a score logit [1, n, 1] and a box [1, n, 16] of (x, y) centre offset
/// from the anchor, width and height in input pixels, then six keypoints. Scores pass through a sigmoid; class 0.
/// </summary>
public sealed class BlazeFaceHead : IDetectionHead
{
    public List<DetectedObject> Decode(IReadOnlyDictionary<string, Tensor> outputs, InputPlacement placement, int inputHeight, int inputWidth, LabelSet labels, DetectionOptions options)
    {
        var scores = outputs.Values.Where(t => t.dim() == 3 && t.shape[2] == 1).ToList();
        var boxes = outputs.Values.Where(t => t.dim() == 3 && t.shape[2] >= 4 && t.shape[2] != 1).ToList();
        if (scores.Count == 0 || scores.Count != boxes.Count)
            throw new LayerLensException($"blazeface head: expected pairs of score [1,n,1] and box [1,n,16] outputs, got {string.Join(" ", outputs.Values.Select(t => "[" + string.Join(",", t.shape) + "]"))}", ErrorKind.BadInput);
        var anchorSets = new[] { (Stride: inputWidth / 16, PerCell: 2), (Stride: inputWidth / 8, PerCell: 6) };
        var candidates = new List<DetectedObject>();
        foreach (var sc in scores)
        {
            long n = sc.shape[1];
            var b = boxes.FirstOrDefault(t => t.shape[1] == n)
                ?? throw new LayerLensException($"blazeface head: no box output with {n} anchors", ErrorKind.BadInput);
            var set = anchorSets.FirstOrDefault(a => a.Stride > 0 && (long)((inputWidth + a.Stride - 1) / a.Stride) * ((inputHeight + a.Stride - 1) / a.Stride) * a.PerCell == n);
            if (set.Stride == 0) throw new LayerLensException($"blazeface head: {n} anchors match no anchor grid for a {inputHeight}x{inputWidth} input", ErrorKind.BadInput);
            int gridW = (inputWidth + set.Stride - 1) / set.Stride;
            long width = b.shape[2];
            var logits = DetectionHeads.Floats(sc);
            var raw = DetectionHeads.Floats(b);
            for (int i = 0; i < n; i++)
            {
                float score = (float)(1 / (1 + Math.Exp(-logits[i])));
                if (score < options.MinScore) continue;
                int cell = i / set.PerCell;
                double ax = set.Stride * (cell % gridW + 0.5), ay = set.Stride * (cell / gridW + 0.5);
                double cx = raw[i * width] + ax, cy = raw[i * width + 1] + ay, w = raw[i * width + 2], h = raw[i * width + 3];
                candidates.Add(DetectionHeads.ToOriginal(0, labels, score, cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2, placement));
            }
        }
        return NonMaxSuppression.PerClass(candidates, options.IouThreshold, options.MaxDetections);
    }
}
