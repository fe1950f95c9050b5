"""``vidsparse report --format robustbench`` on fabricated runs, against hand-made expected files."""

import csv
import json
from pathlib import Path

from vidsparse.cli import main
from vidsparse.config import RunConfig, save_config

DATA = Path(__file__).parent / "data"
EXTRA = "speckle_noise"  # one of CIFAR-10-C's 4 extra corruptions: never in the headline


def fabricate(root: Path, name: str, dataset: str, model: str, method: str, sparsity: float, clean: float,
              grid: dict, summary: dict | None = None, flops: float | None = None) -> Path:
    run = root / name
    run.mkdir(parents=True)
    cfg = RunConfig()
    cfg.data.dataset, cfg.model.name, cfg.sparse.method, cfg.sparse.sparsity = dataset, model, method, sparsity
    cfg.data.clip_len, cfg.data.stride, cfg.data.test_clips, cfg.data.test_crops = 16, 4, 10, 3
    save_config(cfg, run / "config.yaml")
    corruptions = {c: {s: {"top1": v, "top5": 1.0, "n": 100} for s, v in sev.items()} for c, sev in grid.items()}
    data = {"clean": {"top1": clean, "top5": 1.0, "n": 100}, "corruptions": corruptions, "summary": summary or {}}
    (run / "eval.json").write_text(json.dumps(data))
    if flops is not None:
        (run / "metrics.csv").write_text(f"epoch,train_flops_ratio\n1,{flops}\n2,{flops}\n")
    return run


COMMON = ("shot_noise motion_blur snow pixelate gaussian_noise defocus_blur brightness fog zoom_blur frost "
          "glass_blur impulse_noise contrast jpeg_compression elastic_transform").split()


def image_runs(root: Path) -> list[Path]:
    full = {c: {str(s): (0.25 if (c, s) == ("gaussian_noise", 5) else 0.5) for s in range(1, 6)} for c in COMMON}
    full[EXTRA] = {str(s): 0.0 for s in range(1, 6)}
    partial = {"shot_noise": {"1": 0.9, "2": 0.8, "3": 0.7, "4": 0.6, "5": 0.5}}
    return [fabricate(root, "cifar-dense", "cifar10", "resnet18_cifar", "dense", 0.0, 0.9, full, flops=1.0),
            fabricate(root, "cifar-rigl", "cifar10", "resnet18_cifar", "rigl", 0.9, 0.8, partial, flops=0.3)]


def test_image_runs_in_robustbench_format(tmp_path, capsys):
    runs = image_runs(tmp_path / "runs")
    out = tmp_path / "rb"
    assert main(["report", *map(str, runs), "--out", str(out), "--format", "robustbench"]) == 0
    captured = capsys.readouterr()
    assert "15 ImageNet-C/CIFAR-10-C corruptions" in captured.out  # the headline set is stated
    assert "cifar-rigl" in captured.err and "5/75" in captured.err  # partial evaluation warned about
    folder = out / "cifar10" / "corruptions"
    written = (folder / "unaggregated_results.csv").read_text()
    assert written == (DATA / "robustbench_unaggregated_expected.csv").read_text()
    header = list(csv.reader(written.splitlines()))[:2]
    assert EXTRA not in header[0] and len(header[0]) == 1 + 75 and header[1][1:6] == ["1", "2", "3", "4", "5"]

    dense = json.loads((folder / "cifar-dense.json").read_text())
    assert dense["clean_acc"] == "90.00" and dense["corruptions_acc"] == "49.67"  # (74 * 0.5 + 0.25) / 75
    assert dense["architecture"] == "resnet18_cifar" and dense["dataset"] == "cifar10" and dense["eps"] is None
    assert dense["method"] == "dense" and dense["sparsity"] == 0.0 and dense["training_flops_ratio"] == 1.0
    assert dense["corruptions_cells"] == "75/75" and "common15" in dense["corruptions_set"]
    rigl = json.loads((folder / "cifar-rigl.json").read_text())
    assert rigl["corruptions_acc"] == "70.00" and rigl["corruptions_cells"] == "5/75"
    assert rigl["sparsity"] == 0.9 and rigl["training_flops_ratio"] == 0.3


def test_video_runs_in_the_video_papers_layout(tmp_path):
    summary = {"mpc": 0.55, "rpc": 0.6875, "preset": "ucf101-p",
               "by_family": {"noise": 0.5, "temporal": 0.6}}
    grid = {"gaussian_noise": {"1": 0.5, "3": 0.5}, "jumble": {"1": 0.6, "3": 0.6}}
    run = fabricate(tmp_path, "ucf-rigl", "synthetic", "r3d_18", "rigl", 0.8, 0.8, grid, summary, flops=0.25)
    out = tmp_path / "rb"
    assert main(["report", str(run), "--out", str(out), "--format", "robustbench"]) == 0
    expected = ("run,dataset,backbone,method,sparsity,clip_length,sampling,clean,mPC,rPC,training_flops_ratio,"
                "corruption_set,noise,temporal\n"
                'ucf-rigl,synthetic,r3d_18,rigl,0.8,16,"stride 4, 10x3 views",80.00,55.00,0.688,0.25,'
                '"ucf101-p: 2 corruptions x severities 1,3",50.00,60.00\n')
    assert (out / "video_robustness.csv").read_text() == expected
    assert not (out / "synthetic").exists()  # no RobustBench files for video runs


def test_unevaluated_run_is_one_line(tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    save_config(RunConfig(), run / "config.yaml")
    assert main(["report", str(run), "--out", str(tmp_path / "o"), "--format", "robustbench"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "no eval.json" in err
