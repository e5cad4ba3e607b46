"""Weight averaging and seeded (unbagged) members in classifier training."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from models.classifier.ensemble import ClassifierEnsemble
from models.classifier.train import ClassifierConfig, train_classifier
from models.classifier.weight_average import WeightAverage
from models.data.phantom import ChestPhantom


def test_the_average_follows_the_exponential_rule_and_copies_counters():
    net = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2))
    start = {k: v.clone() for k, v in net.state_dict().items()}
    avg = WeightAverage(net, 0.9)
    with torch.no_grad():
        net[0].weight.add_(1.0)
    net[1].num_batches_tracked += 5
    avg.update(net)
    assert torch.allclose(avg.state["0.weight"], start["0.weight"] + 0.1)
    assert int(avg.state["1.num_batches_tracked"]) == 5
    live = avg.swap_in(net)
    assert torch.allclose(net[0].weight, start["0.weight"] + 0.1)
    assert torch.allclose(live["0.weight"], start["0.weight"] + 1.0)
    with pytest.raises(ValueError, match="decay"):
        WeightAverage(net, 1.0)


def test_unbagged_averaged_members_train_differently_from_each_other(tmp_path):
    train, val = ChestPhantom(64, 16, seed=1), ChestPhantom(24, 16, seed=2)
    cfg = ClassifierConfig(resolution=16, members=2, width=4, epochs=2, batch_size=16, bootstrap=10,
                           bagging=False, ema=0.5)
    folder, report = train_classifier(train, val, tmp_path, cfg)
    ens = ClassifierEnsemble.load(folder)
    a, b = (m.state_dict() for m in ens.members)
    assert any(not torch.equal(a[k], b[k]) for k in a if a[k].is_floating_point())
    assert set(report["val"]) == set(train.label_names)
