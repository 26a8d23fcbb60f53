"""Weight averaging (the model soup of the cycles' bi-encoders) against a hand mean."""

from __future__ import annotations

import pytest
import torch


def test_average_weights_against_a_hand_mean():
    from transencoder.training.averaging import average_weights

    first = {
        "w": torch.tensor([1.0, 2.0]),
        "h": torch.tensor([1.0], dtype=torch.bfloat16),
        "ids": torch.tensor([0, 1, 2]),
    }
    second = {
        "w": torch.tensor([2.0, 4.0]),
        "h": torch.tensor([2.0], dtype=torch.bfloat16),
        "ids": torch.tensor([0, 1, 2]),
    }
    third = {
        "w": torch.tensor([6.0, 0.5]),
        "h": torch.tensor([3.0], dtype=torch.bfloat16),
        "ids": torch.tensor([0, 1, 2]),
    }
    mean = average_weights([first, second, third])
    assert torch.equal(mean["w"], torch.tensor([3.0, 6.5 / 3], dtype=torch.float32))
    assert mean["h"].dtype == torch.bfloat16 and mean["h"].item() == 2.0
    assert torch.equal(mean["ids"], torch.tensor([0, 1, 2]))
    assert first["w"].tolist() == [1.0, 2.0]  # inputs untouched
    with pytest.raises(ValueError, match="non-float tensor that differs"):
        average_weights([first, {**second, "ids": torch.tensor([0, 1, 3])}])
    with pytest.raises(ValueError, match=r"cannot average w: shape \(3,\)"):
        average_weights([first, {**second, "w": torch.zeros(3)}])
    with pytest.raises(ValueError, match="different parameters"):
        average_weights([first, {"w": second["w"], "h": second["h"]}])
    with pytest.raises(ValueError, match="no models"):
        average_weights([])
