"""A job's stdout/stderr at the descriptor level (``jobstore.worker.stdfiles``): in a directory the
worker has just made they are created there without further checks; anywhere else (a job run
again, files restored into the new directory) the file is checked before anything is appended."""
from __future__ import annotations

import os

import pytest

from jobstore import files
from jobstore.files import UnsafePathError, open_append
from jobstore.worker.jobdir import JobDirs
from jobstore.worker.stdfiles import StdFiles


@pytest.fixture
def checks(monkeypatch):
    """The paths ``open_append`` checked after opening them."""
    seen: list[str] = []
    check = files._check_opened

    def counted(path, fd):
        seen.append(os.path.basename(path))
        return check(path, fd)

    monkeypatch.setattr(files, "_check_opened", counted)
    return seen


def _run_in(std: StdFiles, job_dir: str, fresh: bool, text: str) -> None:
    std.enter(job_dir, fresh=fresh)
    try:
        os.write(1, f"{text} out\n".encode())
        os.write(2, f"{text} err\n".encode())
    finally:
        std.exit()


def test_a_directory_just_made_gets_its_files_unchecked_and_a_second_run_appends_checked(tmp_path, checks):
    dirs = JobDirs()
    dirs.table_dir = str(tmp_path / "table")  # bound; no table UUID: no job marks in this test
    job_dir = dirs.job_dir(7)
    dirs.make(job_dir)
    assert dirs.made == job_dir
    std = StdFiles()
    try:
        _run_in(std, job_dir, dirs.made == job_dir, "first")
        assert checks == []
        dirs.make(job_dir)  # the job runs again in its directory: found, not made
        assert dirs.made is None
        _run_in(std, job_dir, dirs.made == job_dir, "second")
        assert checks == ["stdout", "stderr"]
    finally:
        std.close()
    assert open(os.path.join(job_dir, "stdout")).read() == "first out\nsecond out\n"
    assert open(os.path.join(job_dir, "stderr")).read() == "first err\nsecond err\n"


def test_a_file_already_in_a_fresh_directory_is_checked_and_appended_to(tmp_path, checks):
    restored = tmp_path / "stdout"
    restored.write_text("restored\n")
    fd = open_append(str(restored), fresh=True)
    os.write(fd, b"more\n")
    os.close(fd)
    assert checks == ["stdout"]
    assert restored.read_text() == "restored\nmore\n"


def test_a_link_in_a_fresh_directory_is_neither_followed_nor_accepted(tmp_path):
    target = tmp_path / "elsewhere"
    target.write_text("")
    os.symlink(target, tmp_path / "stdout")
    with pytest.raises(OSError):
        open_append(str(tmp_path / "stdout"), fresh=True)
    os.link(target, tmp_path / "stderr")  # a second name of a file of the user's: refused
    with pytest.raises(UnsafePathError, match="hard links"):
        open_append(str(tmp_path / "stderr"), fresh=True)
    assert target.read_text() == ""
