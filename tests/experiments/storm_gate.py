"""Imported by workers with ``--import storm_gate`` (before they contact the database): each says it
is ready (a file named after its pid in $JOBMAN_TEST_GATE) and waits for ``$JOBMAN_TEST_GATE/go``, so
that a test releases hundreds of workers onto the database within milliseconds."""
import os
import time

_gate = os.environ["JOBMAN_TEST_GATE"]
open(os.path.join(_gate, f"ready.{os.getpid()}"), "w").close()
_deadline = time.monotonic() + 600
while not os.path.exists(os.path.join(_gate, "go")) and time.monotonic() < _deadline:
    time.sleep(0.01)
