using LayerLens.Detection;
using LayerLens.Zoo;

namespace LayerLens.Explain.Corpus;

/// <summary>How much of a CAM falls on one detected object (all measured on the map in original image pixels).</summary>
/// <param name="Importance">Mean CAM value inside the box (EmoCAM's importance of the object).</param>
/// <param name="EnergyShare">Sum of the CAM inside the box over the sum over the whole image (0 when the map is all zero).</param>
/// <param name="AreaShare">Pixels inside the box over all pixels.</param>
/// <param name="Ratio">EnergyShare / AreaShare: above 1 when the map concentrates on the object (NaN for an empty box).</param>
/// <param name="PointingHit">The map's maximum lies inside the box (pointing game; ties: the first maximum in row-major order).</param>
public readonly record struct BoxCamStats(double Importance, double EnergyShare, double AreaShare, double Ratio, bool PointingHit);

/// <summary>Per-box CAM measures and the mapping of a CAM from model-input pixels to original image pixels.</summary>
public static class BoxCam
{
    /// <summary>
    /// The pixels a box covers: pixel (x, y) is inside when its centre (x + 0.5, y + 0.5) lies in [X0, X1) × [Y0, Y1).
    /// Returns the half-open pixel ranges.
    /// </summary>
    public static (int X0, int Y0, int X1, int Y1) PixelRange(DetectedObject box, int width, int height)
    {
        int x0 = Math.Clamp((int)Math.Ceiling(box.X0 - 0.5), 0, width), x1 = Math.Clamp((int)Math.Ceiling(box.X1 - 0.5), 0, width);
        int y0 = Math.Clamp((int)Math.Ceiling(box.Y0 - 0.5), 0, height), y1 = Math.Clamp((int)Math.Ceiling(box.Y1 - 0.5), 0, height);
        return (x0, y0, Math.Max(x0, x1), Math.Max(y0, y1));
    }

    /// <summary>
    /// Measures a box on a map of <paramref name="width"/> × <paramref name="height"/> original pixels (row-major).
    /// <paramref name="pointingTolerance"/>: pixels by which the box is grown for the pointing game (Zhang et al. use 15).
    /// </summary>
    public static BoxCamStats Measure(ReadOnlySpan<float> map, int width, int height, DetectedObject box, double pointingTolerance = 0)
    {
        var (total, best) = TotalAndArgmax(map, width, height);
        return Measure(map, width, height, box, pointingTolerance, total, best);
    }

    /// <summary>
    /// Measures every box on one map: the map's total and maximum are computed once and shared by all boxes
    /// (same values as calling the single-box <see cref="Measure(ReadOnlySpan{float}, int, int, DetectedObject, double)"/> per box).
    /// </summary>
    public static BoxCamStats[] Measure(ReadOnlySpan<float> map, int width, int height, IReadOnlyList<DetectedObject> boxes, double pointingTolerance = 0)
    {
        if (boxes.Count == 0) return Array.Empty<BoxCamStats>();
        var (total, best) = TotalAndArgmax(map, width, height);
        var stats = new BoxCamStats[boxes.Count];
        for (int b = 0; b < stats.Length; b++) stats[b] = Measure(map, width, height, boxes[b], pointingTolerance, total, best);
        return stats;
    }

    static (double Total, int Best) TotalAndArgmax(ReadOnlySpan<float> map, int width, int height)
    {
        if (map.Length != width * height)
            throw new LayerLensException($"CAM of {map.Length} values does not match a {width}x{height} image", ErrorKind.Internal);
        double total = 0;
        int best = 0;
        float bestValue = float.NegativeInfinity;
        for (int i = 0; i < map.Length; i++)
        {
            total += map[i];
            if (map[i] > bestValue) { bestValue = map[i]; best = i; }
        }
        return (total, best);
    }

    static BoxCamStats Measure(ReadOnlySpan<float> map, int width, int height, DetectedObject box, double pointingTolerance, double total, int best)
    {
        var (x0, y0, x1, y1) = PixelRange(box, width, height);
        double inside = 0;
        for (int y = y0; y < y1; y++)
            for (int x = x0; x < x1; x++) inside += map[y * width + x];
        long pixels = (long)(x1 - x0) * (y1 - y0);
        double importance = pixels == 0 ? 0 : inside / pixels;
        double energy = total > 0 ? inside / total : 0;
        double area = (double)pixels / ((long)width * height);
        double ratio = area > 0 ? energy / area : double.NaN;
        int bx = best % width, by = best / width;
        double cx = bx + 0.5, cy = by + 0.5, t = pointingTolerance;
        bool hit = cx >= box.X0 - t && cx < box.X1 + t && cy >= box.Y0 - t && cy < box.Y1 + t;
        return new BoxCamStats(importance, energy, area, ratio, hit);
    }

    /// <summary>
    /// Maps a CAM of the model input (<paramref name="inputHeight"/> × <paramref name="inputWidth"/>) onto the original image
    /// through the placement the preprocessing reported (stretch or letterbox): each original pixel centre is sent to input
    /// coordinates and the map sampled bilinearly there (edges clamped, as align_corners=False resizing does).
    /// </summary>
    public static float[] ToOriginal(ReadOnlySpan<float> map, int inputHeight, int inputWidth, InputPlacement placement)
    {
        if (map.Length != inputHeight * inputWidth)
            throw new LayerLensException($"CAM of {map.Length} values does not match the {inputHeight}x{inputWidth} model input", ErrorKind.Internal);
        int w = placement.OriginalWidth, h = placement.OriginalHeight;
        var dst = new float[w * h];
        var xs = new (int I0, int I1, float F)[w];
        for (int x = 0; x < w; x++) xs[x] = Sample((x + 0.5) * placement.ScaleX + placement.PadX - 0.5, inputWidth);
        for (int y = 0; y < h; y++)
        {
            var (r0, r1, fy) = Sample((y + 0.5) * placement.ScaleY + placement.PadY - 0.5, inputHeight);
            var row0 = map.Slice(r0 * inputWidth, inputWidth);
            var row1 = map.Slice(r1 * inputWidth, inputWidth);
            for (int x = 0; x < w; x++)
            {
                var (c0, c1, fx) = xs[x];
                float top = row0[c0] + (row0[c1] - row0[c0]) * fx;
                float bottom = row1[c0] + (row1[c1] - row1[c0]) * fx;
                dst[y * w + x] = top + (bottom - top) * fy;
            }
        }
        return dst;
    }

    static (int I0, int I1, float F) Sample(double pos, int size)
    {
        pos = Math.Clamp(pos, 0, size - 1);
        int i0 = (int)Math.Floor(pos);
        int i1 = Math.Min(i0 + 1, size - 1);
        return (i0, i1, (float)(pos - i0));
    }
}
