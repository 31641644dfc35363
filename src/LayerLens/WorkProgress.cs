namespace LayerLens;

/// <summary>
/// Progress of a long job, as library code reports it: a stage name (one bar or line per stage), units done of a
/// total (0 when unknown), the unit's name, and an optional short detail (current model, loss, metric).
/// </summary>
public readonly record struct WorkProgress(string Stage, long Done, long Total, string Unit = "items", string? Detail = null);

/// <summary>An IProgress that reports on the calling thread (System.Progress posts to the thread pool and can reorder lines).</summary>
public sealed class SyncProgress<T>(Action<T> report) : IProgress<T>
{
    public void Report(T value) => report(value);
}
