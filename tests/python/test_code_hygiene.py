"""One definition of each thing in py-sotimestamp/src (issue 13: SCM_TIMESTAMPING was decoded in
three places, the ns constant defined in four modules, two structs were the same one)."""
from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import sotimestamp

# The package's own sources: src/ in the repository (editable install), site-packages
# on an installed system (the anita guest runs these tests there too).
SRC = Path(sotimestamp.__file__).resolve().parent


def _modules() -> dict[str, ast.Module]:
    return {path.name: ast.parse(path.read_text(), str(path)) for path in sorted(SRC.glob("*.py"))}


def test_nanoseconds_per_second_is_defined_once() -> None:
    defined = [
        f"{name}:{node.lineno}"
        for name, tree in _modules().items()
        for node in ast.walk(tree)
        if isinstance(node, (ast.Assign, ast.AnnAssign))
        and isinstance(node.value, ast.Constant) and node.value.value == 1_000_000_000
    ]
    assert defined == [f"constants.py:{_line_of('constants.py', 'NS_PER_S = ')}"], defined


def _line_of(module: str, text: str) -> int:
    return next(i for i, line in enumerate((SRC / module).read_text().splitlines(), 1) if line.startswith(text))


def test_scm_timestamping_layout_lives_in_control_only() -> None:
    """The three timespecs of struct scm_timestamping are spelled out in control.py alone
    (batch.py builds its fast-path struct from control.SCM_TIMESTAMPING_LAYOUT)."""
    spelled = [
        f"{name}:{node.lineno}"
        for name, tree in _modules().items()
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
        and ("qqqqqq" in node.value or "qq16xqq" in node.value or node.value.endswith("6q"))
    ]
    assert [s.split(":")[0] for s in spelled] == ["control.py"], spelled


def test_no_two_structs_have_the_same_format() -> None:
    formats: dict[str, list[str]] = defaultdict(list)
    for name, tree in _modules().items():
        for node in ast.walk(tree):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "Struct"
                    and node.args and isinstance(node.args[0], ast.Constant)):
                formats[str(node.args[0].value)].append(f"{name}:{node.lineno}")
    assert {f: where for f, where in formats.items() if len(where) > 1} == {}


def test_capture_leaves_the_stream_and_the_stamp_source_to_the_writer() -> None:
    """capture.py neither writes to the writer's stream nor picks hardware/software stamps itself."""
    tree = _modules()["capture.py"]
    attributes = {node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute)}
    assert not attributes & {"stream", "_stream", "hardware_ns", "software_ns"}, attributes


_PLATFORM_NAMES = {"linux", "netbsd", "freebsd"}


def test_platform_differences_are_fields_of_the_constants_table() -> None:
    """core.py, probe.py and nic.py ask the table (rx_stamping_starts_late, ip_mreqn_join, ...),
    never compare the platform's name (issue 20: `platform_name() == "linux"` spread through them)."""
    compared = [
        f"{name}:{node.lineno}"
        for name in ("core.py", "probe.py", "nic.py")
        for node in ast.walk(_modules()[name])
        if (isinstance(node, ast.Compare) and any(
            isinstance(side, ast.Constant) and side.value in _PLATFORM_NAMES
            for side in (node.left, *node.comparators)))
        or (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "startswith"
            and any(isinstance(arg, ast.Constant) and arg.value in _PLATFORM_NAMES for arg in node.args))
    ]
    assert compared == [], compared


def test_stamp_sources_are_the_enum() -> None:
    """control.py and batch.py label stamps with StampSource, never the bare words; core.py builds
    no Packet with a string source."""
    words = {source.value for source in sotimestamp.StampSource}
    spelled = [
        f"{name}:{node.lineno}"
        for name in ("control.py", "batch.py")
        for node in ast.walk(_modules()[name])
        if isinstance(node, ast.Constant) and node.value in words
    ]
    spelled += [
        f"core.py:{node.lineno}"
        for node in ast.walk(_modules()["core.py"])
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "Packet"
        and any(isinstance(arg, ast.Constant) and arg.value in words for arg in node.args)
    ]
    assert spelled == [], spelled
