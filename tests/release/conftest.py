"""Session fixtures: two releases from two clean clones of HEAD."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.release.helpers import Released, clone, run_invoke, version


def _release_in_clone(base: Path) -> Released:
    repo = clone(base / "repo")
    proc = run_invoke(repo, "release")
    assert proc.returncode == 0, f"invoke release failed: {proc.stderr.strip()}"
    return Released(repo, repo / "dist", version(), proc.stdout)


@pytest.fixture(scope="session")
def two_releases(tmp_path_factory: pytest.TempPathFactory) -> tuple[Released, Released]:
    return (_release_in_clone(tmp_path_factory.mktemp("clone-a")),
            _release_in_clone(tmp_path_factory.mktemp("clone-b")))


@pytest.fixture(scope="session")
def released(two_releases: tuple[Released, Released]) -> Released:
    return two_releases[0]
