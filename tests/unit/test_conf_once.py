"""``orig.conf`` is written once and never half (:mod:`jobstore.worker.origconf`): a full disk (here
a file-size limit, a real EFBIG from the kernel) leaves no ``orig.conf`` and no temporary file, a
whole one is kept, and one that a crash cut short is written again by the next run."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from jobstore.params.parser import parse_params
from jobstore.worker import origconf
from tests.helpers.paths import ROOT

STATE = {"a": 1, "long": "x" * 20000}


@pytest.mark.parametrize("fresh", [True, False])
def test_an_existing_orig_conf_is_kept(tmp_path, fresh):
    path = tmp_path / "orig.conf"
    assert origconf.write(str(path), {"a": 1}, 7, "u-1", fresh=fresh) is True
    first = path.read_text()
    assert first.startswith("# jobman: job 7 of table u-1: ") and "\na = 1\n" in first
    assert origconf.identity(str(path)) == {"table_uuid": "u-1", "job": 7}
    assert origconf.write(str(path), {"a": 2}, 7, "u-1", fresh=fresh) is False
    assert path.read_text() == first
    assert sorted(os.listdir(tmp_path)) == ["orig.conf"]


def test_the_marks_are_comments_of_the_conf_syntax(tmp_path):
    path = tmp_path / "orig.conf"
    origconf.write(str(path), {"a": 1, "b.c": "x"}, 7, "u-1", fresh=True)
    assert parse_params([str(path)]) == {"a": 1, "b.c": "x"}


@pytest.mark.parametrize("fresh", [True, False])
def test_a_full_disk_leaves_no_truncated_orig_conf(tmp_path, fresh):
    """The write fails part-way (RLIMIT_FSIZE: the kernel writes up to the limit, then EFBIG):
    what was written is removed, in place (fresh directory) or through a temporary file."""
    code = textwrap.dedent(f"""
        import resource, signal, sys
        sys.path.insert(0, {ROOT!r})
        from jobstore.worker import origconf
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))
        try:
            origconf.write({str(tmp_path / "orig.conf")!r}, {STATE!r}, 7, "u-1", fresh={fresh!r})
        except OSError as e:
            print("failed", e.errno)
        """)
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert p.stdout.startswith("failed"), p.stdout
    assert os.listdir(tmp_path) == []
    assert origconf.write(str(tmp_path / "orig.conf"), STATE, 7, "u-1", fresh=False) is True  # the next run
    assert len((tmp_path / "orig.conf").read_text()) > 20000


@pytest.mark.parametrize("cut", ["", "# jobman: job 7 of ta", "# jobman: job 7 of table u-1: the parameters\na = 1\n"])
def test_an_orig_conf_cut_short_by_a_crash_is_written_again(tmp_path, cut):
    path = tmp_path / "orig.conf"
    path.write_text(cut)
    assert origconf.is_whole(str(path)) is False
    assert origconf.write(str(path), {"a": 2, "b": 3}, 7, "u-1", fresh=False) is True
    assert parse_params([str(path)]) == {"a": 2, "b": 3}
    assert origconf.is_whole(str(path)) is True


def test_an_orig_conf_from_before_the_marks_is_kept(tmp_path):
    path = tmp_path / "orig.conf"
    path.write_text("a = 1\n")  # no mark: written whole (linked into place) by an older worker
    assert origconf.identity(str(path)) is None and origconf.is_whole(str(path)) is True
    assert origconf.write(str(path), {"a": 2}, 7, "u-1", fresh=False) is False
    assert path.read_text() == "a = 1\n"
