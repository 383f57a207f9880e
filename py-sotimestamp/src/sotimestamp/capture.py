"""Record datagrams with their kernel stamps into a pcapng file."""
from __future__ import annotations

import bisect
import collections
import contextlib
import errno
import ipaddress
import os
import select
import signal
import socket
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import FrameType
from typing import Any, BinaryIO, final

from . import nic
from .core import (
    DropCounter,
    enable,
    enable_drop_count,
    grow_rcvbuf,
    join_multicast,
    join_source_group,
    kernel_drops,
    rcvbuf_granted,
    set_rcvbuf,
)
from .endpoint import Endpoint
from .pcap import Interface, PcapngWriter, WriteFailed
from .pcap.write import rebuilt_fields_note
from .recorder import Recorder, enable_header_messages, header_options
from .stampsource import StampSource

#: The receive buffer asked for when --buffer-size is not given.
RCVBUF = 8 << 20
#: Datagrams per recvmmsg() call (at most: a call takes what is queued).  Each call costs the
#: Python side some 10 us whatever it returns: 256 a call drains ~6 % faster than 64
#: (py-sotimestamp README, Benchmark); the slots' payload pages are only made when written.
BATCH = 256
#: The slot size of the receive buffers: the largest UDP payload.
MAX_DATAGRAM = 65535
STDOUT = "-"
#: Seconds a received datagram may wait in memory before it is written (--packet-buffered: 0).
FLUSH_INTERVAL = 0.5
#: The longest the loop waits in one receive call: how late a stop or a flush can be seen.
WAIT = 0.1


class SetupError(OSError):
    """A step of setting the capture up failed; the message names the step, the address and the reason."""

    def __str__(self) -> str:
        return str(self.strerror)


@contextmanager
def _step(what: str) -> Iterator[None]:
    """Turn an OSError of ``what`` into a :class:`SetupError` saying ``what: reason``."""
    try:
        yield
    except SetupError:
        raise
    except OSError as exc:
        raise SetupError(exc.errno or errno.EINVAL, f"{what}: {exc.strerror or exc}") from None


@dataclass
class CaptureResult:
    path: str
    packets: int = 0
    #: datagrams received, per stamp source (after a write error more than the file holds)
    sources: collections.Counter[StampSource] = field(default_factory=collections.Counter)
    seconds: float = 0.0
    stopped_by: str = "count"
    #: the signal that ended the capture (the command exits 128 + its number, as its man page says)
    signal: signal.Signals | None = None
    #: datagrams received (``packets`` of them are in the file; fewer only after a write error)
    received: int = 0
    #: datagrams the kernel dropped because the receive buffer was full; None where it cannot tell
    dropped: int | None = None
    #: the receive buffer the kernel gave (bytes, as SO_RCVBUF reports it)
    rcvbuf: int = 0
    #: what went wrong writing the file (the file then holds ``packets`` whole datagrams)
    write_error: str | None = None
    warnings: list[str] = field(default_factory=list)
    #: the files written and still there (one without rotation), and those -W removed
    files: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "path": self.path, "captured": self.packets, "received": self.received, "kernel_dropped": self.dropped,
            "seconds": round(self.seconds, 6), "stamps": dict(self.sources), "stopped_by": self.stopped_by,
            "receive_buffer": self.rcvbuf, "write_error": self.write_error, "warnings": self.warnings,
            "files": self.files, "removed": self.removed,
        }


@dataclass(frozen=True)
class Receiver:
    """Where a capture listens: the bound socket, the group joined, and what the setup had to say."""

    sock: socket.socket
    #: the address datagrams are sent to (the group, or the bound address) and the bound port
    destination: Endpoint
    warnings: list[str]
    #: the header fields the kernel reports per datagram ("destination", "TTL", "TOS")
    reported: list[str] = field(default_factory=list)
    #: the receiving interface as told at setup (--iface, the scope, loopback); None: the packet info tells
    interface: str | None = None


def _unscoped(host: str) -> tuple[str, str | None]:
    """``ff02::1%lo`` -> (``ff02::1``, ``lo``)."""
    address, _sep, scope = host.partition("%")
    return address, scope or None


def _sockaddr(bind: Endpoint) -> tuple[Any, ...]:
    """The address to bind: an IPv6 scope (``%lo``) becomes the sockaddr's scope id
    (CPython's ``bind(("ff02::1%lo", port))`` drops it and the kernel refuses the address)."""
    if "%" not in bind.host:
        return (bind.host, bind.port)
    infos = socket.getaddrinfo(bind.host, bind.port, bind.family, socket.SOCK_DGRAM, 0, socket.AI_NUMERICHOST)
    return tuple(infos[0][4])


def _check_group(group: str, bind: Endpoint) -> None:
    address, _scope = _unscoped(group)
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        raise ValueError(f"--group {group}: not an IPv4 or IPv6 address") from None
    if not parsed.is_multicast:
        raise ValueError(f"--group {group}: not a multicast address (IPv4 224.0.0.0/4, IPv6 ff00::/8)")
    if (parsed.version == 6) != (bind.family == socket.AF_INET6):
        raise ValueError(f"--group {group} and the bound address {bind} are not of the same IP version")


def _interface_of(bind: Endpoint, iface: str | None) -> str | None:
    """The name of the interface a capture receives on, as far as it can be told before a datagram
    comes: --iface (a name, an index or an IPv4 address), the scope, or loopback.  (Not the
    interface holding a bound unicast address: a datagram from this host to it comes in on the
    loopback interface; the packet info tells.)"""
    if iface:
        if iface.isdigit():
            try:
                return socket.if_indextoname(int(iface))
            except OSError:
                return iface
        return nic.interface_of(iface) or iface if "." in iface else iface
    address, scope = _unscoped(bind.host)
    if scope:
        return scope
    if ipaddress.ip_address(address).is_loopback:
        return next((name for _i, name in socket.if_nameindex() if name.startswith("lo")), None)
    return None


def _hardware_warning(bind: Endpoint, iface: str | None) -> str | None:
    """Refuse --hardware on an interface that cannot stamp in hardware; warn when it cannot be
    told; otherwise set it to stamp every received packet where the caller may, and say what
    it got (:func:`~sotimestamp.nic.stamp_all_received`)."""
    from .nic import stamp_all_received
    from .probe import interface_rx_hardware

    name = _interface_of(bind, iface) or nic.interface_of(_unscoped(bind.host)[0])  # the NIC that would stamp
    if name is None:
        return (f"--hardware: cannot tell which interface {bind.host} receives on; "
                "name it with --iface to have its hardware stamping checked")
    has, supports = interface_rx_hardware(name)
    if has is False:
        raise SetupError(errno.EOPNOTSUPP, f"--hardware: interface {name} has no hardware receive stamps "
                                           f"(it supports {supports}); leave --hardware out for software stamps")
    if has is None:
        return f"--hardware: could not check interface {name} ({supports}); stamps may all be software"
    return f"--hardware: {stamp_all_received(name)[1]}"


def _buffer_warning(sock: socket.socket, size: int | None) -> tuple[int, str | None]:
    """Set the receive buffer; (bytes obtained, a warning if the kernel gave less than asked)."""
    if size is None:
        return grow_rcvbuf(sock, RCVBUF), None
    with _step(f"setsockopt SO_RCVBUF {size}"):
        got = set_rcvbuf(sock, size)
    if got < rcvbuf_granted(size):
        return got, (f"--buffer-size {size}: the kernel gave a receive buffer of {got} bytes "
                     f"(as SO_RCVBUF reports it; Linux reports twice the usable size; limit: "
                     f"net.core.rmem_max, or run as root for SO_RCVBUFFORCE)")
    if got > rcvbuf_granted(size):
        return got, f"--buffer-size {size}: the kernel raised the receive buffer to its minimum, {got} bytes"
    return got, None


def open_receiver(bind: Endpoint, group: str | None = None, iface: str | None = None,
                  hardware: bool = False, buffer_size: int | None = None, sources: Sequence[str] = ()) -> Receiver:
    """A UDP socket bound to ``bind``, in ``group`` if given (binding a multicast address joins it;
    with ``sources``, for datagrams from those senders only), with kernel stamping and drop
    counting on.  Errors name the step and the address:
    ``bind 192.0.2.77:5000: Cannot assign requested address``."""
    if group is not None:
        _check_group(group, bind)
    elif ipaddress.ip_address(_unscoped(bind.host)[0]).is_multicast:
        group = bind.host
    notes: list[str] = []
    if hardware:
        note = _hardware_warning(bind, iface or (_unscoped(group)[1] if group else None))
        if note:
            notes.append(note)
    with _step(f"socket {'IPv6' if bind.family == socket.AF_INET6 else 'IPv4'} UDP"):
        sock = socket.socket(bind.family, socket.SOCK_DGRAM)
    try:
        if group:
            _share_port(sock)
        _rcvbuf, note = _buffer_warning(sock, buffer_size)
        if note:
            notes.append(note)
        if bind.family == socket.AF_INET6 and bind.host == "::":
            # [::] takes IPv4 senders too, as on Linux: NetBSD and FreeBSD default to v6only
            with _step("setsockopt IPV6_V6ONLY 0"):
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        with _step(f"bind {bind}"):
            sock.bind(_sockaddr(bind))
        if group:
            address, scope = _unscoped(group)
            on = iface or scope
            for source in sources:
                with _step(f"join group {address} for source {source}" + (f" on {on}" if on else "")):
                    join_source_group(sock, address, source, on)
            if not sources:
                with _step(f"join group {address}" + (f" on {on}" if on else "")):
                    join_multicast(sock, address, on)
        with _step("enable stamping" + (" (hardware)" if hardware else "")):
            enable(sock, software=True, hardware=hardware)
        with _step("setsockopt SO_RXQ_OVFL"):
            enable_drop_count(sock)
        known = _interface_of(bind, iface or (_unscoped(group)[1] if group else None))
        reported = enable_header_messages(sock, interface=known is None)
        _own_groups_only(sock)
    except BaseException:
        sock.close()
        raise
    port = sock.getsockname()[1]
    return Receiver(sock, Endpoint(_unscoped(group)[0] if group else _unscoped(bind.host)[0], port), notes,
                    reported, known)


def _share_port(sock: socket.socket) -> None:
    """A group capture shares its port with the application that consumes the group (each
    socket of the group gets its own copy of every datagram): SO_REUSEADDR, and SO_REUSEPORT
    where the system has it (the BSDs need it for two sockets on one multicast address and
    port; Linux needs the application to have set it too, or SO_REUSEADDR on both)."""
    with _step("setsockopt SO_REUSEADDR"):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    reuse_port = getattr(socket, "SO_REUSEPORT", None)
    if reuse_port is not None:
        try:
            sock.setsockopt(socket.SOL_SOCKET, reuse_port, 1)
        except OSError:
            pass  # SO_REUSEADDR alone still shares the port with applications that set it


def _own_groups_only(sock: socket.socket) -> None:
    """Linux delivers the datagrams of every group any socket on the host joined to a socket
    bound to the wildcard address and that port (IP_MULTICAST_ALL, on by default): turn it
    off, so that a capture of one group records that group only.  Kernels without it
    (IPV6_MULTICAST_ALL is Linux 4.20+, the BSDs) deliver only the socket's own groups."""
    options = header_options()
    for level, option in ((socket.IPPROTO_IP, options.IP_MULTICAST_ALL),
                          (socket.IPPROTO_IPV6, options.IPV6_MULTICAST_ALL)):
        if option is not None and (level == socket.IPPROTO_IP or sock.family == socket.AF_INET6):
            try:
                sock.setsockopt(level, option, 0)
            except OSError:
                pass


#: The signals that end a capture with a complete file (SIGHUP: the terminal went away).
STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))


@final  # __enter__ returns this very class
class _StopFlag:
    """SIGINT, SIGTERM and SIGHUP set a flag (the capture loop checks it between batches,
    then writes what is queued and closes the file, as tcpdump does)."""

    def __init__(self) -> None:
        self.signal: signal.Signals | None = None
        self.saved: dict[int, Any] = {}

    def __enter__(self) -> _StopFlag:
        for sig in STOP_SIGNALS:
            try:
                self.saved[sig] = signal.signal(sig, self._handle)
            except ValueError:  # not the main thread: rely on count/duration
                pass
        return self

    def _handle(self, signum: int, _frame: FrameType | None) -> None:
        self.signal = signal.Signals(signum)

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self.saved.items():
            signal.signal(sig, handler)


def _open_output(output: str) -> BinaryIO:
    """The output, unbuffered (a failed write then leaves a known number of whole blocks):
    ``-`` is standard output, as ``tcpdump -w -``."""
    if output == STDOUT:
        sys.stdout.flush()
        return open(sys.stdout.fileno(), "wb", buffering=0, closefd=False)
    with _step(f"open {output}"):
        return open(output, "wb", buffering=0)


@dataclass(frozen=True)
class Rotation:
    """When a capture starts its next file (dumpcap's ``-b filesize/duration/files``, tcpdump's
    ``-C``/``-G``/``-W``): after ``size`` bytes, after ``seconds``, and keeping the last
    ``files`` (None: every one).  Files are named as dumpcap names them,
    ``STEM_NNNNN_YYYYMMDDHHMMSS.EXT``: a counter from 1 and the local time the file began."""

    size: int | None = None
    seconds: float | None = None
    files: int | None = None

    def name(self, output: str, number: int, when: float) -> str:
        stem, dot, ext = output.rpartition(".")
        if not dot or "/" in ext:
            stem, ext = output, ""
        return f"{stem}_{number:05d}_{time.strftime('%Y%m%d%H%M%S', time.localtime(when))}" + (f".{ext}" if ext else "")


@dataclass
class _Feed:
    """One endpoint of a capture: its socket, the recorder reading it, its drops (per file too)."""

    receiver: Receiver
    recorder: Recorder
    drops: DropCounter
    #: this feed's file interface numbers, by the kernel's interface index (None: as told at setup)
    interfaces: dict[int | None, int] = field(default_factory=dict)
    received_before: int = 0  #: datagrams of this feed in the files already closed
    dropped_before: int | None = 0  #: the kernel's drop count when the current file began


class _Files:
    """The capture's output: one file, or a rotating series (:class:`Rotation`).  Owns the current
    :class:`PcapngWriter`; each new file repeats every Interface Description Block, so an
    interface keeps its number in every file."""

    def __init__(self, output: str, rotation: Rotation | None, flush_interval: float, snaplen: int) -> None:
        self.output, self.rotation, self.flush_interval, self.snaplen = output, rotation, flush_interval, snaplen
        self.paths: list[str] = []
        self.removed: list[str] = []
        self.saved_before = 0  #: datagrams in the files already closed
        self.received_before = 0
        self.interfaces: list[Interface] = []
        self.writer: PcapngWriter | None = None
        self.started = 0.0  #: time.monotonic() when the current file began
        self.started_ns = 0

    def open_next(self) -> PcapngWriter:
        now = time.time()
        path = self.output if self.rotation is None else self.rotation.name(self.output, len(self.paths) + 1, now)
        stream = _open_output(path)
        self.paths.append(path)
        self.started, self.started_ns = time.monotonic(), time.time_ns()
        with _step(f"write {'standard output' if path == STDOUT else path}"):
            self.writer = PcapngWriter(stream, flush_interval=self.flush_interval, interfaces=self.interfaces,
                                       snaplen=self.snaplen)
        self.interfaces = self.writer.interfaces  # one list: interfaces added later are in the next file too
        keep = self.rotation.files if self.rotation else None
        while keep is not None and len(self.paths) - len(self.removed) > keep:
            oldest = self.paths[len(self.removed)]
            with _step(f"remove {oldest} (-W {keep})"):
                os.remove(oldest)
            self.removed.append(oldest)
        return self.writer

    def due(self, writer: PcapngWriter) -> bool:
        """Whether the current file is full or old enough to start the next (checked between batches,
        so a datagram is never split between files)."""
        r = self.rotation
        return r is not None and (
            (r.size is not None and writer.whole_bytes + writer.pending_bytes >= r.size)
            or (r.seconds is not None and time.monotonic() - self.started >= r.seconds))


def capture(
    bind: Endpoint | Sequence[Endpoint],
    output: str,
    *,
    group: str | None = None,
    iface: str | None = None,
    count: int | None = None,
    duration: float | None = None,
    hardware: bool = False,
    buffer_size: int | None = None,
    packet_buffered: bool = False,
    progress: bool | None = None,
    ready: Callable[[socket.socket], None] | None = None,
    snaplen: int = 0,
    rotation: Rotation | None = None,
    sources: Sequence[tuple[str | None, str]] = (),
) -> CaptureResult:
    """Capture until ``count`` datagrams, ``duration`` seconds, SIGINT, SIGTERM or SIGHUP.

    ``bind`` is one endpoint or several (feeds): each gets its own socket and its own
    Interface Description Block (one per receiving interface, named as the system names
    it), and the datagrams of all of them are written in the order of their stamps.
    Every datagram is in the file within :data:`FLUSH_INTERVAL` (and :data:`WAIT`) of
    its arrival, or as its batch arrives with ``packet_buffered``.  Every datagram
    already queued when a stop comes is still written, then an Interface
    Statistics Block per feed with the kernel's drop count; the file is a complete pcapng
    file whenever this returns (``signal`` in the result names the stopping
    signal).  With ``rotation`` each file is closed as complete (statistics, fsync)
    before the next begins, between two batches.  If writing fails (disk full), the file
    is cut back to its last whole block and the result says why (``write_error``) and how
    many datagrams it holds.  ``ready(sock)`` is called once each socket is bound (tests
    and the demo start their senders there).  ``sources`` are (group, sender) pairs of
    source-specific multicast: each group is joined for its senders only; a pair without a
    group applies to every group of its IP version.
    """
    from tqdm import tqdm  # type: ignore[import-untyped]

    binds = [bind] if isinstance(bind, Endpoint) else list(bind)
    if not binds:
        raise ValueError("capture: no endpoint to bind")
    if group is not None and len(binds) > 1:
        raise ValueError("--group goes with one endpoint; with several, give each group as an endpoint")
    if rotation is not None and output == STDOUT:
        raise ValueError("-C, -G and -W write a series of files: give a file name, not -")
    per_group = _sources_of_groups(binds, group, sources)
    receivers: list[Receiver] = []
    try:
        for endpoint, senders in zip(binds, per_group):
            receivers.append(open_receiver(endpoint, group, iface, hardware, buffer_size, senders))
    except BaseException:
        for made in receivers:
            made.sock.close()
        raise
    files = _Files(output, rotation, 0.0 if packet_buffered else FLUSH_INTERVAL, snaplen)
    result = CaptureResult(output, warnings=[w for r in receivers for w in r.warnings])
    result.rcvbuf = receivers[0].sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
    with contextlib.ExitStack() as stack:
        for r in receivers:
            stack.enter_context(r.sock)
        stop = stack.enter_context(_StopFlag())
        writer = files.open_next()
        feeds = [_start_feed(r, writer, files) for r in receivers]
        result.sources = feeds[0].recorder.sources
        for feed in feeds[1:]:
            feed.recorder.sources = result.sources  # one count over every feed
        if ready is not None:
            for r in receivers:
                ready(r.sock)
        start = time.monotonic()
        deadline = start + duration if duration is not None else None
        bar = tqdm(total=count, unit="dgram", file=sys.stderr, disable=None if progress is None else not progress,
                   mininterval=0.5, leave=False, desc="capture")
        loop = _Loop(feeds, files, count, deadline, stop, bar, result)
        try:
            with bar:
                loop.run()
            loop.close_file(final=True)
        except WriteFailed as exc:
            result.write_error = exc.strerror or str(exc)
            result.stopped_by = "write error"
            _close_after_write_error(files, feeds, result)
        assert files.writer is not None
        result.packets = files.saved_before + files.writer.saved
        result.received = files.received_before + files.writer.packets
        result.dropped = _total_drops(feeds)
        result.seconds = time.monotonic() - start
        result.files = [p for p in files.paths if p not in files.removed]
        result.removed = files.removed
    return result


def _sources_of_groups(binds: list[Endpoint], group: str | None,
                       sources: Sequence[tuple[str | None, str]]) -> list[list[str]]:
    """Per endpoint, the senders of its group (:func:`capture`'s ``sources``); a pair whose
    group is not captured, or a sender of no group, is a ValueError naming it."""
    groups = [_unscoped(group or b.host)[0] if group or b.is_multicast else None for b in binds]
    out: list[list[str]] = [[] for _ in binds]
    for wanted, sender in sources:
        hits = [i for i, g in enumerate(groups) if g is not None
                and (g == wanted if wanted is not None else (":" in g) == (":" in sender))]
        if not hits:
            raise ValueError(f"--source {(wanted + '=') if wanted else ''}{sender}: "
                             + (f"{wanted} is not a group this capture joins" if wanted
                                else "no group of its IP version to join for it"))
        for i in hits:
            out[i].append(sender)
    return out


def _start_feed(receiver: Receiver, writer: PcapngWriter, files: _Files) -> _Feed:
    """A feed with its first interface block (the interface told at setup, or "any" until a
    datagram's packet info names it)."""
    description = f"udp {receiver.destination}; {rebuilt_fields_note(receiver.reported)}"
    first = writer.add_interface(Interface(receiver.interface or "any", description))
    known: dict[int | None, int] = {None: first}
    names = {receiver.interface: first}

    def interface_of(index: int | None) -> int:
        number = known.get(index)
        if number is None:  # a datagram came in on an interface not seen before
            assert index is not None
            try:
                name = socket.if_indextoname(index)
            except OSError:
                name = f"index {index}"
            number = names.get(name)
            if number is None:
                if files.writer is None:
                    raise RuntimeError("no file to describe an interface in")
                number = names[name] = files.writer.add_interface(
                    Interface(name, f"{description}; interface index {index}"))
            known[index] = number
        return number

    drops = DropCounter()
    recorder = Recorder(receiver.sock, writer, tuple(receiver.destination), drops, interface_of=interface_of)
    return _Feed(receiver, recorder, drops, known)


def _total_drops(feeds: list[_Feed]) -> int | None:
    counts = [kernel_drops(f.receiver.sock, f.drops) for f in feeds]
    return None if any(c is None for c in counts) else sum(c for c in counts if c is not None)


class _Loop:
    """The receive loop of a capture: one feed is read batch by batch straight into the file;
    several are read round by round and their datagrams written in stamp order."""

    def __init__(self, feeds: list[_Feed], files: _Files, count: int | None, deadline: float | None,
                 stop: _StopFlag, bar: Any, result: CaptureResult) -> None:
        self.feeds, self.files, self.count, self.deadline = feeds, files, count, deadline
        self.stop, self.bar, self.result = stop, bar, result
        #: (stamp, block) received but not written yet: a later round may hold earlier stamps
        self.held: list[tuple[int, bytes]] = []
        self.held_limit = 0  #: the latest stamp held back by the round before: the next round writes up to it
        self.poller = select.poll()
        for feed in feeds:
            self.poller.register(feed.receiver.sock.fileno(), select.POLLIN)

    @property
    def writer(self) -> PcapngWriter:
        assert self.files.writer is not None
        return self.files.writer

    def taken(self) -> int:
        """Datagrams received so far (written, waiting in the writer, or held for the merge)."""
        return self.files.received_before + self.writer.packets + len(self.held)

    def want(self) -> int:
        return BATCH if self.count is None else min(BATCH, self.count - self.taken())

    def run(self) -> None:
        result = self.result
        while True:
            if self.stop.signal:
                result.stopped_by = self.stop.signal.name
                result.signal = self.stop.signal
                break
            if self.count is not None and self.taken() >= self.count:
                break
            now = time.monotonic()
            if self.deadline is not None and now >= self.deadline:
                result.stopped_by = "duration"
                break
            writer = self.writer
            if writer.flush_due():
                writer.flush()
            if self.files.due(writer):
                self.close_file(final=False)
            wait = WAIT if self.deadline is None else max(0.0, min(WAIT, self.deadline - now))
            got = self.one_feed(wait) if len(self.feeds) == 1 else self.round(wait)
            self.bar.update(got)
        self.drain()

    def one_feed(self, wait: float) -> int:
        sock = self.feeds[0].receiver.sock
        # settimeout costs system calls (fcntl): only when the wait changes
        if wait != sock.gettimeout():
            sock.settimeout(wait)
        try:
            return self.feeds[0].recorder.record_batch(self.want(), MAX_DATAGRAM)
        except (socket.timeout, BlockingIOError, InterruptedError):
            self.writer.flush()  # idle: what waits goes to the file
            return 0

    def round(self, wait: float) -> int:
        """Read every feed with datagrams queued until it has none left (or the count is reached);
        write, in stamp order, what was stamped before the round began and what an earlier round
        held back; hold the rest, which a feed read later in this round may precede."""
        began = time.time_ns()
        ready = self.poller.poll(wait * 1000)
        if not ready:
            self.write_held(None)
            self.writer.flush()  # idle: what waits goes to the file
            return 0
        by_fd = {f.receiver.sock.fileno(): f for f in self.feeds}
        got = self.read_feeds([by_fd[fd] for fd, _events in ready])
        self.write_held(began)
        return got

    def read_feeds(self, feeds: list[_Feed]) -> int:
        got = 0
        for feed in feeds:
            feed.receiver.sock.settimeout(0.0)
            for _ in range(16):  # at most 1024 datagrams of one feed per round: the others wait no longer
                want = self.want()
                if want <= 0:
                    return got
                try:
                    blocks = feed.recorder.stamped_batch(want, MAX_DATAGRAM)
                except (socket.timeout, BlockingIOError, InterruptedError):
                    break
                self.held += blocks
                got += len(blocks)
                if len(blocks) < want:
                    break
        return got

    def write_held(self, before_ns: int | None) -> None:
        """Write the held datagrams stamped up to ``before_ns`` or up to the latest one an earlier
        round held (None: all of them), in stamp order."""
        held = self.held
        if not held:
            return
        held.sort(key=_stamp)
        if before_ns is None:
            cut = len(held)
        else:
            limit = max(before_ns, self.held_limit)
            cut = bisect.bisect_right([ts for ts, _block in held], limit)  # (key= is Python 3.10+)
        self.writer.add_blocks((block for _ts, block in held[:cut]), cut)
        self.held = held[cut:]
        self.held_limit = self.held[-1][0] if self.held else 0

    def drain(self) -> None:
        """Write what is still queued in the sockets (a stop must not lose received datagrams)."""
        if len(self.feeds) == 1:
            _drain(self.feeds[0].recorder, self.count, self.files.received_before)
            return
        while self.read_feeds(self.feeds):
            pass
        self.write_held(None)

    def close_file(self, *, final: bool) -> None:
        """End the current file with one Interface Statistics Block per feed and fsync it; unless
        ``final``, open the next and point every feed's recorder to it."""
        self.write_held(None)
        files, writer = self.files, self.writer
        end_ns = time.time_ns()
        for feed in self.feeds:
            dropped = kernel_drops(feed.receiver.sock, feed.drops)
            delta = None if dropped is None or feed.dropped_before is None else dropped - feed.dropped_before
            received = feed.recorder.received - feed.received_before
            writer.write_statistics(files.started_ns, end_ns, None if delta is None else received + delta, delta,
                                    interface=feed.interfaces[None], delivered=received)
            feed.received_before, feed.dropped_before = feed.recorder.received, dropped
        writer.sync()
        if final:
            return
        files.saved_before += writer.saved
        files.received_before += writer.packets
        writer.close()
        new = files.open_next()
        for feed in self.feeds:
            feed.recorder.writer = new


def _stamp(item: tuple[int, bytes]) -> int:
    return item[0]


def _close_after_write_error(files: _Files, feeds: list[_Feed], result: CaptureResult) -> None:
    """Cut the file back to its last whole block, then try to close it with the statistics
    block (it may not fit: a full disk; then the file ends with the last datagram)."""
    writer = files.writer
    assert writer is not None
    if not writer.cut_to_whole_blocks():
        return  # a pipe: nothing to cut
    dropped = _total_drops(feeds)
    received = None if dropped is None else writer.saved + dropped
    try:
        writer.write_statistics(files.started_ns, time.time_ns(), received, dropped,
                                interface=feeds[0].interfaces[None])
    except WriteFailed:
        writer.cut_to_whole_blocks()
    try:
        writer.sync()
    except OSError:
        pass


def _drain(recorder: Recorder, count: int | None, before: int = 0) -> None:
    """Write what is still queued in the socket (a stop must not lose received datagrams)."""
    recorder.sock.settimeout(0.0)
    writer = recorder.writer
    while count is None or before + writer.packets < count:
        want = BATCH if count is None else min(BATCH, count - before - writer.packets)
        try:
            recorder.record_batch(want, MAX_DATAGRAM)
        except (BlockingIOError, socket.timeout, InterruptedError):
            return
