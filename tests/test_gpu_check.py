"""``scripts/gpu_check.sh``: the CPU-runnable parts (the plan parses, the throughput table)."""

from __future__ import annotations

import importlib.util
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location("gpu_check", ROOT / "scripts" / "gpu_check.py")
gpu_check = importlib.util.module_from_spec(spec)
spec.loader.exec_module(gpu_check)


def test_dry_run_prints_every_step_and_each_command_parses(tmp_path, capsys):
    for cpu in ([], ["--cpu"]):
        assert gpu_check.main_check(["--dry-run", "--work", str(tmp_path), *cpu]) == 0
        lines = capsys.readouterr().out.splitlines()
        assert [line.split(".")[0] for line in lines] == ["1", "2", "3", "4", "5", "6"]
        assert "--resume" in lines[4] and "--corruptions" in lines[2]
    assert "--device cuda" in lines[4] or "--device cpu" in lines[4]


def test_gpu_plan_evaluates_every_ucf101p_corruption_and_resumes_a_cpu_checkpoint_on_cuda(tmp_path):
    steps = dict(gpu_check.plan(tmp_path, cpu=False))
    assert steps["on-the-fly eval, ucf101-p"][steps["on-the-fly eval, ucf101-p"].index("--corruptions") + 1] == "ucf101-p"
    cpu_train, resume = steps["train 1 epoch on the CPU"], steps["resume it on the GPU"]
    assert cpu_train[cpu_train.index("--device") + 1] == "cpu" and resume[resume.index("--device") + 1] == "cuda"
    assert "train.amp=true" in steps["train RigL + AMP"]


def test_without_cuda_the_full_check_refuses_in_one_line(capsys):
    assert gpu_check.main_check([]) == 2
    assert "run with --cpu" in capsys.readouterr().err


def test_cpu_throughput_table_has_every_row_and_says_the_gpu_is_unrun(monkeypatch):
    monkeypatch.setattr(gpu_check, "FRAME_CORRUPTIONS", ["gaussian_noise"])  # one is enough here
    table = gpu_check.throughput_table(cpu=True)
    assert table.count("unrun (no GPU)") == 3
    assert "training clips/s" in table and "gaussian_noise frames/s" in table


def test_shell_wrapper_is_valid_bash_and_hands_over_its_arguments():
    script = ROOT / "scripts" / "gpu_check.sh"
    assert subprocess.run(["bash", "-n", str(script)]).returncode == 0
    assert 'exec "$PY" scripts/gpu_check.py "$@"' in script.read_text()
