"""What a job's code provenance records (``jobstore.worker.codeinfo``): the package versions, read
from the header of each distribution's metadata, the same as ``importlib.metadata.version`` gives;
the git keys, the same as ``rev-parse HEAD`` and ``diff HEAD`` gave, from fewer git processes."""
from __future__ import annotations

import hashlib
import subprocess
from importlib import metadata

import pytest

from jobstore.worker import codeinfo


@pytest.mark.parametrize("name", [*codeinfo.KEY_PACKAGES, "psycopg", "pyyaml", "paramiko"])
def test_the_version_is_the_one_importlib_metadata_gives(name):
    try:
        expected = metadata.version(name)
    except metadata.PackageNotFoundError:
        with pytest.raises(metadata.PackageNotFoundError):
            codeinfo._version(name)
    else:
        assert codeinfo._version(name) == expected


def test_only_the_header_is_read_and_a_missing_header_line_falls_back(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    info = tmp_path / "fakepkg-1.2.3.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: fakepkg\nVersion: 1.2.3\nSummary: s\n\n"
                                   "Changes\n\nVersion: 0.0.1 was the first\n")
    other = tmp_path / "oddpkg-4.5.dist-info"
    other.mkdir()  # no Version line in the header: importlib's own parsing decides (None here)
    (other / "METADATA").write_text("Metadata-Version: 2.1\nName: oddpkg\n\nVersion: 7 in the description\n")
    assert codeinfo._version("fakepkg") == "1.2.3"
    assert codeinfo._version("oddpkg") == metadata.version("oddpkg")


def _per_name(names):
    found = []
    for name in names:
        try:
            found.append(f"{name}=={codeinfo._version(name)}")
        except metadata.PackageNotFoundError:
            continue
    return " ".join(found)


def test_one_scan_of_the_path_finds_what_importlib_finds_one_name_at_a_time():
    names = (*codeinfo.KEY_PACKAGES, "psycopg", "PyYAML", "paramiko", "no-such-dist")
    scanned = codeinfo._scanned_versions(names)
    assert scanned is not None  # this venv's path is plain directories
    assert " ".join(f"{n}=={scanned[n]}" for n in names if n in scanned) == _per_name(names)
    assert codeinfo._packages() == _per_name(codeinfo.KEY_PACKAGES)


def _dist(where, dirname, filename, text):
    where.mkdir(exist_ok=True)
    (where / dirname).mkdir()
    (where / dirname / filename).write_text(text)


def test_the_first_distribution_along_the_path_wins_and_eggs_count(tmp_path, monkeypatch):
    first, second = tmp_path / "first", tmp_path / "second"
    _dist(first, "Fake.Pkg-2.0.dist-info", "METADATA", "Metadata-Version: 2.1\nName: fake-pkg\nVersion: 2.0\n")
    _dist(second, "fake_pkg-1.0.dist-info", "METADATA", "Metadata-Version: 2.1\nName: fake-pkg\nVersion: 1.0\n")
    _dist(second, "eggy.egg-info", "PKG-INFO", "Metadata-Version: 2.1\nName: eggy\nVersion: 3.1\n\nVersion: 9\n")
    # a header longer than what is read (numpy's holds its licence), its Version line after it
    licence = "License: x\n" + "        a line of the licence\n" * 2000
    _dist(second, "longhead-5.dist-info", "METADATA", f"Metadata-Version: 2.1\nName: longhead\n{licence}Version: 5\n")
    monkeypatch.syspath_prepend(str(second))
    monkeypatch.syspath_prepend(str(first))
    names = ("fake-pkg", "eggy", "longhead", "absent")
    assert codeinfo._scanned_versions(names[:2]) == {"fake-pkg": "2.0", "eggy": "3.1"}
    assert codeinfo._scanned_versions(names) is None  # longhead's Version is past the read: importlib decides
    assert [metadata.version(n) for n in names[:3]] == ["2.0", "3.1", "5"]


def test_a_path_entry_that_is_not_a_directory_leaves_it_to_importlib(tmp_path, monkeypatch):
    archive = tmp_path / "lib.zip"
    archive.write_bytes(b"PK\x05\x06" + b"\0" * 18)  # an empty zip archive
    monkeypatch.syspath_prepend(str(archive))
    assert codeinfo._scanned_versions(("numpy",)) is None
    assert codeinfo._packages() == _per_name(codeinfo.KEY_PACKAGES)


# -- the git keys: one `git status`, then `git diff HEAD` only when a tracked file changed ----------


def _sh(repo, *args):
    return subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.invalid",
                           *args], check=True, capture_output=True, text=True).stdout


def _two_calls(path):
    """What the keys were before: ``rev-parse HEAD``, then ``diff HEAD`` whatever the tree."""
    directory = str(path.parent)
    commit = codeinfo._git(directory, "rev-parse", "HEAD")
    if commit is None:
        return {}
    diff = codeinfo._git(directory, "diff", "HEAD", "--no-color", "--no-ext-diff") or ""
    return {"git_commit": commit.strip(), "git_dirty": bool(diff), **(
        {"git_diff_sha256": hashlib.sha256(diff.encode()).hexdigest(), "git_diff": diff} if diff else {})}


@pytest.fixture
def git_calls(monkeypatch):
    calls = []
    run = codeinfo._git_run

    def counted(directory, *args):
        calls.append(args[0])
        return run(directory, *args)

    monkeypatch.setattr(codeinfo, "_git_run", counted)
    return calls


@pytest.fixture
def repo(tmp_path):
    _sh(tmp_path, "init", "-q")
    exp = tmp_path / "exp.py"
    exp.write_text("def run(state, channel):\n    pass\n")
    (tmp_path / "other.txt").write_text("a\n")
    return exp


def test_a_clean_tree_costs_one_git_call_and_a_changed_one_two(repo, git_calls):
    assert codeinfo._git_keys(str(repo)) == {}  # no commit yet: no keys, as rev-parse HEAD failing
    _sh(repo.parent, "add", ".")
    _sh(repo.parent, "commit", "-qm", "first")
    git_calls.clear()
    clean = codeinfo._git_keys(str(repo))
    assert git_calls == ["status"]
    assert clean == _two_calls(repo) == {"git_commit": _sh(repo.parent, "rev-parse", "HEAD").strip(), "git_dirty": False}
    (repo.parent / "untracked.txt").write_text("x\n")  # untracked files are no change (nor were they)
    assert codeinfo._git_keys(str(repo)) == _two_calls(repo) == clean
    (repo.parent / "other.txt").write_text("b\n")
    git_calls.clear()
    changed = codeinfo._git_keys(str(repo))
    assert git_calls == ["status", "diff"]
    assert changed == _two_calls(repo) and changed["git_dirty"] and "+b" in changed["git_diff"]
    _sh(repo.parent, "add", "other.txt")  # staged only
    assert codeinfo._git_keys(str(repo)) == _two_calls(repo) == changed


def test_the_distance_to_the_upstream_is_not_counted(repo, monkeypatch):
    """A branch far behind its upstream: ``git status --branch`` would walk every commit between
    them on each worker start and each schedule; the keys need only the commit."""
    _sh(repo.parent, "add", ".")
    _sh(repo.parent, "commit", "-qm", "first")
    _sh(repo.parent, "branch", "-q", "up")
    _sh(repo.parent, "checkout", "-q", "up")
    for i in range(3):
        _sh(repo.parent, "commit", "-q", "--allow-empty", "-m", f"upstream {i}")
    _sh(repo.parent, "checkout", "-q", "-")
    _sh(repo.parent, "branch", "-q", "--set-upstream-to=up")
    outputs = []
    run = codeinfo._git_run

    def seen(directory, *args):
        done = run(directory, *args)
        if done is not None and args[0] == "status":
            outputs.append(done.stdout.decode())
        return done

    monkeypatch.setattr(codeinfo, "_git_run", seen)
    assert codeinfo._git_keys(str(repo)) == _two_calls(repo)
    assert "# branch.upstream up\n" in outputs[0]
    assert "# branch.ab +? -?\n" in outputs[0]  # counted, it would be +0 -3


def test_outside_a_repository_there_are_no_keys(tmp_path, git_calls):
    exp = tmp_path / "exp.py"
    exp.write_text("")
    assert codeinfo._git_keys(str(exp)) == {}
    assert git_calls == ["status"]


def test_a_git_without_porcelain_v2_is_asked_through_rev_parse(repo, monkeypatch, git_calls):
    _sh(repo.parent, "add", ".")
    _sh(repo.parent, "commit", "-qm", "first")
    run = codeinfo._git_run

    # what git before 2.11 answers to --porcelain=v2 (and before 2.17 to --no-ahead-behind)
    def old_git(directory, *args):
        if args[0] == "status":
            return subprocess.CompletedProcess(["git", *args], 129, b"", b"error: unknown option\n")
        return run(directory, *args)

    monkeypatch.setattr(codeinfo, "_git_run", old_git)
    assert codeinfo._git_keys(str(repo)) == _two_calls(repo)
    (repo.parent / "other.txt").write_text("c\n")
    assert codeinfo._git_keys(str(repo)) == _two_calls(repo) and codeinfo._git_keys(str(repo))["git_dirty"]
