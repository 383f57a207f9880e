"""Which test programs `invoke vmtest` builds, and where the guest runner
finds them: every t_*.c of the tests directory as a 64-bit program, and
guestimage.I386_TESTS a second time for i386.  No tree or QEMU needed."""
from __future__ import annotations

from pathlib import Path

import pytest

from devtools import config
from devtools.loop import guestimage
from devtools.loop.tree import TreeError

OURS = config.project_sys() / "new" / "tests" / "net" / "timestamp"
RUNNER = Path(guestimage.RUNNER).read_text()


def fake_tests(tmp_path: Path, names: list[str]) -> Path:
    src = tmp_path / "src"
    d = src / guestimage.OUR_TESTS
    d.mkdir(parents=True)
    for n in names:
        (d / f"{n}.c").write_text("ATF_TP_ADD_TCS(tp) {}\n")
    return src


def test_i386_programs_are_the_named_tests_staged_apart(tmp_path: Path) -> None:
    src = fake_tests(tmp_path, [*guestimage.I386_TESTS, "t_other"])
    programs = guestimage.collect_tests(src, None)
    native = [p for p in programs if not p.i386]
    i386 = [p for p in programs if p.i386]
    assert sorted(p.name for p in native) == sorted([*guestimage.I386_TESTS, "t_other"])
    assert [p.name for p in i386] == list(guestimage.I386_TESTS)
    assert all(p.staged == Path("atf") / p.name for p in native)
    assert all(p.staged == Path(guestimage.I386_DIR) / p.name for p in i386)


def test_a_missing_i386_program_is_an_error(tmp_path: Path) -> None:
    src = fake_tests(tmp_path, list(guestimage.I386_TESTS[1:]))
    with pytest.raises(TreeError, match=guestimage.I386_TESTS[0]):
        guestimage.collect_tests(src, None)


def test_the_i386_programs_exist_and_the_runner_runs_their_directory() -> None:
    for name in guestimage.I386_TESTS:
        assert (OURS / f"{name}.c").is_file(), name
    assert f'"/tests/{guestimage.I386_DIR}"' in RUNNER


def test_no_suite_is_the_extra_programs_alone(tmp_path: Path) -> None:
    """vmtest(suite=False), `invoke interop --no-suite`: extra's plain programs only."""
    src = fake_tests(tmp_path, [*guestimage.I386_TESTS, "t_other"])
    extra = tmp_path / "extra"
    extra.mkdir()
    (extra / "interop_demo.c").write_text("int main(void) { return 0; }\n")
    programs = guestimage.collect_tests(src, extra, suite=False)
    assert [(p.name, p.atf, p.i386) for p in programs] == [("interop_demo", False, False)]
    assert len(guestimage.collect_tests(src, extra)) == len(guestimage.I386_TESTS) * 2 + 2
    # The runner demands noharness skips only when ATF programs ran.
    assert "if (atf > 0 && skipped == bare)" in RUNNER
