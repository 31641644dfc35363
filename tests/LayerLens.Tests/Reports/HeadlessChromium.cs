using System.Diagnostics;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace LayerLens.Tests.Reports;

/// <summary>What a headless Chromium saw when it loaded a page.</summary>
public sealed record PageCheck(IReadOnlyList<string> ConsoleErrors, IReadOnlyList<string> BrokenImages,
    IReadOnlyList<string> EmptySections, int Images, int Sections, byte[] Screenshot);

/// <summary>
/// Loads a local HTML file in Debian's headless Chromium and inspects it over the DevTools protocol: console
/// errors and failed loads (Runtime/Log events), images that did not decode, sections with nothing but a heading,
/// and a full-page screenshot. The page itself needs no scripts; the checks run from the protocol side.
/// </summary>
public static class HeadlessChromium
{
    public const string Executable = "/usr/bin/chromium";

    public static PageCheck Check(string htmlPath, int width = 1200)
    {
        if (!File.Exists(Executable))
            throw new InvalidOperationException($"{Executable} is missing; scripts/install-test-deps.sh installs Debian's chromium");
        var profile = TestPaths.NewTempDir();
        var psi = new ProcessStartInfo(Executable)
        {
            RedirectStandardError = true,
            RedirectStandardOutput = true,
            UseShellExecute = false,
        };
        foreach (var a in new[] { "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                     "--remote-debugging-port=0", $"--user-data-dir={profile}", $"--window-size={width},900", "about:blank" })
            psi.ArgumentList.Add(a);
        using var proc = Process.Start(psi)!;
        try
        {
            var wsUrl = WaitForDevToolsUrl(proc);
            return Inspect(wsUrl, new Uri(Path.GetFullPath(htmlPath)).AbsoluteUri, width).GetAwaiter().GetResult();
        }
        finally
        {
            try { proc.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
            proc.WaitForExit(10_000);
            try { Directory.Delete(profile, recursive: true); } catch (IOException) { }
        }
    }

    static string WaitForDevToolsUrl(Process proc)
    {
        var deadline = DateTime.UtcNow.AddSeconds(60);
        var seen = new StringBuilder();
        while (DateTime.UtcNow < deadline)
        {
            var line = proc.StandardError.ReadLine();
            if (line == null) break;
            seen.AppendLine(line);
            var m = Regex.Match(line, @"DevTools listening on (ws://\S+)");
            if (m.Success)
            {
                // Keep draining stderr so Chromium never blocks on a full pipe.
                _ = Task.Run(() => { while (proc.StandardError.ReadLine() != null) { } });
                _ = Task.Run(() => { while (proc.StandardOutput.ReadLine() != null) { } });
                return m.Groups[1].Value;
            }
        }
        throw new InvalidOperationException("Chromium did not start its DevTools endpoint:\n" + seen);
    }

    sealed class Cdp : IAsyncDisposable
    {
        readonly ClientWebSocket _ws = new();
        int _id;
        public readonly List<JsonObject> Events = new();
        public string? SessionId;

        public async Task Connect(string url)
        {
            _ws.Options.KeepAliveInterval = TimeSpan.Zero;
            await _ws.ConnectAsync(new Uri(url), CancellationToken.None);
        }

        public async Task<JsonObject> Send(string method, object? parameters = null, bool session = true)
        {
            int id = ++_id;
            var msg = new JsonObject { ["id"] = id, ["method"] = method, ["params"] = parameters == null ? new JsonObject() : JsonSerializer.SerializeToNode(parameters) };
            if (session && SessionId != null) msg["sessionId"] = SessionId;
            await _ws.SendAsync(Encoding.UTF8.GetBytes(msg.ToJsonString()), WebSocketMessageType.Text, true, CancellationToken.None);
            while (true)
            {
                var m = await Receive(TimeSpan.FromSeconds(60));
                if (m["id"]?.GetValue<int>() == id)
                {
                    if (m["error"] != null) throw new InvalidOperationException($"{method}: {m["error"]!.ToJsonString()}");
                    return m["result"]!.AsObject();
                }
                Events.Add(m);
            }
        }

        public async Task WaitFor(string eventName, TimeSpan timeout)
        {
            if (Events.Any(e => (string?)e["method"] == eventName)) return;
            var deadline = DateTime.UtcNow + timeout;
            while (DateTime.UtcNow < deadline)
            {
                var m = await Receive(deadline - DateTime.UtcNow);
                Events.Add(m);
                if ((string?)m["method"] == eventName) return;
            }
            throw new TimeoutException("Chromium never sent " + eventName);
        }

        async Task<JsonObject> Receive(TimeSpan timeout)
        {
            using var cts = new CancellationTokenSource(timeout);
            var buf = new byte[1 << 16];
            using var ms = new MemoryStream();
            WebSocketReceiveResult r;
            do
            {
                r = await _ws.ReceiveAsync(buf, cts.Token);
                ms.Write(buf, 0, r.Count);
            } while (!r.EndOfMessage);
            return JsonNode.Parse(ms.ToArray())!.AsObject();
        }

        public async ValueTask DisposeAsync()
        {
            try { await _ws.CloseAsync(WebSocketCloseStatus.NormalClosure, "", CancellationToken.None); } catch (WebSocketException) { }
            _ws.Dispose();
        }
    }

    const string Probe = """
        (() => {
          const broken = Array.from(document.images).filter(i => !i.complete || i.naturalWidth === 0).map(i => i.alt || i.src.slice(0, 60));
          const empty = Array.from(document.querySelectorAll('section')).filter(s => {
            const c = s.cloneNode(true); c.querySelectorAll('h2').forEach(h => h.remove());
            return c.textContent.trim().length === 0 && c.querySelectorAll('img,svg,table').length === 0;
          }).map(s => (s.querySelector('h2') || {}).textContent || s.id);
          return JSON.stringify({ broken, empty, images: document.images.length, sections: document.querySelectorAll('section').length,
                                  height: Math.ceil(document.documentElement.scrollHeight) });
        })()
        """;

    static async Task<PageCheck> Inspect(string browserWs, string fileUrl, int width)
    {
        await using var cdp = new Cdp();
        await cdp.Connect(browserWs);
        var target = await cdp.Send("Target.createTarget", new { url = "about:blank" }, session: false);
        var attach = await cdp.Send("Target.attachToTarget", new { targetId = (string)target["targetId"]!, flatten = true }, session: false);
        cdp.SessionId = (string)attach["sessionId"]!;
        await cdp.Send("Page.enable");
        await cdp.Send("Runtime.enable");
        await cdp.Send("Log.enable");
        cdp.Events.Clear();
        await cdp.Send("Page.navigate", new { url = fileUrl });
        await cdp.WaitFor("Page.loadEventFired", TimeSpan.FromSeconds(60));
        var eval = await cdp.Send("Runtime.evaluate", new { expression = Probe, returnByValue = true });
        var probe = JsonNode.Parse((string)eval["result"]!["value"]!)!;
        int height = Math.Min((int)probe["height"]!, 30000);
        await cdp.Send("Emulation.setDeviceMetricsOverride", new { width, height, deviceScaleFactor = 1, mobile = false });
        var shot = await cdp.Send("Page.captureScreenshot", new { format = "png", captureBeyondViewport = true });

        var errors = new List<string>();
        foreach (var e in cdp.Events)
        {
            var method = (string?)e["method"];
            var p = e["params"];
            if (method == "Runtime.exceptionThrown") errors.Add("exception: " + p?["exceptionDetails"]?["text"]);
            else if (method == "Runtime.consoleAPICalled" && (string?)p?["type"] is "error" or "assert")
                errors.Add("console: " + p?["args"]?.ToJsonString());
            else if (method == "Log.entryAdded" && (string?)p?["entry"]?["level"] == "error")
                errors.Add("log: " + p?["entry"]?["text"] + " " + p?["entry"]?["url"]);
        }
        return new PageCheck(errors,
            probe["broken"]!.AsArray().Select(x => (string)x!).ToList(),
            probe["empty"]!.AsArray().Select(x => (string)x!).ToList(),
            (int)probe["images"]!, (int)probe["sections"]!,
            Convert.FromBase64String((string)shot["data"]!));
    }
}
