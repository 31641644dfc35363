using LayerLens.Detection;
using LayerLens.Images;
using LayerLens.Models.Engine;
using LayerLens.Preprocessing;
using LayerLens.Zoo;
using TorchSharp;
using static TorchSharp.torch;

namespace LayerLens.Classification;

/// <summary>A classifier: preprocessing, one forward pass, probabilities of one output and its top-k classes.</summary>
public sealed class ImageClassifier
{
    readonly ModelGraph _graph;
    readonly ImagePreprocessor _preprocessor;

    /// <summary>
    /// A classifier over <paramref name="graph"/>'s output <paramref name="outputName"/> (default: the first). When the
    /// preprocessing does not fix the input size, the size the model's input declares is used.
    /// </summary>
    public ImageClassifier(ModelGraph graph, PreprocessingSpec preprocessing, LabelSet labels, string? outputName = null)
    {
        _graph = graph;
        Preprocessing = ModelInput.Complete(preprocessing, graph);
        _preprocessor = new ImagePreprocessor(Preprocessing);
        (InputHeight, InputWidth) = Preprocessing.FixedSize!.Value;
        Labels = labels;
        OutputName = outputName ?? graph.OutputNames[0];
        if (!graph.OutputNames.Contains(OutputName))
            throw new LayerLensException($"model '{graph.Name}' has no output '{OutputName}' (outputs: {string.Join(", ", graph.OutputNames)})", ErrorKind.BadInput);
    }

    /// <summary>How images become the model input.</summary>
    public PreprocessingSpec Preprocessing { get; }
    /// <summary>The model; CAM engines and other analyses run it on <see cref="Prepare"/>'s input.</summary>
    public ModelGraph Graph => _graph;
    public LabelSet Labels { get; }
    public int InputHeight { get; }
    public int InputWidth { get; }
    public string OutputName { get; }

    /// <summary>
    /// When set, every image is first cut down to its largest face (with the cropper's margin) and the crop is
    /// classified; <see cref="Prepare"/>'s placement then maps the input back into the whole photo. An image
    /// without a face is an error naming it.
    /// </summary>
    public FaceCropper? FaceCrop { get; set; }

    public static ImageClassifier ForZoo(ModelGraph graph, ZooEntry entry) =>
        new(graph, entry.Preprocessing,
            entry.LoadLabels() ?? throw new LayerLensException($"zoo model '{entry.Name}' names no labels", ErrorKind.BadInput),
            entry.Output);

    /// <summary>The model's input tensor for one image (batch of 1) and where the image sits in it.</summary>
    public (Tensor Input, InputPlacement Placement) Prepare(RgbImage image)
    {
        if (FaceCrop == null) return _preprocessor.Prepare(image);
        var face = FaceCrop.Find(image)
            ?? throw new LayerLensException($"{(image.Source.Length > 0 ? image.Source : "image")}: no face found for the face crop", ErrorKind.BadInput);
        var (input, placement) = _preprocessor.Prepare(face.Image);
        return (input, placement.InPhoto(face.X, face.Y, image.Width, image.Height));
    }

    public double[] Probabilities(RgbImage image)
    {
        using var scope = torch.NewDisposeScope();
        var (input, _) = Prepare(image);
        using var result = _graph.Run(input);
        return Classifier.Probabilities(result.Outputs[OutputName]);
    }

    public List<ClassScore> Classify(RgbImage image, int top) => Classifier.TopK(Probabilities(image), Labels, top);
}
