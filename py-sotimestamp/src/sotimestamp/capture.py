"""Record datagrams with their kernel stamps into a pcapng file."""
from __future__ import annotations

import collections
import errno
import ipaddress
import signal
import socket
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import FrameType
from typing import Any, BinaryIO, final

from .core import (
    DropCounter,
    enable,
    enable_drop_count,
    grow_rcvbuf,
    join_multicast,
    kernel_drops,
    rcvbuf_granted,
    set_rcvbuf,
)
from .endpoint import Endpoint
from .pcap import PcapngWriter, WriteFailed
from .pcap.write import rebuilt_fields_note
from .recorder import Recorder, enable_header_messages, header_options
from .stampsource import StampSource

#: The receive buffer asked for when --buffer-size is not given.
RCVBUF = 8 << 20
#: Datagrams per recvmmsg() call: 64 keeps one batch's buffers in the CPU caches.
BATCH = 64
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

    def as_dict(self) -> dict[str, Any]:
        return {
            "path": self.path, "captured": self.packets, "received": self.received, "kernel_dropped": self.dropped,
            "seconds": round(self.seconds, 6), "stamps": dict(self.sources), "stopped_by": self.stopped_by,
            "receive_buffer": self.rcvbuf, "write_error": self.write_error, "warnings": self.warnings,
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
    """The interface a capture receives on, as far as it can be told: --iface, the scope, or loopback."""
    if iface:
        return iface
    address, scope = _unscoped(bind.host)
    if scope:
        return scope
    if ipaddress.ip_address(address).is_loopback:
        return next((name for _i, name in socket.if_nameindex() if name.startswith("lo")), None)
    return None


def _hardware_warning(bind: Endpoint, iface: str | None) -> str | None:
    """Refuse --hardware on an interface that cannot stamp in hardware; warn when it cannot be told."""
    from .probe import interface_rx_hardware

    name = _interface_of(bind, iface)
    if name is None:
        return (f"--hardware: cannot tell which interface {bind.host} receives on; "
                "name it with --iface to have its hardware stamping checked")
    has, supports = interface_rx_hardware(name)
    if has is False:
        raise SetupError(errno.EOPNOTSUPP, f"--hardware: interface {name} has no hardware receive stamps "
                                           f"(it supports {supports}); leave --hardware out for software stamps")
    if has is None:
        return f"--hardware: could not check interface {name} ({supports}); stamps may all be software"
    return None


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
                  hardware: bool = False, buffer_size: int | None = None) -> Receiver:
    """A UDP socket bound to ``bind``, in ``group`` if given (binding a multicast address joins it),
    with kernel stamping and drop counting on.  Errors name the step and the address:
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
            with _step("setsockopt SO_REUSEADDR"):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        _rcvbuf, note = _buffer_warning(sock, buffer_size)
        if note:
            notes.append(note)
        with _step(f"bind {bind}"):
            sock.bind(_sockaddr(bind))
        if group:
            address, scope = _unscoped(group)
            on = iface or scope
            with _step(f"join group {address}" + (f" on {on}" if on else "")):
                join_multicast(sock, address, on)
        with _step("enable stamping" + (" (hardware)" if hardware else "")):
            enable(sock, software=True, hardware=hardware)
        with _step("setsockopt SO_RXQ_OVFL"):
            enable_drop_count(sock)
        reported = enable_header_messages(sock)
        _own_groups_only(sock)
    except BaseException:
        sock.close()
        raise
    port = sock.getsockname()[1]
    return Receiver(sock, Endpoint(_unscoped(group)[0] if group else _unscoped(bind.host)[0], port), notes,
                    reported)


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


def capture(
    bind: Endpoint,
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
) -> CaptureResult:
    """Capture until ``count`` datagrams, ``duration`` seconds, SIGINT, SIGTERM or SIGHUP.

    Every datagram is in the file within :data:`FLUSH_INTERVAL` (and :data:`WAIT`) of
    its arrival, or as its batch arrives with ``packet_buffered``.  Every datagram
    already queued when a stop comes is still written, then an Interface
    Statistics Block with the kernel's drop count; the file is a complete pcapng
    file whenever this returns (``signal`` in the result names the stopping
    signal).  If writing fails (disk full), the file is cut back to its last whole
    block and the result says why (``write_error``) and how many datagrams it
    holds.  ``ready(sock)`` is called once the socket is bound (tests and the demo
    start their senders there).
    """
    from tqdm import tqdm  # type: ignore[import-untyped]

    receiver = open_receiver(bind, group, iface, hardware, buffer_size)
    sock = receiver.sock
    result = CaptureResult(output, warnings=receiver.warnings)
    result.rcvbuf = sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
    drops = DropCounter()
    description = f"udp {receiver.destination}; {rebuilt_fields_note(receiver.reported)}"
    with sock, _open_output(output) as stream, _StopFlag() as stop:
        with _step(f"write {'standard output' if output == STDOUT else output}"):
            writer = PcapngWriter(stream, description, 0.0 if packet_buffered else FLUSH_INTERVAL)
        recorder = Recorder(sock, writer, tuple(receiver.destination), drops)
        result.sources = recorder.sources
        if ready is not None:
            ready(sock)
        start_ns = time.time_ns()
        start = time.monotonic()
        deadline = start + duration if duration is not None else None
        bar = tqdm(total=count, unit="dgram", file=sys.stderr, disable=None if progress is None else not progress,
                   mininterval=0.5, leave=False, desc="capture")
        try:
            with bar:
                while True:
                    if stop.signal:
                        result.stopped_by = stop.signal.name
                        result.signal = stop.signal
                        break
                    if count is not None and writer.packets >= count:
                        break
                    now = time.monotonic()
                    if deadline is not None and now >= deadline:
                        result.stopped_by = "duration"
                        break
                    if writer.flush_due():
                        writer.flush()
                    # settimeout costs system calls (fcntl): only when the wait changes
                    wait = WAIT if deadline is None else max(0.0, min(WAIT, deadline - now))
                    if wait != sock.gettimeout():
                        sock.settimeout(wait)
                    want = BATCH if count is None else min(BATCH, count - writer.packets)
                    try:
                        got = recorder.record_batch(want, MAX_DATAGRAM)
                    except (socket.timeout, BlockingIOError, InterruptedError):
                        writer.flush()  # idle: what waits goes to the file
                        continue
                    bar.update(got)
                _drain(recorder, count)
            result.dropped = kernel_drops(sock, drops)
            received = None if result.dropped is None else writer.packets + result.dropped
            writer.write_statistics(start_ns, time.time_ns(), received, result.dropped)
            writer.sync()
        except WriteFailed as exc:
            result.write_error = exc.strerror or str(exc)
            result.dropped = kernel_drops(sock, drops)
            result.stopped_by = "write error"
            _close_after_write_error(writer, start_ns, result)
        result.packets = writer.saved
        result.received = writer.packets
        result.seconds = time.monotonic() - start
    return result


def _close_after_write_error(writer: PcapngWriter, start_ns: int, result: CaptureResult) -> None:
    """Cut the file back to its last whole block, then try to close it with the statistics
    block (it may not fit: a full disk; then the file ends with the last datagram)."""
    if not writer.cut_to_whole_blocks():
        return  # a pipe: nothing to cut
    received = None if result.dropped is None else writer.saved + result.dropped
    try:
        writer.write_statistics(start_ns, time.time_ns(), received, result.dropped)
    except WriteFailed:
        writer.cut_to_whole_blocks()
    try:
        writer.sync()
    except OSError:
        pass


def _drain(recorder: Recorder, count: int | None) -> None:
    """Write what is still queued in the socket (a stop must not lose received datagrams)."""
    recorder.sock.settimeout(0.0)
    writer = recorder.writer
    while count is None or writer.packets < count:
        want = BATCH if count is None else min(BATCH, count - writer.packets)
        try:
            recorder.record_batch(want, MAX_DATAGRAM)
        except (BlockingIOError, socket.timeout, InterruptedError):
            return
