"""Two CPU processes under DDP (gloo): masks stay identical through RigL and SET updates."""

from __future__ import annotations

from pathlib import Path

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel

from tests.sparse_fixtures import TinyConv3dNet, batch, make_context
from tests.sparse_fixtures import single_thread  # noqa: F401  (autouse fixture)
from vidsparse.sparse import SparseConfig, assert_masks_identical, build_sparsifier
from vidsparse.sparse.distributed import mask_digests

STEPS = 12


def _worker(rank: int, world: int, tmp: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{tmp}/rendezvous", rank=rank,
                            world_size=world)
    results: dict = {}
    for method in ("rigl", "set"):
        torch.manual_seed(rank)  # different init per rank: DDP broadcasts rank 0's weights
        model = TinyConv3dNet()
        ddp = DistributedDataParallel(model)
        opt = torch.optim.SGD(ddp.parameters(), lr=0.05, momentum=0.9)
        cfg = SparseConfig(method=method, sparsity=0.5, update_every=2, update_end=1.0,
                           distribution="uniform", seed=7, broadcast_masks=method == "set")
        sparsifier = build_sparsifier(cfg, model, opt, make_context(total_steps=STEPS))
        changed = 0.0
        for step in range(STEPS):
            x, y = batch(step, rank=rank)  # different data per rank: local gradients differ
            opt.zero_grad()
            F.cross_entropy(ddp(x), y).backward()
            sparsifier.before_step(step)
            opt.step()
            sparsifier.after_step(step)
        changed += sparsifier.on_epoch_end(0)["mask_changed"]  # also runs the identity check
        assert_masks_identical(sparsifier)
        results[method] = {"digests": mask_digests(sparsifier), "changed": changed,
                           "weights": {n: p.detach().clone() for n, p in model.named_parameters()}}
    if rank == 1:  # a rank that drifts must be caught
        t = next(t for t in sparsifier.tensors if t.mask is not None)
        t.mask.view(-1)[0] = ~t.mask.view(-1)[0]
    try:
        assert_masks_identical(sparsifier)
        results["drift_detected"] = False
    except RuntimeError:
        results["drift_detected"] = True
    torch.save(results, Path(tmp) / f"rank{rank}.pt")
    dist.destroy_process_group()


def test_masks_identical_across_two_ddp_ranks(tmp_path):
    mp.spawn(_worker, args=(2, str(tmp_path)), nprocs=2, join=True)
    ranks = [torch.load(tmp_path / f"rank{r}.pt") for r in range(2)]
    for method in ("rigl", "set"):
        a, b = ranks[0][method], ranks[1][method]
        assert a["changed"] > 0  # topology really changed during the run
        assert a["digests"] == b["digests"]
        assert all(torch.equal(a["weights"][n], b["weights"][n]) for n in a["weights"])
    assert ranks[0]["drift_detected"] and ranks[1]["drift_detected"]


def test_mask_check_is_a_no_op_without_torch_distributed():
    from tests.sparse_fixtures import make_run

    _, _, sparsifier = make_run(SparseConfig(method="set", sparsity=0.5))
    assert not dist.is_initialized()
    assert_masks_identical(sparsifier)
