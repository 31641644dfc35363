using LayerLens.Images;

namespace LayerLens.Detection;

/// <summary>Draws detection boxes onto a copy of an image (3-pixel outlines, one colour per class).</summary>
public static class Overlay
{
    static readonly byte[][] Palette =
    {
        new byte[] { 230, 25, 75 }, new byte[] { 60, 180, 75 }, new byte[] { 255, 225, 25 }, new byte[] { 0, 130, 200 },
        new byte[] { 245, 130, 48 }, new byte[] { 145, 30, 180 }, new byte[] { 70, 240, 240 }, new byte[] { 240, 50, 230 },
    };

    public static RgbImage Draw(RgbImage image, IEnumerable<DetectedObject> detections, int thickness = 3)
    {
        var px = (byte[])image.Pixels.Clone();
        int w = image.Width, h = image.Height;
        foreach (var d in detections)
        {
            var c = Palette[d.ClassId % Palette.Length];
            int x0 = Math.Clamp((int)d.X0, 0, w - 1), x1 = Math.Clamp((int)d.X1, 0, w - 1);
            int y0 = Math.Clamp((int)d.Y0, 0, h - 1), y1 = Math.Clamp((int)d.Y1, 0, h - 1);
            for (int t = 0; t < thickness; t++)
            {
                for (int x = x0; x <= x1; x++) { Set(px, w, h, x, y0 + t, c); Set(px, w, h, x, y1 - t, c); }
                for (int y = y0; y <= y1; y++) { Set(px, w, h, x0 + t, y, c); Set(px, w, h, x1 - t, y, c); }
            }
        }
        return new RgbImage(w, h, px) { Source = image.Source };
    }

    static void Set(byte[] px, int w, int h, int x, int y, byte[] c)
    {
        if (x < 0 || y < 0 || x >= w || y >= h) return;
        int i = (y * w + x) * 3;
        px[i] = c[0]; px[i + 1] = c[1]; px[i + 2] = c[2];
    }
}
