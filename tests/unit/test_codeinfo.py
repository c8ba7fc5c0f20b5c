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
