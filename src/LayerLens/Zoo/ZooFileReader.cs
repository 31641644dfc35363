using System.Text;
using System.Text.Json;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace LayerLens.Zoo;

/// <summary>
/// Reads zoo files (JSON or YAML) into a small tree that remembers the line of every value, so that errors name
/// the file and line. JSON allows comments and trailing commas; YAML is chosen by the .yaml/.yml extension, or
/// for other names when the text does not start with '{'.
/// </summary>
internal static class ZooFileReader
{
    internal abstract class Node
    {
        public int Line { get; init; }
    }

    internal sealed class MapNode : Node
    {
        public List<(string Key, int Line, Node Value)> Items { get; } = new();
    }

    internal sealed class ListNode : Node
    {
        public List<Node> Items { get; } = new();
    }

    /// <summary>A text, number or boolean as written; null for JSON null and YAML null/~/empty.</summary>
    internal sealed class ScalarNode : Node
    {
        public string? Value { get; init; }
    }

    public static bool IsYaml(string path, string text)
    {
        var ext = Path.GetExtension(path).ToLowerInvariant();
        if (ext is ".yaml" or ".yml") return true;
        if (ext == ".json") return false;
        return !text.TrimStart('\uFEFF', ' ', '\t', '\r', '\n').StartsWith('{');
    }

    public static Node Read(string text, string context, bool yaml) => yaml ? ReadYaml(text, context) : ReadJson(text, context);

    static Node ReadYaml(string text, string context)
    {
        var stream = new YamlStream();
        try
        {
            stream.Load(new StringReader(text));
        }
        catch (YamlException e)
        {
            var message = e.Message;
            int cut = message.IndexOf("): ", StringComparison.Ordinal);
            if (message.StartsWith("(Line:", StringComparison.Ordinal) && cut > 0) message = message[(cut + 3)..];
            throw new LayerLensException($"{context}:{e.Start.Line}: not valid YAML ({message.Split('\n')[0]})", ErrorKind.BadInput, e);
        }
        if (stream.Documents.Count == 0) throw new LayerLensException($"{context}: the zoo file is empty", ErrorKind.BadInput);
        return FromYaml(stream.Documents[0].RootNode);
    }

    static Node FromYaml(YamlNode n)
    {
        int line = (int)n.Start.Line;
        switch (n)
        {
            case YamlMappingNode m:
                var map = new MapNode { Line = line };
                foreach (var (k, v) in m.Children)
                    map.Items.Add((k is YamlScalarNode ks ? ks.Value ?? "" : k.ToString(), (int)k.Start.Line, FromYaml(v)));
                return map;
            case YamlSequenceNode s:
                var list = new ListNode { Line = line };
                foreach (var item in s.Children) list.Items.Add(FromYaml(item));
                return list;
            case YamlScalarNode sc:
                bool isNull = sc.Style == ScalarStyle.Plain && sc.Value is null or "" or "~" or "null" or "Null" or "NULL";
                return new ScalarNode { Line = line, Value = isNull ? null : sc.Value };
            default:
                return new ScalarNode { Line = line, Value = n.ToString() };
        }
    }

    static Node ReadJson(string text, string context)
    {
        var bytes = Encoding.UTF8.GetBytes(text);
        var newlines = new List<int>();
        for (int i = 0; i < bytes.Length; i++) if (bytes[i] == (byte)'\n') newlines.Add(i);
        int LineOf(long index)
        {
            int k = newlines.BinarySearch((int)index);
            return (k >= 0 ? k : ~k) + 1;
        }
        var reader = new Utf8JsonReader(bytes, new JsonReaderOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
        try
        {
            if (!reader.Read()) throw new LayerLensException($"{context}: the zoo file is empty", ErrorKind.BadInput);
            var root = FromJson(ref reader, LineOf);
            if (reader.Read()) throw new LayerLensException($"{context}:{LineOf(reader.TokenStartIndex)}: unexpected text after the end of the JSON value", ErrorKind.BadInput);
            return root;
        }
        catch (JsonException e)
        {
            throw new LayerLensException($"{context}:{e.LineNumber + 1}: not valid JSON ({e.Message.Split('\n')[0]})", ErrorKind.BadInput, e);
        }
    }

    static Node FromJson(ref Utf8JsonReader r, Func<long, int> lineOf)
    {
        int line = lineOf(r.TokenStartIndex);
        switch (r.TokenType)
        {
            case JsonTokenType.StartObject:
                var map = new MapNode { Line = line };
                while (r.Read() && r.TokenType != JsonTokenType.EndObject)
                {
                    string key = r.GetString() ?? "";
                    int keyLine = lineOf(r.TokenStartIndex);
                    r.Read();
                    map.Items.Add((key, keyLine, FromJson(ref r, lineOf)));
                }
                return map;
            case JsonTokenType.StartArray:
                var list = new ListNode { Line = line };
                while (r.Read() && r.TokenType != JsonTokenType.EndArray) list.Items.Add(FromJson(ref r, lineOf));
                return list;
            case JsonTokenType.String:
                return new ScalarNode { Line = line, Value = r.GetString() };
            case JsonTokenType.Number:
                return new ScalarNode { Line = line, Value = Encoding.UTF8.GetString(r.ValueSpan) };
            case JsonTokenType.True:
                return new ScalarNode { Line = line, Value = "true" };
            case JsonTokenType.False:
                return new ScalarNode { Line = line, Value = "false" };
            default:
                return new ScalarNode { Line = line, Value = null };
        }
    }
}
