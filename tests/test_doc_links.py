"""Every relative link in every tracked Markdown file points at something that
exists; an anchor (#...) into a Markdown file must name one of its headings
(GitHub's slugs).  Links inside code (fenced blocks, `spans`) are not links."""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parent.parent

_FENCE = re.compile(r"^(```|~~~).*?^\1[ \t]*$", re.M | re.S)
_CODE_SPAN = re.compile(r"(`+)(?:(?!\1).)+?\1", re.S)
_INLINE = re.compile(r"!?\[(?:[^\]\\]|\\.)*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_REFDEF = re.compile(r"^ {0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+.*)?$", re.M)
_HEADING = re.compile(r"^ {0,3}#{1,6}[ \t]+(.+?)[ \t#]*$", re.M)


def tracked_markdown() -> list[Path]:
    try:
        out = subprocess.run(["git", "ls-files", "-z", "*.md"], cwd=PROJECT, capture_output=True,
                             text=True, check=True).stdout
        return [PROJECT / name for name in out.split("\0") if name]
    except (OSError, subprocess.CalledProcessError):  # not a git checkout (an unpacked sdist)
        return sorted(p for p in PROJECT.rglob("*.md") if ".venv" not in p.parts)


def links(text: str) -> list[str]:
    text = _CODE_SPAN.sub("", _FENCE.sub("", text))
    return _INLINE.findall(text) + _REFDEF.findall(text)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, markup and punctuation
    dropped, spaces to hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # [text](url) -> text
    text = text.replace("`", "").lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(md: Path) -> set[str]:
    seen: dict[str, int] = {}
    result = set()
    for heading in _HEADING.findall(_FENCE.sub("", md.read_text())):
        base = slug(heading)
        n = seen.get(base, 0)
        seen[base] = n + 1
        result.add(base if n == 0 else f"{base}-{n}")
    return result


def problems(md: Path) -> list[str]:
    found = []
    for target in links(md.read_text()):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I):  # http:, https:, mailto:
            continue
        path, _, anchor = target.partition("#")
        dest = (md.parent / path).resolve() if path else md
        if not dest.exists():
            found.append(f"{md.relative_to(PROJECT)}: {target}: no such file")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            found.append(f"{md.relative_to(PROJECT)}: {target}: no heading #{anchor} in {dest.name}")
    return found


@pytest.mark.parametrize("md", tracked_markdown(), ids=lambda p: str(p.relative_to(PROJECT)))
def test_relative_links_resolve(md: Path) -> None:
    assert problems(md) == []


def test_link_checker_catches_a_broken_link_and_anchor(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.md").write_text("# The `a` page\n\n## Two words\n")
    md = tmp_path / "README.md"
    md.write_text("[ok](docs/a.md) [ok](docs/a.md#two-words) [ok](docs/a.md#the-a-page) [ok](docs/)\n"
                  "[web](https://example.org/x) `[code](nowhere.md)`\n\n```\n[fenced](nowhere.md)\n```\n"
                  "[bad](docs/b.md) [bad anchor](docs/a.md#three)\n\n[ref]: docs/c.md\n")
    monkeypatch.setattr("tests.test_doc_links.PROJECT", tmp_path)
    assert problems(md) == ["README.md: docs/b.md: no such file",
                            "README.md: docs/a.md#three: no heading #three in a.md",
                            "README.md: docs/c.md: no such file"]
