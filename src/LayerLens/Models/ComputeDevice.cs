using TorchSharp;

namespace LayerLens.Models;

public enum DeviceKind { Cpu, Cuda }

/// <summary>Where tensors live and kernels run: <c>cpu</c>, <c>cuda</c> or <c>cuda:N</c>.</summary>
public readonly record struct ComputeDevice(DeviceKind Kind, int Index = 0)
{
    public static ComputeDevice Cpu => new(DeviceKind.Cpu);

    public static ComputeDevice Parse(string text)
    {
        var t = text.Trim().ToLowerInvariant();
        if (t == "cpu") return Cpu;
        if (t == "cuda" || t == "gpu") return new(DeviceKind.Cuda);
        if (t.StartsWith("cuda:", StringComparison.Ordinal) && int.TryParse(t.AsSpan(5), out var i) && i >= 0)
            return new(DeviceKind.Cuda, i);
        throw new LayerLensException($"unknown device '{text}' (use cpu, cuda or cuda:N)", ErrorKind.Usage);
    }

    public torch.Device ToTorch()
    {
        if (Kind == DeviceKind.Cpu) return torch.CPU;
        if (!torch.cuda.is_available())
            throw new LayerLensException("device cuda was asked for, but this LayerLens build has no CUDA libtorch or no GPU is visible", ErrorKind.Usage);
        return new torch.Device(DeviceType.CUDA, Index);
    }

    public override string ToString() => Kind == DeviceKind.Cpu ? "cpu" : $"cuda:{Index}";
}
