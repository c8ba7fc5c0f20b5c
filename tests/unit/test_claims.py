"""When the worker claims its next job with the finish of the last one (worker/claims.py): only
when its loop would claim at once after that job. The claims themselves run against real
databases in tests/integration/test_finish_claim.py; these cases need no store."""
from __future__ import annotations

import signal
import threading
import time

from jobstore.worker.channel import StopSignals
from jobstore.worker.claims import Claims
from jobstore.worker.options import WorkerOptions
from jobstore.worker.outcome import WorkerReport
from jobstore.worker.walltime import Deadline


def _claims(**options) -> Claims:
    return Claims(None, threading.Lock(), WorkerOptions(lease_s=120, max_attempts=4, **options), "w1",  # type: ignore[arg-type]
                  WorkerReport("w1"), lambda message: None)


def test_the_claim_rides_on_the_finish_when_the_loop_goes_on():
    claims = _claims()
    claims.goes_on = True
    args = claims.with_finish(StopSignals(), pausing=False)
    assert args is not None and (args["worker"], args["lease_s"], args["max_attempts"]) == ("w1", 120, 4)


def test_no_claim_with_the_finish_when_the_loop_stops_or_pauses_first():
    claims = _claims()
    assert claims.with_finish(StopSignals(), pausing=False) is None  # the last job of -n K
    claims.goes_on = True
    assert claims.with_finish(StopSignals(), pausing=True) is None  # INCOMPLETE returned unasked
    stopped = StopSignals()
    stopped.received = signal.SIGTERM
    assert claims.with_finish(stopped, pausing=False) is None
    claims.report.node_error = "EXPROOT unusable"
    assert claims.with_finish(StopSignals(), pausing=False) is None
    late = _claims(deadline=Deadline(time.time() + 10, "--walltime 10", min_left_s=60))
    late.goes_on = True
    assert late.with_finish(StopSignals(), pausing=False) is None
    assert late.stop_now(StopSignals()) and "claiming no new job" in late.report.out_of_time
