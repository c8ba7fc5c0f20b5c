"""Experiments for the worker's tests: ``experiment(state, channel)`` functions with observable
side effects (files in the job directory or in a directory named by the state)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time


def noop(state, channel):
    """Nothing at all: what the claim benchmark runs."""
    return channel.COMPLETE


def record(state, channel):
    """Append one line per execution to ``state.log_path`` (O_APPEND: atomic for short lines), so a
    test counts how many times each job ran."""
    fd = os.open(state.log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        os.write(fd, f"{state['jobman.id']} {os.getpid()}\n".encode())
    finally:
        os.close(fd)
    if state.get("sleep_s"):
        time.sleep(state.sleep_s)
    state.recorded = True
    return channel.COMPLETE


def fail(state, channel):
    """Raise: the job ends in ERR_RUN with this traceback."""
    print("about to fail")
    raise ValueError(f"deliberate failure for x={state.get('x')}")


def bad_return(state, channel):
    """Neither COMPLETE nor INCOMPLETE: ERR_RUN."""
    return 42


def sys_exit(state, channel):
    """sys.exit() inside an experiment must not leave the row RUNNING."""
    sys.exit(3)


def outputs(state, channel):
    """Write through Python, the raw file descriptors and a subprocess, to check the redirection."""
    print("py-stdout", flush=True)
    print("py-stderr", file=sys.stderr, flush=True)
    os.write(1, b"fd-stdout\n")
    os.write(2, b"fd-stderr\n")
    subprocess.run(["sh", "-c", "echo sub-stdout; echo sub-stderr >&2"], check=True)
    with open("written-by-experiment.txt", "w") as f:
        f.write(os.getcwd())
    state.cwd = os.getcwd()
    return channel.COMPLETE


def saver(state, channel):
    """Save twice with progress in the state; return what save_and_switch() said."""
    state.progress = 1
    channel.save()
    state.progress = 2
    state.switch_answer = channel.save_and_switch()
    return channel.COMPLETE


def sleepy(state, channel):
    """Write ``started`` in the job directory, then sleep ``state.seconds`` in small steps; return
    INCOMPLETE when switch() says 'stop' (without a checkpoint)."""
    with open("started", "a") as f:
        f.write(f"{os.getpid()}\n")
    deadline = time.monotonic() + float(state.seconds)
    while time.monotonic() < deadline:
        if channel.switch() == "stop":
            state.stopped = True
            return channel.INCOMPLETE
        time.sleep(0.05)
    state.slept = True
    return channel.COMPLETE


def _step(x: int, i: int) -> int:
    return (x * 1103515245 + 12345 + i) % 2147483648


def iterate(steps: int, x0: int = 7) -> int:
    """The uninterrupted result of :func:`checkpointed`, computed directly."""
    x = x0
    for i in range(steps):
        x = _step(x, i)
    return x


def checkpointed(state, channel):
    """A deterministic iterative computation that checkpoints in its job directory.

    ``state.steps`` steps of ``state.step_s`` seconds each. On 'stop' it writes ``checkpoint.json``
    (next step and value) and returns INCOMPLETE; a later attempt resumes from it. ``progress``
    holds the last step done, so a test knows when to send its signal. The result is
    ``state.result``; ``state.resumed_at`` lists the steps it resumed from."""
    i, x = 0, 7
    resumed = list(state.get("resumed_at", []))
    if os.path.exists("checkpoint.json"):
        with open("checkpoint.json") as f:
            ck = json.load(f)
        i, x = ck["i"], ck["x"]
        resumed.append(i)
    state.resumed_at = resumed
    while i < int(state.steps):
        if channel.switch() == "stop":
            with open("checkpoint.json.tmp", "w") as f:
                json.dump({"i": i, "x": x}, f)
            os.replace("checkpoint.json.tmp", "checkpoint.json")
            state.checkpoint_step = i
            channel.save()
            return channel.INCOMPLETE
        x = _step(x, i)
        i += 1
        with open("progress", "w") as f:
            f.write(str(i))
        time.sleep(float(state.step_s))
    state.result = x
    return channel.COMPLETE


def incomplete_once(state, channel):
    """INCOMPLETE on the first attempt, COMPLETE on the next (a file in the job directory tells)."""
    if not os.path.exists("once"):
        open("once", "w").close()
        return channel.INCOMPLETE
    return channel.COMPLETE


def switches(state, channel):
    """Poll switch() for ``state.seconds`` and record the distinct answers, in order."""
    seen = []
    deadline = time.monotonic() + float(state.seconds)
    while time.monotonic() < deadline:
        answer = channel.switch()
        if answer is not None and answer not in seen:
            seen.append(answer)
        time.sleep(0.01)
    state.answers = seen
    return channel.COMPLETE


def stubborn(state, channel):
    """Never polls switch(): only a second SIGINT (KeyboardInterrupt) gets it out early."""
    with open("started", "a") as f:
        f.write(f"{os.getpid()}\n")
    deadline = time.monotonic() + float(state.seconds)
    while time.monotonic() < deadline:
        time.sleep(0.05)
    return channel.COMPLETE


def returns_true(state, channel):
    """The new user's mistake: ``return True`` meaning success (it is channel.INCOMPLETE)."""
    with open("calls", "a") as f:
        f.write("call\n")
    return True


def chunked(state, channel):
    """Returns INCOMPLETE by choice after each chunk, recording its progress in the state."""
    state.chunk = int(getattr(state, "chunk", 0)) + 1
    return channel.COMPLETE if state.chunk >= int(state.chunks) else channel.INCOMPLETE


def fail_deep(state, channel):
    """Raise an error of a package (its class printed with the module path in the traceback)."""
    import json.decoder

    raise json.decoder.JSONDecodeError(f"deliberate bad document for x={state.get('x')}", "{", 0)


def frequent_saver(state, channel):
    """Call channel.save() every ``state.save_s`` seconds for ``state.seconds``; ``state.saves``
    counts them, so that every save changes the row's state."""
    state.saves = 0
    deadline = time.monotonic() + float(state.seconds)
    while time.monotonic() < deadline:
        time.sleep(float(state.save_s))
        state.saves += 1
        channel.save()
    return channel.COMPLETE
