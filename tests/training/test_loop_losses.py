"""The loss trace of a phase: first and last windows always logged, the same after a resume."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from transencoder.training.loop import train_model
from transencoder.training.snapshot import PhaseSnapshot
from transencoder.training.step_config import StepConfig

INPUTS = torch.randn(64, 6, generator=torch.Generator().manual_seed(0))
TARGETS = INPUTS @ torch.arange(6.0) + 0.5


def _batch_order(epoch: int) -> list[list[int]]:
    order = torch.randperm(len(INPUTS), generator=torch.Generator().manual_seed(epoch)).tolist()
    return [order[i : i + 4] for i in range(0, len(order), 4)]  # 16 batches


def _collate(indices):
    return {"x": INPUTS[list(indices)], "y": TARGETS[list(indices)]}


def _loss(model, batch):
    return nn.functional.mse_loss(model(batch["x"]).squeeze(-1), batch["y"])


def _phase(steps: int, *, on_step=None, snapshot_file=None):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 8), nn.Dropout(0.1), nn.Linear(8, 1))
    stats = train_model(
        model,
        name="test",
        batch_order=_batch_order,
        collate=_collate,
        loss_fn=_loss,
        step_config=StepConfig(epochs=10, lr=1e-2, max_steps=steps),
        seed=3,
        snapshot_file=snapshot_file,
        checkpoint_every=10,
        show_progress_bar=False,
        on_step=on_step,
    )
    return stats, model


@pytest.mark.parametrize(
    ("steps", "windows"),
    [(1, [[1]]), (3, [[1], [2, 3]]), (45, [[1], range(2, 21), range(21, 41), range(41, 46)])],
)
def test_first_and_last_windows_are_logged(steps, windows):
    step_losses = {}
    stats, _ = _phase(steps, on_step=lambda step, loss, lr: step_losses.update({step: float(loss)}))
    expected = [sum(step_losses[s] for s in window) / len(window) for window in windows]
    assert stats.losses == pytest.approx(expected, rel=1e-6)
    summary = stats.to_dict()
    assert summary["first_loss"] == pytest.approx(step_losses[1], rel=1e-6)
    if steps > 1:  # a short phase no longer reports one window as both first and last
        assert summary["first_loss"] != summary["last_loss"]


class _Killed(Exception):
    pass


def test_a_resumed_phase_logs_the_same_losses(tmp_path):
    unbroken, unbroken_model = _phase(45)

    def die_after_snapshot(step, loss, lr):
        if step == 25:  # the snapshot of step 20 is on disk; steps 21-25 are lost
            raise _Killed

    snapshot_file = PhaseSnapshot(tmp_path / "phase.pt")
    with pytest.raises(_Killed):
        _phase(45, on_step=die_after_snapshot, snapshot_file=snapshot_file)
    assert snapshot_file.load()["position"]["step"] == 20
    resumed, resumed_model = _phase(45, snapshot_file=snapshot_file)
    assert resumed.resumed_from_step == 20
    assert resumed.losses == unbroken.losses  # bit for bit
    for a, b in zip(resumed_model.parameters(), unbroken_model.parameters()):
        assert torch.equal(a, b)


@pytest.mark.parametrize(
    ("epochs", "min_steps", "max_steps", "expected"),
    [
        (1, 37, None, 37),
        (1, None, None, 16),
        (3, 20, None, 48),
        (1, 20, 30, 20),
        (2, 20, 25, 25),
        (1, 40, 10, 10),
    ],
)
def test_the_step_budget_gives_the_asked_number_of_optimizer_steps(
    epochs, min_steps, max_steps, expected
):
    """16 batches an epoch: ``min_steps`` adds passes over the data (the schedule spans them all
    and ends at zero), ``epochs`` above it wins, ``max_steps`` caps both."""
    rates = []
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 8), nn.Linear(8, 1))
    config = StepConfig(
        epochs=epochs, lr=1e-2, warmup_ratio=0.1, min_steps=min_steps, max_steps=max_steps
    )
    stats = train_model(
        model, name="test", batch_order=_batch_order, collate=_collate, loss_fn=_loss, step_config=config,
        seed=3, show_progress_bar=False, on_step=lambda step, loss, lr: rates.append(lr),
    )  # fmt: skip
    assert stats.steps == len(rates) == expected
    assert stats.examples == 4 * expected
    warmup = -(-expected // 10)  # ceil(0.1 * steps)
    assert max(rates) == pytest.approx(1e-2) and rates.index(max(rates)) == warmup
    assert rates[-1] == pytest.approx(1e-2 / (expected - warmup))  # the last step before zero


def test_the_recommended_cross_step_has_a_budget_that_max_steps_caps():
    """600 steps at least by default (the per-domain benchmark's choice); a quick run's
    ``max_steps`` below it is a cap, not a contradiction."""
    from transencoder.settings import ConfigError
    from transencoder.training.step_config import CrossStepConfig

    assert CrossStepConfig().min_steps == 600
    CrossStepConfig(max_steps=10).validate()
    CrossStepConfig(min_steps=0).validate()  # 0: epochs alone, as null
    with pytest.raises(ConfigError, match=r"cross.min_steps must be an integer >= 0"):
        CrossStepConfig(min_steps=-1).validate()


def test_adamw_is_fused_on_plain_fp32_parameters_and_matches_torchs_reference():
    """Fused where every parameter is a plain fp32 tensor, the same updates as torch's
    single-tensor AdamW (the reference) to float rounding; not for bf16 or tensor subclasses."""
    from transencoder.training.loop import adamw, fused_adamw_applies

    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 8), nn.LayerNorm(8), nn.Linear(8, 1))
    reference = nn.Sequential(nn.Linear(6, 8), nn.LayerNorm(8), nn.Linear(8, 1))
    reference.load_state_dict(model.state_dict())
    ours = adamw(list(model.parameters()), 1e-2, 0.01)
    assert ours.defaults["fused"] is True
    decay = [p for p in reference.parameters() if p.ndim >= 2]
    rest = [p for p in reference.parameters() if p.ndim < 2]
    theirs = torch.optim.AdamW(
        [{"params": decay, "weight_decay": 0.01}, {"params": rest, "weight_decay": 0.0}],
        lr=1e-2, foreach=False, fused=False,
    )  # fmt: skip
    for step in range(5):
        for net, optimizer in ((model, ours), (reference, theirs)):
            optimizer.zero_grad()
            _loss(net, _collate(_batch_order(step)[0])).backward()
            optimizer.step()
    for a, b in zip(model.parameters(), reference.parameters()):
        assert torch.allclose(a, b, atol=1e-6)
    assert not fused_adamw_applies([nn.Parameter(torch.zeros(3, dtype=torch.bfloat16))])

    class Wrapped(torch.Tensor):  # a tensor subclass, as a DTensor shard is
        pass

    assert not fused_adamw_applies([torch.zeros(3).as_subclass(Wrapped)])
    assert not fused_adamw_applies([])
