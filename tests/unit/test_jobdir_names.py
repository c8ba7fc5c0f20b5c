"""Issue 14, item 7: a database name becomes exactly one safe, readable path component, distinct
for distinct names; job directories carry marker files naming their table and job."""
from __future__ import annotations

import json
import os
import stat

import pytest

from jobstore.worker import origconf
from jobstore.worker.dirnames import JOB_MARKER, TABLE_MARKER, path_component
from jobstore.worker.jobdir import ForeignDirError, JobDirs

NASTY = ["../../x", "a/b", "", ".", "..", "...", "a\0b", "x" * 1000, "x" * 999 + "y", "%2E", "%empty",
         "~", "a\\b", "tab\there", "\n", ".hidden", "a" * 200 + "~" + "b"]


@pytest.mark.parametrize("name", NASTY)
def test_every_name_is_one_safe_component(name, tmp_path):
    comp = path_component(name)
    assert comp not in ("", ".", "..") and "/" not in comp and "\0" not in comp
    assert len(comp.encode()) <= 255 and comp.isprintable()
    root = tmp_path / "root"
    root.mkdir()
    path = os.path.join(root, comp, "jobs")  # really a directory right under root
    os.makedirs(path)
    assert os.path.realpath(os.path.dirname(path)) == os.path.join(os.path.realpath(root), comp)


def test_distinct_names_give_distinct_components():
    comps = [path_component(n) for n in NASTY]
    assert len(set(comps)) == len(NASTY)


def test_plain_names_are_kept_and_escapes_readable():
    assert path_component("jobs_db-2") == "jobs_db-2"
    assert path_component("données lab") == "données lab"  # printable names unchanged: existing paths stay
    assert path_component("../../x") == "%2E.%2F..%2Fx"
    assert path_component("a/b") == "a%2Fb"
    assert path_component("..") == "%2E."
    assert path_component("a\0b") == "a%00b"
    long = path_component("x" * 1000)
    assert long.startswith("x" * 50) and "~" in long and len(long) <= 120


def test_the_table_dir_is_marked_and_a_namesake_gets_its_own(tmp_path):
    root = str(tmp_path / "root")
    first = JobDirs().bind(root, "exp", "jobs", "11111111-aaaa", "sqlite:///a/exp.db?table=jobs")
    assert first == os.path.join(root, "exp", "jobs")
    marker = os.path.join(first, TABLE_MARKER)
    assert stat.S_IMODE(os.stat(marker).st_mode) == 0o600
    assert json.load(open(marker))["database"] == "sqlite:///a/exp.db?table=jobs"
    assert JobDirs().bind(root, "exp", "jobs", "11111111-aaaa", "x") == first  # the same table again
    other = JobDirs().bind(root, "exp", "jobs", "22222222-bbbb", "sqlite:///b/exp.db?table=jobs")
    assert other == os.path.join(root, "exp", "jobs@22222222")


def test_a_job_dir_of_another_job_is_refused(tmp_path):
    dirs = JobDirs()
    table_dir = dirs.bind(str(tmp_path), "db", "jobs", "u1", "db")
    dirs.make(dirs.job_dir(1))
    assert json.load(open(os.path.join(table_dir, "1", JOB_MARKER))) == {"job": 1, "table_uuid": "u1"}
    os.rename(os.path.join(table_dir, "1"), os.path.join(table_dir, "2"))  # a stray copy
    with pytest.raises(ForeignDirError, match="belongs to job 1 of table u1, not to job 2"):
        dirs.make(dirs.job_dir(2))
    legacy = os.path.join(table_dir, "3")  # made before markers existed: adopted
    os.mkdir(legacy, 0o700)
    dirs.make(legacy)
    assert os.path.exists(os.path.join(legacy, JOB_MARKER))


def test_an_empty_job_marker_left_by_a_crash_counts_as_none(tmp_path):
    dirs = JobDirs()
    table_dir = dirs.bind(str(tmp_path), "db", "jobs", "u1", "db")
    os.mkdir(os.path.join(table_dir, "4"), 0o700)
    open(os.path.join(table_dir, "4", JOB_MARKER), "w").close()
    dirs.make(dirs.job_dir(4))
    assert json.load(open(os.path.join(table_dir, "4", JOB_MARKER))) == {"job": 4, "table_uuid": "u1"}


def test_a_job_dir_is_marked_by_its_orig_conf(tmp_path):
    dirs = JobDirs()
    table_dir = dirs.bind(str(tmp_path), "db", "jobs", "u1", "db")
    dirs.make(dirs.job_dir(5), mark=False)
    assert dirs.write_orig(dirs.job_dir(5), {"x": 1}) is True
    assert os.listdir(os.path.join(table_dir, "5")) == ["orig.conf"]  # one file: no separate marker
    other = JobDirs()  # a later run of job 5, by another worker: the directory is checked
    other.bind(str(tmp_path), "db", "jobs", "u1", "db")
    other.make(other.job_dir(5), mark=False)
    assert other.write_orig(other.job_dir(5), {"x": 2}) is False
    os.rename(os.path.join(table_dir, "5"), os.path.join(table_dir, "6"))  # a stray copy
    with pytest.raises(ForeignDirError, match="belongs to job 5 of table u1, not to job 6"):
        other.make(other.job_dir(6), mark=False)


def test_a_job_marker_that_is_a_link_is_refused_and_not_followed(tmp_path):
    dirs = JobDirs()
    table_dir = dirs.bind(str(tmp_path), "db", "jobs", "u1", "db")
    os.mkdir(os.path.join(table_dir, "7"), 0o700)
    decoy = tmp_path / "decoy.json"
    decoy.write_text(json.dumps({"job": 7, "table_uuid": "u1"}))  # what a planted link points at
    os.symlink(decoy, os.path.join(table_dir, "7", JOB_MARKER))
    with pytest.raises(ForeignDirError, match="a symbolic link"):
        dirs.make(dirs.job_dir(7))


def test_an_orig_conf_that_is_a_link_marks_nothing_and_is_not_followed(tmp_path):
    dirs = JobDirs()
    table_dir = dirs.bind(str(tmp_path), "db", "jobs", "u1", "db")
    os.mkdir(os.path.join(table_dir, "8"), 0o700)
    decoy = tmp_path / "decoy.conf"
    decoy.write_text("# jobman: job 8 of table u1: the parameters of its first run\nx = 1\n")
    os.symlink(decoy, os.path.join(table_dir, "8", "orig.conf"))
    assert origconf.identity(os.path.join(table_dir, "8", "orig.conf")) is None
