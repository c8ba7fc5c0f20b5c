"""The package versions a job's code provenance records (``jobstore.worker.codeinfo``): read from
the header of each distribution's metadata, the same as ``importlib.metadata.version`` gives."""
from __future__ import annotations

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
