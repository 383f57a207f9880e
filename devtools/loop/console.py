"""Read the guest's serial console: count results, notice panics and requests.

The runner's line protocol (devtools/loop/guest/init.c):
    @@RUN name | ok name | FAIL name: why | skip name: why | @@DONE
    @@SEND udp4|udp6 PORT COUNT     a test asks the host for frames on wm0
    @@SEND ptp2 SEQ COUNT           ... or for PTPv2 Sync frames, sequenceId SEQ..
A panic shows as a `panic:` line, then ddb's backtrace, then a `db{N}>` prompt.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

# The runner writes a skip as "skip prog:case:: why" (ATF's "skipped: why").
_RESULT = re.compile(r"^(ok|FAIL|skip) (\S+?):?(?:: (.*))?$")
# i386/NAME (and noharness/i386/NAME) is NAME's case run as a 32-bit
# program (loop/guestimage.I386_TESTS): it must end as NAME does, except
# where the 32-bit kernel interface is known to lack something.
I386 = "i386/"
I386_KNOWN = {
    "t_tstamp_rx:tstamp_recvmmsg_64": "7.99.10's COMPAT_NETBSD32 has no recvmmsg",
}
_SEND = re.compile(r"^@@SEND (udp4|udp6|ptp2) (\d+) (\d+)$")
# ANSI escapes and carriage returns from GRUB/the console.
_NOISE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\r")


@dataclass(frozen=True)
class SendRequest:
    proto: str
    port: int
    count: int


@dataclass
class ConsoleReport:
    passed: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    running: str | None = None
    booted: bool = False
    done: bool = False
    panic: list[str] = field(default_factory=list)
    panic_over: bool = False

    def feed(self, raw: str) -> SendRequest | None:
        """Take one console line; returns a frame request if the line is one."""
        line = _NOISE.sub("", raw).rstrip()
        if self.panic and not self.panic_over:
            if re.match(r"^db\{\d+\}>", line):
                self.panic_over = True
            elif line:
                self.panic.append(line)
            return None
        if "panic: " in line or line.startswith("fatal ") or "uvm_fault(" in line:
            self.panic.append(line)
            return None
        if line.startswith("@@BOOTED"):
            self.booted = True
        elif line.startswith("@@RUN "):
            self.running = line[6:].strip()
        elif line == "@@DONE":
            self.done = True
            self.running = None
        elif m := _SEND.match(line):
            return SendRequest(m.group(1), int(m.group(2)), int(m.group(3)))
        elif m := _RESULT.match(line):
            kind, name, why = m.group(1), m.group(2), (m.group(3) or "").strip()
            if kind == "ok":
                self.passed.append(name)
            elif kind == "FAIL":
                self.failed.append((name, why))
            else:
                self.skipped.append((name, why))
        return None

    @property
    def finished(self) -> bool:
        return self.done or self.panic_over

    def outcomes(self) -> dict[str, str]:
        return {**{n: "ok" for n in self.passed}, **{n: "FAIL" for n, _ in self.failed},
                **{n: "skip" for n, _ in self.skipped}}

    def i386_summary(self) -> tuple[str, list[tuple[str, str]]]:
        """The 32-bit cases' line, and each 32-bit case that did not end as
        its 64-bit case did (a failure of its own)."""
        out = self.outcomes()
        cases = {n: k for n, k in out.items() if n.startswith((I386, "noharness/" + I386))}
        differ, known = [], 0
        for name, kind in sorted(cases.items()):
            native = name.replace(I386, "", 1)
            if native not in out or out[native] == kind:
                continue
            if native.removeprefix("noharness/") in I386_KNOWN:
                known += 1
            else:
                differ.append((name, f"{kind} as a 32-bit program, {out[native]} as a 64-bit one"))
        kinds = list(cases.values())
        line = (f"i386: {kinds.count('ok')} passed, {kinds.count('FAIL')} failed, {kinds.count('skip')} skipped; "
                f"{len(cases) - len(differ) - known} of {len(cases)} end as their 64-bit case"
                f"{f', {known} known not to' if known else ''}")
        return line, differ

    def summary(self) -> str:
        line = f"{len(self.passed)} passed, {len(self.failed)} failed"
        if self.skipped:
            line += f", {len(self.skipped)} skipped"
        return line

    def ok(self) -> bool:
        return self.done and not self.failed and not self.panic and bool(self.passed)
