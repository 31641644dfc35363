using LayerLens.Classification;
using LayerLens.Images;
using LayerLens.Models.Engine;
using LayerLens.Preprocessing;
using LayerLens.Zoo;
using TorchSharp;
using static TorchSharp.torch;

namespace LayerLens.Detection;

/// <summary>A detector: preprocessing, one forward pass, and a head that decodes boxes into original pixels.</summary>
public sealed class ObjectDetector
{
    readonly ModelGraph _graph;
    readonly ImagePreprocessor _preprocessor;

    /// <summary>A detector; when the preprocessing does not fix the input size, the size the model's input declares is used.</summary>
    public ObjectDetector(ModelGraph graph, PreprocessingSpec preprocessing, IDetectionHead head, LabelSet labels)
    {
        _graph = graph;
        Preprocessing = ModelInput.Complete(preprocessing, graph);
        _preprocessor = new ImagePreprocessor(Preprocessing);
        (InputHeight, InputWidth) = Preprocessing.FixedSize!.Value;
        Head = head;
        Labels = labels;
    }

    /// <summary>How images become the model input (letterbox or stretch; the placement maps boxes back).</summary>
    public PreprocessingSpec Preprocessing { get; }
    public ModelGraph Graph => _graph;
    public IDetectionHead Head { get; }
    public LabelSet Labels { get; }
    public int InputHeight { get; }
    public int InputWidth { get; }

    /// <summary>A detector for a zoo entry whose task is detection.</summary>
    public static ObjectDetector ForZoo(ModelGraph graph, ZooEntry entry) =>
        new(graph, entry.Preprocessing,
            DetectionHeads.Get(entry.Head ?? throw new LayerLensException($"zoo model '{entry.Name}' names no detection head", ErrorKind.BadInput)),
            entry.LoadLabels() ?? LabelSet.Load("coco80"));

    /// <summary>The model's input tensor for one image (batch of 1) and where the image sits in it.</summary>
    public (Tensor Input, InputPlacement Placement) Prepare(RgbImage image) => _preprocessor.Prepare(image);

    public List<DetectedObject> Detect(RgbImage image, DetectionOptions options)
    {
        using var scope = torch.NewDisposeScope();
        var (input, placement) = Prepare(image);
        using var result = _graph.Run(input);
        return Head.Decode(result.Outputs, placement, InputHeight, InputWidth, Labels, options);
    }
}
