"""``orig.conf`` is written once and never half: a full disk (here a file-size limit, a real
EFBIG from the kernel) leaves no ``orig.conf`` and no temporary file, and an existing one is kept."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap

from jobstore.worker.channel import write_conf_once
from tests.helpers.paths import ROOT

STATE = {"a": 1, "long": "x" * 20000}


def test_an_existing_orig_conf_is_kept(tmp_path):
    path = tmp_path / "orig.conf"
    assert write_conf_once(str(path), {"a": 1}) is True
    first = path.read_text()
    assert "a = 1" in first or "a=1" in first
    assert write_conf_once(str(path), {"a": 2}) is False
    assert path.read_text() == first
    assert sorted(os.listdir(tmp_path)) == ["orig.conf"]


def test_a_full_disk_leaves_no_truncated_orig_conf(tmp_path):
    """The write fails part-way (RLIMIT_FSIZE: the kernel writes up to the limit, then EFBIG): the
    old in-place write left the first 4 KiB as orig.conf; now there is none at all."""
    code = textwrap.dedent(f"""
        import resource, signal, sys
        sys.path.insert(0, {ROOT!r})
        from jobstore.worker.channel import write_conf_once
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))
        try:
            write_conf_once({str(tmp_path / "orig.conf")!r}, {STATE!r})
        except OSError as e:
            print("failed", e.errno)
        """)
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert p.stdout.startswith("failed"), p.stdout
    assert os.listdir(tmp_path) == []
    assert write_conf_once(str(tmp_path / "orig.conf"), STATE) is True  # the next run writes it whole
    assert len((tmp_path / "orig.conf").read_text()) > 20000
