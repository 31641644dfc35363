namespace LayerLens.Detection;

/// <summary>One detected object: class, score and box corners (x0, y0, x1, y1) in original image pixels.</summary>
public readonly record struct DetectedObject(int ClassId, string Label, float Score, float X0, float Y0, float X1, float Y1)
{
    public float Area => Math.Max(0, X1 - X0) * Math.Max(0, Y1 - Y0);

    public static float IoU(in DetectedObject a, in DetectedObject b)
    {
        float ix = Math.Max(0, Math.Min(a.X1, b.X1) - Math.Max(a.X0, b.X0));
        float iy = Math.Max(0, Math.Min(a.Y1, b.Y1) - Math.Max(a.Y0, b.Y0));
        float inter = ix * iy;
        float union = a.Area + b.Area - inter;
        return union <= 0 ? 0 : inter / union;
    }
}

/// <summary>Greedy non-maximum suppression within each class (boxes of different classes never suppress each other).</summary>
public static class NonMaxSuppression
{
    public static List<DetectedObject> PerClass(IEnumerable<DetectedObject> candidates, float iouThreshold, int maxDetections)
    {
        var kept = new List<DetectedObject>();
        foreach (var group in candidates.GroupBy(c => c.ClassId))
        {
            var sorted = group.OrderByDescending(c => c.Score).ToList();
            var mine = new List<DetectedObject>();
            foreach (var c in sorted)
                if (mine.All(k => DetectedObject.IoU(k, c) <= iouThreshold)) mine.Add(c);
            kept.AddRange(mine);
        }
        return kept.OrderByDescending(k => k.Score).Take(maxDetections).ToList();
    }
}
