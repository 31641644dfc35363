namespace LayerLens.Models.Engine;

/// <summary>
/// Per-thread switches that kernels read while a graph runs. Inference never sets them; fine-tuning turns
/// on batch-norm statistics updates when the user asks for them.
/// </summary>
public static class KernelContext
{
    [ThreadStatic] static bool _updateBatchNorm;

    /// <summary>Batch normalisation normalises with batch statistics and updates its running averages.</summary>
    public static bool UpdateBatchNormStatistics => _updateBatchNorm;

    /// <summary>Turns batch-norm updates on for this thread until the returned scope is disposed.</summary>
    public static IDisposable BatchNormUpdates(bool on = true)
    {
        var previous = _updateBatchNorm;
        _updateBatchNorm = on;
        return new Restore(() => _updateBatchNorm = previous);
    }

    sealed class Restore(Action undo) : IDisposable
    {
        public void Dispose() => undo();
    }
}
