"""How ``Backend.wait`` paces its polls: a batch scheduler is asked at most every 5 s by default, less
and less often while nothing changes, and again every 5 s once tasks move. A small backend of this
test stands in for a scheduler (its states are whatever the test says): the pacing is the base
class's, the same for every scheduler; the real SLURM's side is in
tests/integration/test_backend_slurm.py (a 1,000-task array)."""
from __future__ import annotations

import time
from collections.abc import Sequence

from backends import Resources, Submission, Task, TaskStatus
from backends.base import Backend
from backends.batch import BatchBackend
from backends.slurm import SlurmBackend


class ScriptedBackend(Backend):
    """Answers PENDING for ``quiet`` polls, then RUNNING; every task ends (its ``.rc``) at poll
    ``end``. Records when each poll came."""

    name = "scripted"

    def __init__(self, *args, quiet: int, end: int, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.quiet, self.end, self.polls = quiet, end, []

    def scheduler_states(self, sub: Submission) -> dict[int, TaskStatus]:
        self.polls.append(time.monotonic())
        if len(self.polls) >= self.end:
            for t in sub.tasks:
                (self.launch_dir / f"{t.name}.rc").write_text("0\n")
        state = TaskStatus.PENDING if len(self.polls) <= self.quiet else TaskStatus.RUNNING
        return {t.index: state for t in sub.tasks}


def submitted(b: Backend, n: int) -> Submission:
    tasks: Sequence[Task] = [Task(i, "true") for i in range(n)]
    sub = b.launch(tasks, Resources(), test=True)
    sub.submitted = True
    for t in sub.tasks:
        t.status = TaskStatus.PENDING
    return sub


def gaps(b: ScriptedBackend) -> list[float]:
    return [round(b2 - b1, 2) for b1, b2 in zip(b.polls, b.polls[1:])]


def test_quiet_polls_back_off_and_a_change_brings_the_pace_back(tmp_path):
    b = ScriptedBackend(tmp_path / "launch", cwd=tmp_path, options={"poll_interval_s": 0.1, "poll_max_s": 0.3},
                        quiet=5, end=9)
    sub = b.wait(submitted(b, 3), timeout_s=30)
    assert [t.status for t in sub.tasks] == [TaskStatus.DONE] * 3
    g = gaps(b)
    assert len(b.polls) == 9  # one scheduler query per poll, whatever the number of tasks
    # 0.1 s after the first answer, then x1.5 per quiet poll (0.15, 0.225) capped at 0.3; the move
    # to RUNNING (poll 6) brings 0.1 s back, then it grows again
    expected = [0.1, 0.15, 0.225, 0.3, 0.3, 0.1, 0.15, 0.225]
    assert all(e - 0.01 <= a < e + 0.09 for a, e in zip(g, expected)), g


def test_no_scheduler_query_once_every_task_has_its_rc(tmp_path):
    b = ScriptedBackend(tmp_path / "launch", cwd=tmp_path, quiet=0, end=99)
    sub = submitted(b, 2)
    for t in sub.tasks:
        (b.launch_dir / f"{t.name}.rc").write_text("0\n")
    b.wait(sub, timeout_s=5)
    assert b.polls == [] and [t.status for t in sub.tasks] == [TaskStatus.DONE] * 2


def test_batch_schedulers_are_polled_every_5_s_at_most_backing_off_to_a_minute(tmp_path):
    assert BatchBackend.poll_interval_s == 5.0 and BatchBackend.poll_max_s == 60.0
    assert SlurmBackend(tmp_path).poll_bounds() == (5.0, 60.0)
    assert SlurmBackend(tmp_path, options={"poll_interval_s": "10"}).poll_bounds() == (10.0, 60.0)
    assert SlurmBackend(tmp_path, options={"poll_interval_s": 90}).poll_bounds() == (90.0, 90.0)
