using LayerLens.IO;
using LayerLens.Native;
using LayerLens.Quality.Datasets;
using static TorchSharp.torch;

namespace LayerLens.Tests.Quality;

public sealed class IqaDatasetTests : IDisposable
{
    readonly string _root = Directory.CreateTempSubdirectory("layerlens-iqa-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    string Touch(params string[] parts)
    {
        var p = Path.Combine(new[] { _root }.Concat(parts).ToArray());
        Directory.CreateDirectory(Path.GetDirectoryName(p)!);
        File.WriteAllBytes(p, new byte[] { 1 });
        return p;
    }

    string Write(string text, params string[] parts)
    {
        var p = Path.Combine(new[] { _root }.Concat(parts).ToArray());
        Directory.CreateDirectory(Path.GetDirectoryName(p)!);
        File.WriteAllText(p, text);
        return p;
    }

    [Fact]
    public void Tid2013_parses_mos_names_type_and_level_and_resolves_mixed_case_files()
    {
        var refPath = Touch("tid", "reference_images", "I01.BMP");
        var d1 = Touch("tid", "distorted_images", "i01_07_3.bmp");
        Touch("tid", "distorted_images", "I01_24_5.bmp");
        Write("5.51429 i01_07_3.bmp\n\n3.25 i01_24_5.bmp\n", "tid", "mos_with_names.txt");
        var ds = IqaDataset.Open("tid2013:" + Path.Combine(_root, "tid"));
        Assert.True(ds.HigherScoreIsBetter);
        Assert.Equal(2, ds.Pairs.Count);
        Assert.Equal(new IqaPair(refPath, d1, 5.51429, "07", 3), ds.Pairs[0]);
        Assert.Equal(("24", 5), (ds.Pairs[1].DistortionType, ds.Pairs[1].Level!.Value));
    }

    [Fact]
    public void Tid2013_errors_name_file_and_line()
    {
        Touch("tid", "reference_images", "I01.BMP");
        Touch("tid", "distorted_images", "i01_01_1.bmp");
        var list = Write("4.0 i01_01_1.bmp\nabc i01_01_2.bmp\n", "tid", "mos_with_names.txt");
        var e = Assert.Throws<LayerLensException>(() => IqaDatasets.Tid2013(Path.Combine(_root, "tid")));
        Assert.StartsWith($"{list}:2:", e.Message);
        Write("4.0 i01_01_1.bmp\n4.1 i01_01_2.bmp\n", "tid", "mos_with_names.txt");
        e = Assert.Throws<LayerLensException>(() => IqaDatasets.Tid2013(Path.Combine(_root, "tid")));
        Assert.StartsWith($"{list}:2: image 'i01_01_2.bmp' not found", e.Message);
    }

    [Fact]
    public void Kadid10k_reads_dmos_csv_as_higher_is_better_with_type_and_level()
    {
        Touch("kadid", "images", "I01.png");
        var d = Touch("kadid", "images", "I01_03_04.png");
        Write("dist_img,ref_img,dmos,var\nI01_03_04.png,I01.png,3.9,0.2\n", "kadid", "dmos.csv");
        var ds = IqaDataset.Open("kadid:" + Path.Combine(_root, "kadid"));
        Assert.True(ds.HigherScoreIsBetter);
        Assert.Equal(new IqaPair(Path.Combine(_root, "kadid", "images", "I01.png"), d, 3.9, "03", 4), ds.Pairs.Single());
    }

    [Fact]
    public void Csiq_maps_sheet_types_to_folders_and_is_dmos()
    {
        Touch("csiq", "src_imgs", "1600.png");
        var d = Touch("csiq", "dst_imgs", "awgn", "1600.AWGN.2.png");
        Touch("csiq", "dst_imgs", "jpeg2000", "1600.jpeg2000.1.png");
        Write("image,dst_idx,dst_type,dst_lev,dmos_std,dmos\n1600,1,noise,2,0.01,0.12\n1600,3,jpeg 2000,1,0.02,0.05\n", "csiq", "csiq_dmos.csv");
        var ds = IqaDataset.Open("csiq:" + Path.Combine(_root, "csiq"));
        Assert.False(ds.HigherScoreIsBetter);
        Assert.Equal(new IqaPair(Path.Combine(_root, "csiq", "src_imgs", "1600.png"), d, 0.12, "awgn", 2), ds.Pairs[0]);
        Assert.Equal("jpeg2000", ds.Pairs[1].DistortionType);
    }

    [Fact]
    public void Generic_csv_reads_optional_type_and_level_and_reports_bad_numbers_by_line()
    {
        Touch("set", "a.png");
        Touch("set", "a_blur.png");
        var csv = Write("ref,dist,dmos,type,level\na.png,a_blur.png,12.5,blur,2\na.png,a_blur.png,7,,\n", "set", "pairs.csv");
        var ds = IqaDataset.Open("csv:" + csv);
        Assert.False(ds.HigherScoreIsBetter);
        Assert.Equal(("blur", (int?)2), (ds.Pairs[0].DistortionType, ds.Pairs[0].Level));
        Assert.Equal((null, (int?)null), (ds.Pairs[1].DistortionType, ds.Pairs[1].Level));
        Write("ref,dist,mos\na.png,a_blur.png,1\n\na.png,a_blur.png,NaN\n", "set", "pairs.csv");
        var e = Assert.Throws<LayerLensException>(() => IqaDatasets.Csv(csv));
        Assert.Equal($"{csv}:4: 'NaN' is not a finite number", e.Message);
        Write("ref,distorted,rating\na.png,a_blur.png,1\n", "set", "pairs.csv");
        Assert.StartsWith($"{csv}:1: no score column", Assert.Throws<LayerLensException>(() => IqaDatasets.Csv(csv)).Message);
        Assert.Contains("unknown dataset kind", Assert.Throws<LayerLensException>(() => IqaDataset.Open("pipal:/x")).Message);
    }

    [Fact]
    public void Mat_reader_reads_scipy_savemat_files_compressed_and_not()
    {
        var small = MatV5.ReadNumeric(Path.Combine(QualityFixtures.Dir, "small_uncompressed.mat"));
        Assert.Equal(new[] { 1.5, -2.0, 3.25 }, small["a"]);
        Assert.Equal(new[] { 7.0, 8.0 }, small["b"]);
        var live = MatV5.ReadNumeric(Path.Combine(QualityFixtures.Dir, "live_dmos.mat"));
        Assert.Equal(982, live["dmos"].Length);
        Assert.Equal(98.1, live["dmos"][981], 12);
        Assert.Equal(1.0, live["orgs"][29]);
    }

    [Fact]
    public void Live_release2_maps_dmos_entries_to_folder_images_and_drops_originals()
    {
        File.Copy(Path.Combine(QualityFixtures.Dir, "live_dmos.mat"), Path.Combine(_root, "dmos.mat"));
        Touch("refimgs", "parrots.bmp");
        foreach (var (folder, _) in IqaDatasets.LiveFolders)
        {
            Touch(folder, "img1.bmp");
            Touch(folder, "img30.bmp");
            Write("parrots.bmp img1.bmp 0.5\nparrots.bmp img30.bmp 0.9\n", folder, "info.txt");
        }
        var ds = IqaDataset.Open("live:" + _root);
        Assert.False(ds.HigherScoreIsBetter);
        // jp2k img30 is entry 29, an original in the fixture; jpeg img1 is entry 227 (dmos 22.7).
        Assert.DoesNotContain(ds.Pairs, p => p.DistortionType == "jp2k" && p.Distorted.EndsWith("img30.bmp"));
        var jpeg1 = ds.Pairs.Single(p => p.DistortionType == "jpeg" && p.Distorted.EndsWith("img1.bmp"));
        Assert.Equal(22.7, jpeg1.Score, 12);
        Assert.EndsWith("parrots.bmp", jpeg1.Reference);
    }

    [Fact]
    public void Bapps_2afc_and_jnd_read_judgements_by_file_stem()
    {
        TorchRuntime.EnsureLoaded();
        foreach (var sub in new[] { "ref", "p0", "p1" }) Touch("2afc", sub, "000001.png");
        Directory.CreateDirectory(Path.Combine(_root, "2afc", "judge"));
        Directory.CreateDirectory(Path.Combine(_root, "jnd", "same"));
        using (var j = tensor(new[] { 0.75f }).reshape(1)) Npy.Write(Path.Combine(_root, "2afc", "judge", "000001.npy"), j);
        var t = IqaDatasets.BappsTwoAfc(Path.Combine(_root, "2afc")).Single();
        Assert.Equal(0.75, t.PreferP1, 6);
        Assert.EndsWith(Path.Combine("p1", "000001.png"), t.P1);
        foreach (var sub in new[] { "p0", "p1" }) Touch("jnd", sub, "000007.png");
        using (var s = tensor(new[] { 0.25 })) Npy.Write(Path.Combine(_root, "jnd", "same", "000007.npy"), s);
        Assert.Equal(0.25, IqaDatasets.BappsJnd(Path.Combine(_root, "jnd")).Single().Same, 12);
        using (var bad = tensor(new[] { 1.5 })) Npy.Write(Path.Combine(_root, "jnd", "same", "000007.npy"), bad);
        Assert.Contains("not a fraction", Assert.Throws<LayerLensException>(() => IqaDatasets.BappsJnd(Path.Combine(_root, "jnd"))).Message);
    }
}
