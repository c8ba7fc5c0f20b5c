"""The tutorial's MLP reports its validation and test error per epoch through jobstore's channel
(``channel.report``), and still runs with a channel lacking ``report`` (models import nothing of
the project). The real channel is used, without a store: its points stay pending."""
from __future__ import annotations

from jobstore.worker.channel import Channel
from models.mlp_jobman import experiment
from tests.helpers.mlp import RecordingChannel


class DD(dict):
    __getattr__ = dict.__getitem__

    def __setattr__(self, key, value):
        self[key] = value


def state_for(small_mnist):
    return DD(learning_rate=0.1, n_hidden=20, L1_reg=0.0, L2_reg=0.0001, n_iter=3, batch_size=20,
              dataset=small_mnist, array_backend="numpy")


def test_mlp_reports_validation_and_test_error_per_epoch(small_mnist, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    state = state_for(small_mnist)
    channel = Channel(state)
    assert experiment(state, channel) is channel.COMPLETE
    points = channel.pending_metrics()
    assert sorted({p.name for p in points}) == ["test_score", "validation_error"]
    valid = [(p.step, p.value) for p in points if p.name == "validation_error"]
    assert [s for s, _ in valid] == [1, 2, 3]
    assert all(0.0 < v < 0.5 for _, v in valid)
    last_test = [p.value for p in points if p.name == "test_score"][-1]
    assert last_test == state.test_score


def test_mlp_runs_with_a_channel_without_report(small_mnist, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    state = state_for(small_mnist)
    channel = RecordingChannel(state=state)
    assert not hasattr(channel, "report")
    assert experiment(state, channel) is channel.COMPLETE
    assert state.epoch == 3
