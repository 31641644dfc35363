namespace LayerLens.Zoo;

/// <summary>
/// Where the model input sits in the original photo: input pixel (x, y) = original (x·ScaleX + PadX, y·ScaleY + PadY).
/// Stretching has separate horizontal and vertical scales; a letterbox has positive pads, a center crop negative ones.
/// Made by <see cref="Preprocessing.PreprocessingSpec.Placement"/>.
/// </summary>
public readonly record struct InputPlacement(double ScaleX, double ScaleY, double PadX, double PadY, int OriginalWidth, int OriginalHeight)
{
    /// <summary>A point in model-input pixels mapped to the original photo (clamped to it).</summary>
    public (double X, double Y) ToOriginal(double x, double y) =>
        (Math.Clamp((x - PadX) / ScaleX, 0, OriginalWidth), Math.Clamp((y - PadY) / ScaleY, 0, OriginalHeight));

    /// <summary>This placement of a crop taken at (<paramref name="cropX"/>, <paramref name="cropY"/>) of a larger
    /// photo, restated for that photo.</summary>
    public InputPlacement InPhoto(int cropX, int cropY, int photoWidth, int photoHeight) =>
        new(ScaleX, ScaleY, PadX - cropX * ScaleX, PadY - cropY * ScaleY, photoWidth, photoHeight);
}
