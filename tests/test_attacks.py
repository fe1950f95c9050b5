"""FGSM/PGD in pixel space on tiny trained models, and ``vidsparse eval --attack`` end to end."""

from __future__ import annotations

import functools
import json
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.utils.data import Subset

from tests.conftest import tiny_train_args
from vidsparse.cli import main
from vidsparse.core.distributed import World, shard_indices
from vidsparse.errors import UserError
from vidsparse.evaluation.attacks import (AttackSpec, PixelModel, _input_gradient, adversarial_accuracy, attack,
                                          averaged_probs, to_pixels)

MEAN, STD = (0.5, 0.4, 0.45), (0.25, 0.2, 0.3)


def separable(shape: tuple[int, ...], n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Pixels in [0, 1]: class 0 around grey 0.45, class 1 around 0.55 (margin ~13/255)."""
    gen = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % 2
    pixels = 0.45 + 0.1 * labels.view(-1, *[1] * len(shape)).float() + 0.02 * (torch.rand(n, *shape, generator=gen) - 0.5)
    return pixels, labels


def normalise(pixels: torch.Tensor) -> torch.Tensor:
    channel = 2 if pixels.dim() == 6 else 1
    view = (-1,) + (1,) * (pixels.dim() - channel - 1)
    return (pixels - torch.tensor(MEAN).view(view)) / torch.tensor(STD).view(view)


def image_model() -> nn.Module:
    return nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 2))


def video_model() -> nn.Module:
    return nn.Sequential(nn.Conv3d(3, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool3d(1), nn.Flatten(),
                         nn.Linear(4, 2))


CASES = {"image": ((3, 8, 8), image_model), "video": ((3, 2, 8, 8), video_model)}


@functools.lru_cache(maxsize=None)
def train(kind: str) -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    """(model in eval mode, test pixels, labels) after a few steps on the separable task."""
    shape, make = CASES[kind]
    torch.manual_seed(0)
    model = make()
    x, y = separable(shape, 64, seed=1)
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    for _ in range(60):
        opt.zero_grad()
        nn.functional.cross_entropy(model(normalise(x)), y).backward()
        opt.step()
    model.zero_grad(set_to_none=True)
    test_x, test_y = separable(shape, 32, seed=2)
    return model.eval(), test_x, test_y


@pytest.fixture(params=sorted(CASES))
def trained(request):
    return train(request.param)


def _accuracy(model: nn.Module, pixels: torch.Tensor, labels: torch.Tensor) -> float:
    with torch.no_grad():
        return (PixelModel(model, MEAN, STD)(pixels).argmax(-1) == labels).float().mean().item()


def _pgd(eps: float, seed: int = 0, steps: int = 20) -> AttackSpec:
    return AttackSpec("pgd", eps, steps=steps, step_size=max(eps, 1e-3) / 4, seed=seed)


def test_pgd_accuracy_falls_with_eps_and_stays_in_the_ball(trained):
    model, x, y = trained
    pixel_model = PixelModel(model, MEAN, STD)
    clean = _accuracy(model, x, y)
    assert clean == 1.0
    accuracies = []
    for eps in (0, 2 / 255, 8 / 255, 32 / 255):
        adv = attack(pixel_model, x, y, _pgd(eps), torch.Generator().manual_seed(0))
        assert (adv - x).abs().max().item() <= eps + 1e-6
        assert adv.min().item() >= 0 and adv.max().item() <= 1
        accuracies.append(_accuracy(model, adv, y))
    assert accuracies[0] == clean
    assert all(a >= b for a, b in zip(accuracies, accuracies[1:])), accuracies
    assert accuracies[-1] <= 0.1  # far beyond the margin: the attack really works
    assert all(p.grad is None for p in model.parameters()) and not model.training


def test_fgsm_zero_eps_is_clean_and_pgd_is_seeded(trained):
    model, x, y = trained
    pixel_model = PixelModel(model, MEAN, STD)
    assert torch.equal(attack(pixel_model, x, y, AttackSpec("fgsm", 0.0)), x)
    fgsm = attack(pixel_model, x, y, AttackSpec("fgsm", 32 / 255))
    assert (fgsm - x).abs().max().item() == pytest.approx(32 / 255, abs=1e-6)
    assert _accuracy(model, fgsm, y) < 1.0

    def run(seed: int) -> torch.Tensor:
        spec = AttackSpec("pgd", 8 / 255, steps=2, step_size=1 / 255, restarts=2, seed=seed)
        return attack(pixel_model, x, y, spec, torch.Generator().manual_seed(seed))

    assert torch.equal(run(3), run(3))
    assert not torch.equal(run(3), run(4))


def test_pixels_clamped_near_the_range_ends():
    """Pixels at 0 and 1 may not leave [0, 1] even when the gradient pushes outwards."""
    torch.manual_seed(0)
    model = image_model().eval()
    x = torch.randint(0, 2, (4, 3, 8, 8)).float()
    adv = attack(PixelModel(model, MEAN, STD), x, torch.tensor([0, 1, 0, 1]),
                 AttackSpec("pgd", 8 / 255, steps=3, step_size=4 / 255), torch.Generator().manual_seed(0))
    assert adv.min().item() >= 0 and adv.max().item() <= 1 and (adv - x).abs().max().item() <= 8 / 255 + 1e-6


def test_multi_view_clips_attack_the_averaged_prediction():
    model, x, y = train("video")
    views = torch.stack([x, x.flip(-1)], 1)  # [B, V=2, C, T, H, W]
    spec = AttackSpec("pgd", 32 / 255, steps=10, step_size=8 / 255)
    adv = attack(PixelModel(model, MEAN, STD), views, y, spec, torch.Generator().manual_seed(0))
    assert adv.shape == views.shape and (adv - views).abs().max().item() <= 32 / 255 + 1e-6
    assert _accuracy(model, adv, y) < _accuracy(model, views, y)


def test_adversarial_accuracy_over_a_normalised_dataset(trained):
    model, x, y = trained
    normalised = normalise(x)
    dataset = [(normalised[i], int(y[i]), i) for i in range(len(y))]
    assert torch.allclose(to_pixels(normalise(x), MEAN, STD), x, atol=1e-6)
    out = adversarial_accuracy(model, dataset, MEAN, STD, _pgd(32 / 255), ["a", "b"], torch.device("cpu"),
                               batch_size=10, progress=False)
    assert out.clean.n == out.attacked.n == 32 and out.clean.top1 == 1.0
    assert out.attacked.top1 <= 0.1 and out.attacked.top5 == 1.0  # two classes: top-5 always hits


@pytest.mark.parametrize("kwargs, message", [
    ({"eps": -0.1}, "--eps must be >= 0"), ({"eps": 0.1, "steps": 0}, "--steps and --attack-restarts"),
    ({"eps": 0.1, "step_size": 0.0}, "--step-size must be > 0"),
])
def test_bad_attack_settings(kwargs, message):
    with pytest.raises(UserError, match=message):
        AttackSpec("pgd", **kwargs)
    with pytest.raises(UserError, match="unknown attack 'cw'"):
        AttackSpec("cw", 0.1)


# ----------------------------------------------------------------------------------------------
# the eval command


@pytest.mark.parametrize("args, message", [
    (["--attack", "pgd", "--eps=-1/255"], "--eps must be >= 0"), (["--attack", "pgd", "--steps", "0"], "--steps"),
    (["--attack", "cw"], "unknown attack"),
])
def test_eval_rejects_bad_attack_in_one_line(tmp_path: Path, args, message, capsys):
    assert main(["eval", "--run", str(tmp_path), *args]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err


def test_eval_attack_end_to_end_and_report(synthetic_root: Path, tmp_path: Path, capsys):
    from vidsparse.reporting.report import build_report

    run = tmp_path / "run"
    assert main(tiny_train_args(synthetic_root, run)) == 0
    args = ["eval", "--run", str(run), "--views", "1x1", "--attack", "pgd", "--eps", "8/255", "--steps", "2",
            "--step-size", "4/255", "--workers", "0"]
    assert main(args) == 0
    data = json.loads((run / "eval.json").read_text())
    key = "eps=0.0313725,steps=2,step=0.0156863,restarts=1"
    entry = data["adversarial"]["pgd"][key]
    assert entry["n"] == 8 and entry["views"] == "1x1" and entry["seed"] == 0
    assert entry["clean_top1"] == pytest.approx(data["clean"]["top1"])
    assert entry["top1"] <= entry["clean_top1"]
    assert key in capsys.readouterr().out

    assert main(args) == 0
    assert "reusing the pgd" in capsys.readouterr().err
    assert main(args[:-2] + ["--attack", "fgsm", "--eps", "0"]) == 0  # a second attack keeps the first
    data = json.loads((run / "eval.json").read_text())
    assert set(data["adversarial"]) == {"pgd", "fgsm"}
    assert data["adversarial"]["fgsm"]["eps=0"]["top1"] == pytest.approx(data["clean"]["top1"])

    report = build_report([run], tmp_path / "report")
    assert f"adversarial top-1 (pgd {key})" in report.markdown.read_text()
    assert "adversarial_top1_mean (fgsm eps=0)" in report.csv.read_text()

    assert main(["eval", "--run", str(run), "--views", "1x2", "--workers", "0"]) == 0  # another test protocol
    assert "adversarial" not in json.loads((run / "eval.json").read_text())


def test_chunked_gradients_equal_one_backward_over_all_views():
    """Chunks of 3 clips over 3 samples x 2 views: chunks straddle samples, gradients are exact."""
    model, x, y = train("video")
    views = torch.stack([x, x.flip(-1)], 1)[:3]
    pixel_model = PixelModel(model, MEAN, STD)
    whole = _input_gradient(pixel_model, views, y[:3], chunk=0)
    chunked = _input_gradient(pixel_model, views, y[:3], chunk=3)
    torch.testing.assert_close(chunked, whole, rtol=1e-4, atol=1e-7)
    torch.testing.assert_close(averaged_probs(pixel_model, views, 4), pixel_model(views))
    spec = AttackSpec("pgd", 8 / 255, steps=3, step_size=2 / 255)
    generators = [torch.Generator().manual_seed(i) for i in range(3)]
    a = attack(pixel_model, views, y[:3], spec, generators, chunk=0)
    b = attack(pixel_model, views, y[:3], spec, [torch.Generator().manual_seed(i) for i in range(3)], chunk=3)
    assert (a != b).float().mean() < 1e-3  # only signs of gradients within rounding of zero may differ


def test_adversarial_accuracy_is_the_same_in_any_batches_and_shards(trained):
    model, x, y = trained
    dataset = [(normalise(x)[i], int(y[i]), i) for i in range(len(y))]
    spec = _pgd(4 / 255, steps=3)
    run = functools.partial(adversarial_accuracy, model, mean=MEAN, std=STD, spec=spec, class_names=["a", "b"],
                  device=torch.device("cpu"), progress=False)
    whole = run(dataset=dataset, batch_size=10)
    assert run(dataset=dataset, batch_size=3).attacked == whole.attacked
    shards = [run(dataset=Subset(dataset, shard_indices(len(dataset), World(r, 2))), batch_size=4) for r in (0, 1)]
    hits = sum(round(s.attacked.top1 * s.attacked.n) for s in shards)
    assert sum(s.attacked.n for s in shards) == whole.attacked.n
    assert hits == round(whole.attacked.top1 * whole.attacked.n)
