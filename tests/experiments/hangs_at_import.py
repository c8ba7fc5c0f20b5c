"""A module whose top level hangs (after touching $HANG_MARKER, so a test knows the import began)."""
import os
import time

with open(os.environ.get("HANG_MARKER", os.devnull), "a") as _f:
    _f.write(f"{os.getpid()}\n")
time.sleep(float(os.environ.get("HANG_S", "3600")))


def experiment(state, channel):
    return channel.COMPLETE
