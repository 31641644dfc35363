using LayerLens.IO;
using TorchSharp;
using static TorchSharp.torch;

namespace LayerLens.Brain;

/// <summary>
/// Neural responses in Brain-Score's layout: presentation × neuroid (time bins already averaged), with the
/// presentation coordinates stimulus_id, repetition and (optionally) object_name, and the neuroid coordinates
/// neuroid_id and region. Responses are float64 [presentations, neuroids].
/// </summary>
public sealed class NeuralAssembly : IDisposable
{
    public Tensor Responses { get; }
    public string[] StimulusId { get; }
    public int[] Repetition { get; }
    public string[]? ObjectName { get; }
    public string[] NeuroidId { get; }
    public string[] Region { get; }
    public string Source { get; }

    public NeuralAssembly(Tensor responses, string[] stimulusId, int[] repetition, string[]? objectName, string[] neuroidId, string[] region, string source)
    {
        Native.TorchRuntime.EnsureLoaded();
        if (responses.dim() != 2 || responses.shape[0] != stimulusId.Length || responses.shape[1] != neuroidId.Length)
            throw new LayerLensException($"{source}: responses of shape [{string.Join(", ", responses.shape)}] do not match {stimulusId.Length} presentations × {neuroidId.Length} neuroids", ErrorKind.BadInput);
        if (repetition.Length != stimulusId.Length || (objectName != null && objectName.Length != stimulusId.Length) || region.Length != neuroidId.Length)
            throw new LayerLensException($"{source}: coordinate lengths disagree with the responses", ErrorKind.BadInput);
        Responses = responses.to_type(ScalarType.Float64);
        if (!Responses.isfinite().all().ToBoolean())
            throw new LayerLensException($"{source}: the responses contain NaN or infinite values", ErrorKind.BadInput);
        StimulusId = stimulusId; Repetition = repetition; ObjectName = objectName; NeuroidId = neuroidId; Region = region; Source = source;
    }

    /// <summary>The neuroids of one region; a region with no neuroids is an error that lists the regions present.</summary>
    public NeuralAssembly SelectRegion(string? region)
    {
        if (string.IsNullOrEmpty(region)) return this;
        var keep = Enumerable.Range(0, Region.Length).Where(i => string.Equals(Region[i], region, StringComparison.OrdinalIgnoreCase)).ToArray();
        if (keep.Length == 0)
            throw new LayerLensException($"{Source}: region '{region}' has no neuroids (regions present: {string.Join(", ", Region.Distinct().Take(10))})", ErrorKind.BadInput);
        using var idx = tensor(keep.Select(i => (long)i).ToArray());
        return new NeuralAssembly(Responses.index_select(1, idx), StimulusId, Repetition, ObjectName,
            keep.Select(i => NeuroidId[i]).ToArray(), keep.Select(i => Region[i]).ToArray(), Source);
    }

    /// <summary>Stimulus ids in first-appearance order, with the object name of each.</summary>
    public (string[] Stimuli, string[]? Objects) Stimuli()
    {
        var seen = new Dictionary<string, int>(StringComparer.Ordinal);
        var objs = new List<string>();
        for (int i = 0; i < StimulusId.Length; i++)
            if (seen.TryAdd(StimulusId[i], seen.Count)) objs.Add(ObjectName?[i] ?? "");
        return (seen.Keys.ToArray(), ObjectName == null ? null : objs.ToArray());
    }

    /// <summary>
    /// Mean response per stimulus [stimuli, neuroids] over the presentations whose repetition is in
    /// <paramref name="repetitions"/> (all when null), in the order of <see cref="Stimuli"/>.
    /// </summary>
    public Tensor AverageRepetitions(ISet<int>? repetitions = null)
    {
        var (stimuli, _) = Stimuli();
        var row = stimuli.Select((s, i) => (s, i)).ToDictionary(p => p.s, p => p.i, StringComparer.Ordinal);
        var groups = new List<long>(); var rows = new List<long>();
        for (int i = 0; i < StimulusId.Length; i++)
            if (repetitions == null || repetitions.Contains(Repetition[i])) { rows.Add(i); groups.Add(row[StimulusId[i]]); }
        using var scope = NewDisposeScope();
        var g = tensor(groups.ToArray());
        var sel = Responses.index_select(0, tensor(rows.ToArray()));
        var sum = zeros(stimuli.Length, Responses.shape[1], dtype: ScalarType.Float64).index_add(0, g, sel, 1.0);
        var count = zeros(stimuli.Length, dtype: ScalarType.Float64).index_add(0, g, ones(rows.Count, dtype: ScalarType.Float64), 1.0);
        if ((count == 0).any().ToBoolean())
        {
            var missing = nonzero(count == 0).squeeze(1).data<long>().ToArray().Take(3).Select(i => stimuli[i]);
            throw new LayerLensException($"{Source}: some stimuli have no presentations in the selected repetitions, e.g. {string.Join(", ", missing)}", ErrorKind.BadInput);
        }
        return (sum / count.unsqueeze(1)).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Reads the plain folder layout: presentations.csv (stimulus_id, repetition, optional object_name),
    /// neuroids.csv (neuroid_id, region), responses.npy (float [presentations, neuroids]).
    /// </summary>
    public static NeuralAssembly ReadFolder(string dir)
    {
        var pres = Path.Combine(dir, "presentations.csv");
        var neur = Path.Combine(dir, "neuroids.csv");
        var resp = Path.Combine(dir, "responses.npy");
        var p = SimpleCsv.Read(pres);
        var n = SimpleCsv.Read(neur);
        var stim = p.Column("stimulus_id");
        var rep = p.Column("repetition").Select((v, i) => int.TryParse(v, out int r) ? r
            : throw new LayerLensException($"{pres}:{i + 2}: repetition '{v}' is not an integer", ErrorKind.BadInput)).ToArray();
        var obj = p.Has("object_name") ? p.Column("object_name") : null;
        var responses = Npy.Read(resp);
        if (responses.dim() == 3) responses = responses.mean(new long[] { 2 }); // time bins averaged
        return new NeuralAssembly(responses, stim, rep, obj, n.Column("neuroid_id"), n.Column("region"), dir);
    }

    /// <summary>A folder with presentations.csv is the plain layout; anything else is read as netCDF4/HDF5.</summary>
    public static NeuralAssembly Read(string path)
    {
        if (Directory.Exists(path)) return ReadFolder(path);
        if (!File.Exists(path)) throw new LayerLensException($"{path}: neural data not found (a folder with presentations.csv, neuroids.csv, responses.npy, or a .nc/.h5 assembly)", ErrorKind.BadInput);
        return NetCdfAssembly.Read(path);
    }

    public void Dispose() => Responses.Dispose();
}

/// <summary>Minimal CSV reading for the neural folder layout: a header row, comma-separated, optional double quotes.</summary>
internal sealed class SimpleCsv
{
    public string Path { get; }
    public string[] Header { get; }
    public List<string[]> Rows { get; }

    SimpleCsv(string path, string[] header, List<string[]> rows) { Path = path; Header = header; Rows = rows; }

    public static SimpleCsv Read(string path)
    {
        if (!File.Exists(path)) throw new LayerLensException($"{path}: file not found", ErrorKind.BadInput);
        var lines = File.ReadAllLines(path);
        if (lines.Length == 0) throw new LayerLensException($"{path}: empty file, expected a header row", ErrorKind.BadInput);
        var header = Split(lines[0]);
        var rows = new List<string[]>();
        for (int i = 1; i < lines.Length; i++)
        {
            if (lines[i].Trim().Length == 0) continue;
            var r = Split(lines[i]);
            if (r.Length != header.Length) throw new LayerLensException($"{path}:{i + 1}: {r.Length} fields, the header has {header.Length}", ErrorKind.BadInput);
            rows.Add(r);
        }
        return new SimpleCsv(path, header, rows);
    }

    public bool Has(string name) => Array.IndexOf(Header, name) >= 0;

    public string[] Column(string name)
    {
        int c = Array.IndexOf(Header, name);
        if (c < 0) throw new LayerLensException($"{Path}: no column '{name}' (columns: {string.Join(", ", Header)})", ErrorKind.BadInput);
        return Rows.Select(r => r[c]).ToArray();
    }

    static string[] Split(string line)
    {
        var fields = new List<string>(); var cur = new System.Text.StringBuilder(); bool q = false;
        for (int i = 0; i < line.Length; i++)
        {
            char ch = line[i];
            if (q) { if (ch == '"') { if (i + 1 < line.Length && line[i + 1] == '"') { cur.Append('"'); i++; } else q = false; } else cur.Append(ch); }
            else if (ch == '"') q = true;
            else if (ch == ',') { fields.Add(cur.ToString().Trim()); cur.Clear(); }
            else cur.Append(ch);
        }
        fields.Add(cur.ToString().Trim());
        return fields.ToArray();
    }
}
