using LayerLens.Images;
using LayerLens.Models.Engine;
using LayerLens.Zoo;
using TorchSharp;
using static TorchSharp.torch;

namespace LayerLens.Classification;

/// <summary>A classifier: preprocessing, one forward pass, probabilities of one output and its top-k classes.</summary>
public sealed class ImageClassifier
{
    readonly ModelGraph _graph;

    public ImageClassifier(ModelGraph graph, PreprocessPreset preset, LabelSet labels, int inputHeight, int inputWidth, string? outputName = null)
    {
        _graph = graph;
        Preset = preset;
        Labels = labels;
        InputHeight = inputHeight;
        InputWidth = inputWidth;
        OutputName = outputName ?? graph.OutputNames[0];
        if (!graph.OutputNames.Contains(OutputName))
            throw new LayerLensException($"model '{graph.Name}' has no output '{OutputName}' (outputs: {string.Join(", ", graph.OutputNames)})", ErrorKind.BadInput);
    }

    public PreprocessPreset Preset { get; }
    /// <summary>The model; CAM engines and other analyses run it on <see cref="Prepare"/>'s input.</summary>
    public ModelGraph Graph => _graph;
    public LabelSet Labels { get; }
    public int InputHeight { get; }
    public int InputWidth { get; }
    public string OutputName { get; }

    public static ImageClassifier ForZoo(ModelGraph graph, ZooEntry entry) =>
        new(graph, PreprocessPreset.Get(entry.Preprocess),
            LabelSet.Load(entry.Labels ?? throw new LayerLensException($"zoo model '{entry.Name}' names no labels", ErrorKind.BadInput)),
            entry.InputSize[0], entry.InputSize[1]);

    /// <summary>The model's input tensor for one image (batch of 1) and where the image sits in it.</summary>
    public (Tensor Input, InputPlacement Placement) Prepare(RgbImage image) => Preset.Apply(image, InputHeight, InputWidth);

    public double[] Probabilities(RgbImage image)
    {
        using var scope = torch.NewDisposeScope();
        var (input, _) = Prepare(image);
        using var result = _graph.Run(input);
        return Classifier.Probabilities(result.Outputs[OutputName]);
    }

    public List<ClassScore> Classify(RgbImage image, int top) => Classifier.TopK(Probabilities(image), Labels, top);
}
