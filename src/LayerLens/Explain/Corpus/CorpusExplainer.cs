using System.Globalization;
using System.Text.Json;
using LayerLens.Classification;
using LayerLens.Detection;
using LayerLens.Explain.Cam;
using LayerLens.Images;
using LayerLens.IO;
using LayerLens.Reports;
using TorchSharp;
using static TorchSharp.torch;

namespace LayerLens.Explain.Corpus;

/// <summary>
/// EmoCAM's corpus analysis: CAMs of a classifier over many images, combined with the objects a detector finds, summarised
/// over the corpus (class × object tables, association matrices, agreement between CAM methods), plus the effect of image
/// edits on the classifier. Maps and per-image files are written as they are made; only small per-image records stay in memory.
/// </summary>
public static class CorpusExplainer
{
    sealed record ImageRecord(string Id, string Path, int Width, int Height, double[] Probabilities, int Top, int TargetClass,
        List<DetectedObject> Objects, Dictionary<CamMethod, BoxCamStats[]> Stats);

    public static CorpusSummary Run(CorpusRunOptions options, IProgress<WorkProgress>? progress = null, CancellationToken ct = default)
    {
        var o = options;
        if (o.Layers.Count == 0) throw new LayerLensException("give at least one CAM layer", ErrorKind.Usage);
        if (o.BatchSize < 1) throw new LayerLensException("batch size must be at least 1", ErrorKind.Usage);
        if (o.MaxAnalysisSide < 16) throw new LayerLensException("the analysis grid needs at least 16 pixels on its longer side", ErrorKind.Usage);
        var methods = CamMethodNames.ParseList(string.Join(",", o.Methods));
        var mods = ImageModification.ParseList(string.Join(",", o.Modifications));
        var classifier = o.Classifier;
        var labels = classifier.Labels;
        var target = ParseTarget(o.Target, labels);
        var list = CorpusImages.Resolve(o.Images);
        var dir = o.OutputDir;
        foreach (var sub in new[] { "", "maps", "images", "overlays", "tables", "charts" }) Directory.CreateDirectory(System.IO.Path.Combine(dir, sub));
        var engine = o.CamEngine ?? DefaultEngine(classifier);
        var request = new CamRequest(methods, o.Layers, target, o.Score, o.AugSmooth, o.EigenSmooth, OutputName: classifier.OutputName);
        var detOptions = new DetectionOptions(MinScore: (float)o.MinDetectionScore);
        int h = classifier.InputHeight, w = classifier.InputWidth;

        var records = new List<ImageRecord>(list.Count);
        var results = new List<CorpusImageResult>(list.Count);
        var gallery = new List<(byte[] Png, string Caption)>();
        var manifest = new TidyTable(("id", ColumnKind.Text), ("method", ColumnKind.Text), ("path", ColumnKind.Text),
            ("height", ColumnKind.Integer), ("width", ColumnKind.Integer), ("target_class", ColumnKind.Text), ("layers", ColumnKind.Text));
        string layerText = string.Join("+", o.Layers);

        progress?.Report(new WorkProgress("explain", 0, list.Count, "images"));
        for (int start = 0; start < list.Count; start += o.BatchSize)
        {
            ct.ThrowIfCancellationRequested();
            var batch = list.Skip(start).Take(o.BatchSize).ToList();
            var images = batch.Select(b => ImageDecoder.Decode(b.Path)).ToList();
            CamBatchResult cams;
            var placements = new Zoo.InputPlacement[batch.Count];
            using (var scope = torch.NewDisposeScope())
            {
                var inputs = new List<Tensor>();
                for (int i = 0; i < images.Count; i++)
                {
                    var (input, placement) = classifier.Prepare(images[i]);
                    inputs.Add(input);
                    placements[i] = placement;
                }
                using var x = inputs.Count == 1 ? inputs[0].alias() : torch.cat(inputs, 0);
                cams = engine.Compute(x, request);
            }
            if (cams.Height != h || cams.Width != w)
                throw new LayerLensException($"CAM engine returned {cams.Height}x{cams.Width} maps for a {h}x{w} input", ErrorKind.Internal);
            for (int i = 0; i < batch.Count; i++)
            {
                var (id, path) = batch[i];
                var image = images[i];
                var probs = cams.Probabilities[i].Select(v => (double)v).ToArray();
                int top = ModificationOutcome.ArgMax(probs);
                var objects = o.Detector != null ? o.Detector.Detect(image, detOptions)
                    : o.Annotations != null && o.Annotations.TryGetValue(id, out var given) ? given.Where(d => d.Score >= o.MinDetectionScore).ToList()
                    : new List<DetectedObject>();
                // The analysis grid: the original image, or a reduced copy for large photos.
                double reduce = Math.Min(1.0, o.MaxAnalysisSide / (double)Math.Max(image.Width, image.Height));
                int aw = reduce < 1 ? Math.Max(1, (int)Math.Round(image.Width * reduce)) : image.Width;
                int ah = reduce < 1 ? Math.Max(1, (int)Math.Round(image.Height * reduce)) : image.Height;
                float fx = (float)aw / image.Width, fy = (float)ah / image.Height;
                var pl = placements[i];
                var gridPlacement = new Zoo.InputPlacement(pl.ScaleX / fx, pl.ScaleY / fy, pl.PadX, pl.PadY, aw, ah);
                var gridObjects = reduce < 1 ? objects.Select(d => d with { X0 = d.X0 * fx, Y0 = d.Y0 * fy, X1 = d.X1 * fx, Y1 = d.Y1 * fy }).ToList() : objects;
                RgbImage? gridImage = null;
                var stats = new Dictionary<CamMethod, BoxCamStats[]>();
                var mapPaths = new Dictionary<string, string>();
                var overlayPaths = new Dictionary<string, string>();
                foreach (var m in methods)
                {
                    var name = CamMethodNames.Name(m);
                    var map = cams.Maps[m][i];
                    var mapPath = System.IO.Path.Combine(dir, "maps", $"{id}.{name}.npy");
                    using (var t = torch.tensor(map, new long[] { h, w })) Npy.Write(mapPath, t);
                    mapPaths[name] = mapPath;
                    manifest.Add(id, name, System.IO.Path.GetRelativePath(dir, mapPath), h, w, labels[cams.TargetClass[i]], layerText);
                    var original = BoxCam.ToOriginal(map, h, w, gridPlacement);
                    stats[m] = BoxCam.Measure(original, aw, ah, gridObjects, o.PointingTolerance * fx);
                    if (o.Overlays || results.Count < o.GalleryImages)
                    {
                        gridImage ??= reduce < 1 ? ImageEditor.Resize(image, aw, ah) : image;
                        var overlay = Overlay.Draw(Heat(gridImage, original), gridObjects, Math.Max(1, Math.Min(aw, ah) / 150));
                        if (o.Overlays)
                        {
                            var op = System.IO.Path.Combine(dir, "overlays", $"{id}.{name}.png");
                            ImageEncoder.Save(overlay, op);
                            overlayPaths[name] = op;
                        }
                        if (results.Count < o.GalleryImages)
                            gallery.Add((ImageEncoder.Encode(Thumbnail(overlay, 224), ImageFormat.Png),
                                $"{id} · {name} · {labels[top]} {probs[top]:0.00}{(cams.TargetClass[i] != top ? $" (map of {labels[cams.TargetClass[i]]})" : "")}"));
                    }
                }
                var rec = new ImageRecord(id, path, image.Width, image.Height, probs, top, cams.TargetClass[i], objects, stats);
                records.Add(rec);
                var jsonPath = System.IO.Path.Combine(dir, "images", id + ".json");
                WriteReplacing(jsonPath, ImageJson(rec, labels, methods, mapPaths, dir));
                results.Add(new CorpusImageResult(id, path, labels[top], probs[top], labels[cams.TargetClass[i]], objects.Count, jsonPath, mapPaths, overlayPaths));
            }
            progress?.Report(new WorkProgress("explain", Math.Min(start + batch.Count, list.Count), list.Count, "images", batch[^1].Id));
        }
        var manifestPath = System.IO.Path.Combine(dir, "maps", "manifest.csv");
        manifest.WriteCsv(manifestPath);

        // Corpus statistics per method.
        progress?.Report(new WorkProgress("statistics", 0, methods.Count, "methods"));
        var filter = new CorpusFilter(o.MinClassConfidence, o.MinDetectionScore, o.MinImportance);
        var obsByMethod = methods.ToDictionary(m => m, m => (IReadOnlyList<ImageObservation>)records.Select(r => new ImageObservation(r.Id, r.Top, r.Probabilities[r.Top],
            r.Objects.Select((d, j) => new ObjectObservation(d.Label, d.Score, r.Stats[m][j].Importance)).ToList())).ToList());
        var categories = o.Categories?.Distinct().ToList() ?? methods.SelectMany(m => CorpusStatistics.Presence(obsByMethod[m], labels.Names, filter).Categories)
            .Distinct().OrderBy(c => c, StringComparer.Ordinal).ToList();
        var presence = methods.ToDictionary(m => m, m => CorpusStatistics.Presence(obsByMethod[m], labels.Names, filter, categories));
        var anyPresence = presence[methods[0]];
        var variables = anyPresence.Classes.Distinct().OrderBy(c => c).Select(c => labels[c])
            .Concat(categories.Where(c => !labels.Names.Contains(c))).ToList();

        var charts = new List<ChartImage>();
        var chartPaths = new List<string>();
        void AddChart(ChartImage c, string file) { charts.Add(c); chartPaths.Add(c.Save(System.IO.Path.Combine(dir, "charts", file)).Png); }

        var ccTable = new TidyTable(("method", ColumnKind.Text), ("class", ColumnKind.Text), ("category", ColumnKind.Text), ("count", ColumnKind.Integer),
            ("class_images", ColumnKind.Integer), ("category_images", ColumnKind.Integer), ("images", ColumnKind.Integer), ("expected", ColumnKind.Number),
            ("enrichment", ColumnKind.Number), ("mean_importance", ColumnKind.Number), ("p_value", ColumnKind.Number),
            ("null_low", ColumnKind.Number), ("null_high", ColumnKind.Number), ("permutations", ColumnKind.Integer), ("seed", ColumnKind.Integer));
        var allCells = new List<ClassCategoryCell>();
        var assocTable = new TidyTable(("method", ColumnKind.Text), ("measure", ColumnKind.Text), ("row", ColumnKind.Text), ("column", ColumnKind.Text), ("value", ColumnKind.Number));
        var assoc = new Dictionary<(CamMethod, AssociationMeasure), AssociationMatrix>();
        int done = 0;
        foreach (var m in methods)
        {
            ct.ThrowIfCancellationRequested();
            var name = CamMethodNames.Name(m);
            var cells = CorpusStatistics.ClassCategoryTable(presence[m], o.Permutations, o.Seed);
            foreach (var c in cells)
            {
                ccTable.Add(name, c.Class, c.Category, c.Count, c.ClassImages, c.CategoryImages, c.Images, c.Expected, c.Enrichment, c.MeanImportance, c.PValue, c.NullLow, c.NullHigh, o.Permutations, o.Seed);
                allCells.Add(c);
            }
            foreach (var measure in new[] { AssociationMeasure.Dice, AssociationMeasure.Jaccard })
            {
                var a = CorpusStatistics.Association(presence[m], measure, variables);
                assoc[(m, measure)] = a;
                for (int r = 0; r < variables.Count; r++)
                    for (int c = 0; c < variables.Count; c++) assocTable.Add(name, a.Measure, variables[r], variables[c], a.Values[r, c]);
                if (variables.Count >= 2)
                    AddChart(Charts.Heatmap($"{Title(measure)} association ({name})", variables, variables, a.Values,
                        Math.Max(Charts.DefaultWidth, 28 * variables.Count + 220), Math.Max(Charts.DefaultHeight, 22 * variables.Count + 160)), $"association_{a.Measure}_{name}");
            }
            progress?.Report(new WorkProgress("statistics", ++done, methods.Count, "methods", name));
        }

        var agreeTable = new TidyTable(("measure", ColumnKind.Text), ("method_a", ColumnKind.Text), ("method_b", ColumnKind.Text), ("pairs", ColumnKind.Integer),
            ("spearman", ColumnKind.Number), ("p_value", ColumnKind.Number), ("p_permutation", ColumnKind.Number), ("permutations", ColumnKind.Integer), ("seed", ColumnKind.Integer));
        var agreements = new List<MethodAgreement>();
        foreach (var measure in new[] { AssociationMeasure.Dice, AssociationMeasure.Jaccard })
        {
            var rho = new double[methods.Count, methods.Count];
            for (int i = 0; i < methods.Count; i++)
            {
                rho[i, i] = 1;
                for (int j = 0; j < i; j++)
                {
                    var ag = CorpusStatistics.Agreement(CamMethodNames.Name(methods[i]), assoc[(methods[i], measure)],
                        CamMethodNames.Name(methods[j]), assoc[(methods[j], measure)], o.Permutations, o.Seed);
                    agreements.Add(ag);
                    agreeTable.Add(ag.Measure, ag.MethodA, ag.MethodB, ag.Pairs, ag.Rho, ag.PValue, ag.PermutationPValue, o.Permutations, o.Seed);
                    rho[i, j] = rho[j, i] = ag.Rho;
                }
            }
            if (methods.Count >= 2)
            {
                var names = methods.Select(CamMethodNames.Name).ToList();
                AddChart(Charts.Heatmap($"Agreement between CAM methods (Spearman ρ of {measure} matrices)", names, names, rho), $"agreement_{measure.ToString().ToLowerInvariant()}");
            }
        }

        // Per-box table and pointing game.
        var objTable = new TidyTable(("id", ColumnKind.Text), ("method", ColumnKind.Text), ("top_class", ColumnKind.Text), ("category", ColumnKind.Text),
            ("score", ColumnKind.Number), ("x0", ColumnKind.Number), ("y0", ColumnKind.Number), ("x1", ColumnKind.Number), ("y1", ColumnKind.Number),
            ("importance", ColumnKind.Number), ("energy_share", ColumnKind.Number), ("area_share", ColumnKind.Number), ("ratio", ColumnKind.Number), ("pointing_hit", ColumnKind.Integer));
        var pointing = new Dictionary<(string Method, string Category), (int Boxes, int Hits)>();
        foreach (var r in records)
            foreach (var m in methods)
            {
                var name = CamMethodNames.Name(m);
                for (int j = 0; j < r.Objects.Count; j++)
                {
                    var d = r.Objects[j];
                    var s = r.Stats[m][j];
                    objTable.Add(r.Id, name, labels[r.Top], d.Label, d.Score, d.X0, d.Y0, d.X1, d.Y1, s.Importance, s.EnergyShare, s.AreaShare, s.Ratio, s.PointingHit ? 1 : 0);
                    foreach (var key in new[] { (name, d.Label), (name, "all") })
                    {
                        pointing.TryGetValue(key, out var v);
                        pointing[key] = (v.Boxes + 1, v.Hits + (s.PointingHit ? 1 : 0));
                    }
                }
            }
        var pointTable = new TidyTable(("method", ColumnKind.Text), ("category", ColumnKind.Text), ("boxes", ColumnKind.Integer), ("hits", ColumnKind.Integer), ("hit_rate", ColumnKind.Number), ("tolerance_px", ColumnKind.Number));
        foreach (var ((mname, cat), (boxes, hits)) in pointing.OrderBy(p => p.Key.Method, StringComparer.Ordinal).ThenBy(p => p.Key.Category == "all" ? "" : p.Key.Category, StringComparer.Ordinal))
            pointTable.Add(mname, cat, boxes, hits, (double)hits / boxes, o.PointingTolerance);

        var imgTable = new TidyTable(("id", ColumnKind.Text), ("path", ColumnKind.Text), ("width", ColumnKind.Integer), ("height", ColumnKind.Integer),
            ("top_class", ColumnKind.Text), ("confidence", ColumnKind.Number), ("target_class", ColumnKind.Text), ("detections", ColumnKind.Integer), ("kept", ColumnKind.Integer));
        foreach (var r in records)
            imgTable.Add(r.Id, r.Path, r.Width, r.Height, labels[r.Top], r.Probabilities[r.Top], labels[r.TargetClass], r.Objects.Count, r.Probabilities[r.Top] >= o.MinClassConfidence ? 1 : 0);

        // Modifications.
        var effects = new List<ModificationEffect>();
        TidyTable? modTable = null, outcomeTable = null;
        var modExamples = new List<(byte[] Png, string Caption)>();
        if (mods.Count > 0)
        {
            var pastes = new Dictionary<string, PasteSource?>();
            foreach (var p in mods.OfType<ImageModification.Paste>())
                pastes[p.Category] = PasteSourceFor(records, p.Category);
            var outcomes = mods.ToDictionary(m => m.Name, _ => new List<ModificationOutcome>());
            outcomeTable = new TidyTable(("id", ColumnKind.Text), ("modification", ColumnKind.Text), ("original_class", ColumnKind.Text), ("modified_class", ColumnKind.Text),
                ("changed", ColumnKind.Integer), ("probability_change", ColumnKind.Number), ("kl_divergence", ColumnKind.Number));
            progress?.Report(new WorkProgress("modify", 0, records.Count, "images"));
            // Edited images are classified in batches of BatchSize (one forward pass each), in a fixed order.
            var pending = new List<(ImageRecord Record, ImageModification Mod, RgbImage Edited)>();
            void Flush()
            {
                if (pending.Count == 0) return;
                var probs = BatchProbabilities(classifier, pending.Select(q => q.Edited).ToList());
                for (int q = 0; q < pending.Count; q++)
                {
                    var (r, m, edited) = pending[q];
                    var oc = ModificationOutcome.Of(r.Probabilities, probs[q]);   // before: the CAM engine's pass on the unedited input
                    outcomes[m.Name].Add(oc);
                    outcomeTable.Add(r.Id, m.Name, labels[oc.OriginalClass], labels[oc.ModifiedClass], oc.Changed ? 1 : 0, oc.ProbabilityChange, oc.KlDivergence);
                    if (outcomes[m.Name].Count <= 6 && modExamples.Count < 60)
                        modExamples.Add((ImageEncoder.Encode(Thumbnail(edited, 192), ImageFormat.Png), $"{r.Id} · {m.Name} · {labels[oc.OriginalClass]} → {labels[oc.ModifiedClass]}"));
                }
                pending.Clear();
            }
            for (int n = 0; n < records.Count; n++)
            {
                ct.ThrowIfCancellationRequested();
                var r = records[n];
                var image = ImageDecoder.Decode(r.Path);
                foreach (var m in mods)
                {
                    int seed = MixSeed(o.Seed, r.Id, m.Name);
                    var edited = ImageEditor.Apply(m, image, r.Objects, seed, m is ImageModification.Paste p ? pastes[p.Category] : null);
                    if (edited == null) continue;
                    pending.Add((r, m, edited));
                    if (pending.Count >= o.BatchSize) Flush();
                }
                if ((n + 1) % 16 == 0 || n + 1 == records.Count)
                {
                    if (n + 1 == records.Count) Flush();
                    progress?.Report(new WorkProgress("modify", n + 1, records.Count, "images", r.Id));
                }
            }
            Flush();
            modTable = new TidyTable(("modification", ColumnKind.Text), ("group", ColumnKind.Text), ("images", ColumnKind.Integer),
                ("change_rate", ColumnKind.Number), ("change_rate_low", ColumnKind.Number), ("change_rate_high", ColumnKind.Number),
                ("mean_probability_change", ColumnKind.Number), ("probability_change_low", ColumnKind.Number), ("probability_change_high", ColumnKind.Number),
                ("mean_kl", ColumnKind.Number), ("kl_low", ColumnKind.Number), ("kl_high", ColumnKind.Number), ("resamples", ColumnKind.Integer), ("seed", ColumnKind.Integer));
            foreach (var m in mods)
            {
                var rows = ModificationStatistics.Summarise(m.Name, outcomes[m.Name], labels.Names, o.BootstrapResamples, o.Seed);
                effects.AddRange(rows);
                foreach (var e in rows)
                    modTable.Add(e.Modification, e.Group, e.Images, e.ChangeRate.Estimate, e.ChangeRate.Low, e.ChangeRate.High,
                        e.MeanProbabilityChange.Estimate, e.MeanProbabilityChange.Low, e.MeanProbabilityChange.High,
                        e.MeanKl.Estimate, e.MeanKl.Low, e.MeanKl.High, o.BootstrapResamples, o.Seed);
            }
            var all = effects.Where(e => e.Group == "all").ToList();
            if (all.Count > 0)
                AddChart(Charts.Bars("Top-class change rate per modification (95% bootstrap interval)", "change rate", all.Select(e => $"{e.Modification} (n={e.Images})").ToList(),
                    all.Select(e => e.ChangeRate.Estimate).ToList(), all.Select(e => (e.ChangeRate.High - e.ChangeRate.Low) / 2).ToList()), "modifications_change_rate");
        }

        // Tables.
        var tables = new Dictionary<string, string>();
        string Write(string name, TidyTable t) { var p = System.IO.Path.Combine(dir, "tables", name + ".csv"); t.WriteCsv(p); tables[name] = p; return p; }
        var imagesPath = Write("images", imgTable);
        var objectsPath = Write("objects", objTable);
        var ccPath = Write("class_category", ccTable);
        var assocPath = Write("association", assocTable);
        var agreePath = Write("agreement", agreeTable);
        var pointPath = Write("pointing", pointTable);
        string? modPath = modTable != null ? Write("modifications", modTable) : null;
        string? outcomePath = outcomeTable != null ? Write("modification_outcomes", outcomeTable) : null;

        // Reports.
        var galleryPath = System.IO.Path.Combine(dir, "gallery.html");
        var gal = new HtmlReport("CAM gallery");
        gal.Section("Overlays").Paragraph($"The first {Math.Min(o.GalleryImages, records.Count)} of {records.Count} images; each map explains the class named in brackets when it is not the top class. Boxes: objects scoring at least {o.MinDetectionScore}.");
        gal.Gallery(gallery);
        gal.Save(galleryPath);

        var reportPath = System.IO.Path.Combine(dir, "report.html");
        var rep = new HtmlReport("Corpus explanation: CAMs and image cues");
        rep.Section("Run").Facts(new (string, string)[]
        {
            ("model", classifier.Graph.Name), ("labels", labels.Name), ("layers", string.Join(", ", o.Layers)),
            ("methods", string.Join(", ", methods.Select(CamMethodNames.Name))), ("target", o.Target),
            ("detector", o.Detector?.Graph.Name ?? (o.Annotations != null ? "annotations" : "none")),
            ("images", records.Count.ToString(CultureInfo.InvariantCulture)), ("images kept (confidence ≥ " + F(o.MinClassConfidence) + ")", anyPresence.Count.ToString(CultureInfo.InvariantCulture)),
            ("filters", $"detection score ≥ {F(o.MinDetectionScore)}, importance ≥ {F(o.MinImportance)}"),
            ("categories", o.Categories != null ? string.Join(", ", o.Categories) : "all found"),
            ("seed", o.Seed.ToString(CultureInfo.InvariantCulture)), ("permutations", o.Permutations.ToString(CultureInfo.InvariantCulture)),
        });
        rep.Section("Class × object category").Paragraph("Each category counted once per image. Enrichment = count / (class images · category images / images); p: two-sided permutation test shuffling the classes over images.");
        rep.Table(ccTable.Where(row => (long)row[3]! > 0), "Cells with at least one image", maxRows: 60);
        rep.Section("Associations").Paragraph("Association = 1 − Dice distance (and 1 − Jaccard distance) between the binary image vectors of classes and object categories, as EmoCAM builds them.");
        foreach (var c in charts.Where(c => c.Title.Contains("association"))) rep.Chart(c);
        rep.Section("Agreement between CAM methods").Paragraph("Spearman ρ between the lower triangles of two methods' association matrices; p from the t distribution (as scipy.stats.spearmanr) and from a permutation test.");
        rep.Table(agreeTable);
        foreach (var c in charts.Where(c => c.Title.StartsWith("Agreement", StringComparison.Ordinal))) rep.Chart(c);
        rep.Section("Pointing game").Table(pointTable);
        if (modTable != null)
        {
            rep.Section("Modifications").Paragraph("Per edit: images it applied to, top-class change rate, mean change of the original top class's probability, mean KL(before ‖ after), with 95% bootstrap intervals over images.");
            rep.Table(modTable, maxRows: 120);
            foreach (var c in charts.Where(c => c.Title.StartsWith("Top-class change", StringComparison.Ordinal))) rep.Chart(c);
            rep.Gallery(modExamples);
        }
        rep.Section("Gallery").Gallery(gallery.Take(24));
        rep.Save(reportPath);

        return new CorpusSummary
        {
            OutputDir = dir, ReportPath = reportPath, GalleryPath = galleryPath, MapsManifestPath = manifestPath,
            ImagesTablePath = imagesPath, ObjectsTablePath = objectsPath, ClassCategoryTablePath = ccPath, AssociationTablePath = assocPath,
            AgreementTablePath = agreePath, PointingTablePath = pointPath, ModificationsTablePath = modPath, ModificationOutcomesTablePath = outcomePath,
            Tables = tables, Charts = charts, ChartPaths = chartPaths, Methods = methods.Select(CamMethodNames.Name).ToList(), ImageCount = records.Count,
            ImagesKept = anyPresence.Count, Seed = o.Seed, Images = results, ClassCategory = allCells, Agreements = agreements, ModificationEffects = effects,
        };
    }

    /// <summary>
    /// Per-image files: a temporary sibling renamed into place (a killed run leaves the old file or the new one, as
    /// Npy.Write and ImageEncoder.Save do) without AtomicFile's flush to disk, which costs milliseconds per file and
    /// dominated runs over 10,000 images.
    /// </summary>
    static void WriteReplacing(string path, string text)
    {
        var tmp = path + $".{Environment.ProcessId}.tmp";
        File.WriteAllText(tmp, text);
        File.Move(tmp, path, overwrite: true);
    }

    /// <summary>The classifier's probabilities for several images from one forward pass (same rule as ImageClassifier.Probabilities per row).</summary>
    static double[][] BatchProbabilities(ImageClassifier classifier, IReadOnlyList<RgbImage> images)
    {
        using var scope = torch.NewDisposeScope();
        var inputs = images.Select(im => classifier.Prepare(im).Input).ToList();
        using var x = inputs.Count == 1 ? inputs[0].alias() : torch.cat(inputs, 0);
        using var result = classifier.Graph.Run(x);
        var output = result.Outputs[classifier.OutputName];
        if (output.shape[0] != images.Count)
            throw new LayerLensException($"model output '{classifier.OutputName}' has batch {output.shape[0]} for {images.Count} images", ErrorKind.Internal);
        var rows = new double[images.Count][];
        for (int i = 0; i < images.Count; i++) rows[i] = Classifier.Probabilities(output[i]);
        return rows;
    }

    static string F(double v) => v.ToString("0.###", CultureInfo.InvariantCulture);
    static string Title(AssociationMeasure m) => m == AssociationMeasure.Dice ? "Dice" : "Jaccard";

    static ICamEngine DefaultEngine(ImageClassifier classifier) => new CamEngine(classifier.Graph, classifier.Labels);

    /// <summary>"top1"/"topK" → the K-th predicted class, an integer → that class index, otherwise a class name of the label set.</summary>
    public static CamTarget ParseTarget(string text, LabelSet labels)
    {
        var t = text.Trim();
        if (t.StartsWith("top", StringComparison.OrdinalIgnoreCase) && int.TryParse(t[3..], out var k))
            return k >= 1 ? new CamTarget.Ranked(k - 1) : throw new LayerLensException($"target '{text}': ranks start at top1", ErrorKind.Usage);
        if (int.TryParse(t, NumberStyles.Integer, CultureInfo.InvariantCulture, out var idx))
            return idx >= 0 && idx < labels.Count ? new CamTarget.ClassIndex(idx)
                : throw new LayerLensException($"target class {idx} is outside 0..{labels.Count - 1}", ErrorKind.Usage);
        return labels.Names.Contains(t) ? new CamTarget.ClassName(t)
            : throw new LayerLensException($"target '{text}' is not top1/topK, a class index or a class of {labels.Name} ({string.Join(", ", labels.Names.Take(20))})", ErrorKind.Usage);
    }

    /// <summary>A fixed mixing of the run seed with an image id and an edit (string.GetHashCode differs per process).</summary>
    public static int MixSeed(int seed, string id, string what)
    {
        ulong hsh = 14695981039346656037UL ^ (uint)seed;
        foreach (var ch in id + "\u0001" + what) { hsh ^= ch; hsh *= 1099511628211UL; }
        return (int)(hsh ^ (hsh >> 32)) & int.MaxValue;
    }

    static PasteSource? PasteSourceFor(List<ImageRecord> records, string category)
    {
        ImageRecord? best = null;
        DetectedObject bestBox = default;
        foreach (var r in records)
            foreach (var d in r.Objects)
                if (d.Label == category && (best == null || d.Score > bestBox.Score)) { best = r; bestBox = d; }
        if (best == null) return null;
        var img = ImageDecoder.Decode(best.Path);
        var crop = ImageEditor.CropBox(img, bestBox);
        return new PasteSource(best.Id, crop, (double)crop.Width / img.Width, (double)crop.Height / img.Height);
    }

    /// <summary>The image blended half and half with the map in the jet colour map.</summary>
    public static RgbImage Heat(RgbImage image, float[] map)
    {
        var px = new byte[image.Pixels.Length];
        for (int i = 0; i < map.Length; i++)
        {
            float v = Math.Clamp(map[i], 0, 1);
            float r = Math.Clamp(1.5f - Math.Abs(4 * v - 3), 0, 1), g = Math.Clamp(1.5f - Math.Abs(4 * v - 2), 0, 1), b = Math.Clamp(1.5f - Math.Abs(4 * v - 1), 0, 1);
            px[3 * i] = (byte)Math.Round(0.5 * image.Pixels[3 * i] + 127.5 * r);
            px[3 * i + 1] = (byte)Math.Round(0.5 * image.Pixels[3 * i + 1] + 127.5 * g);
            px[3 * i + 2] = (byte)Math.Round(0.5 * image.Pixels[3 * i + 2] + 127.5 * b);
        }
        return new RgbImage(image.Width, image.Height, px) { Source = image.Source };
    }

    static RgbImage Thumbnail(RgbImage img, int maxSide)
    {
        double s = Math.Min(1, (double)maxSide / Math.Max(img.Width, img.Height));
        return s >= 1 ? img : ImageEditor.Resize(img, Math.Max(1, (int)Math.Round(img.Width * s)), Math.Max(1, (int)Math.Round(img.Height * s)));
    }

    static double? N(double v) => double.IsFinite(v) ? Math.Round(v, 6) : null;

    static string ImageJson(ImageRecord r, LabelSet labels, IReadOnlyList<CamMethod> methods, Dictionary<string, string> mapPaths, string dir) =>
        JsonSerializer.Serialize(new
        {
            id = r.Id, path = r.Path, width = r.Width, height = r.Height,
            top_class = labels[r.Top], confidence = N(r.Probabilities[r.Top]), target_class = labels[r.TargetClass],
            probabilities = r.Probabilities.Select((p, i) => (labels[i], p)).ToDictionary(t => t.Item1, t => N(t.p)),
            maps = mapPaths.ToDictionary(k => k.Key, k => System.IO.Path.GetRelativePath(dir, k.Value)),
            detections = r.Objects.Select((d, j) => new
            {
                label = d.Label, score = N(d.Score), box = new[] { N(d.X0), N(d.Y0), N(d.X1), N(d.Y1) },
                cam = methods.ToDictionary(CamMethodNames.Name, m =>
                {
                    var s = r.Stats[m][j];
                    return new { importance = N(s.Importance), energy_share = N(s.EnergyShare), area_share = N(s.AreaShare), ratio = N(s.Ratio), pointing_hit = s.PointingHit };
                }),
            }),
        }, new JsonSerializerOptions { WriteIndented = true });
}
