"""``recv_batch``: many datagrams per system call with ``recvmmsg()`` through ctypes.

ctypes keeps the package pure Python (no compiler at install time).  Where
ctypes or ``recvmmsg`` is missing (a NetBSD guest Python built without
``_ctypes``, macOS), :func:`recv_batch` falls back to one ``recvmsg()`` per
datagram with the same results; :data:`HAVE_RECVMMSG` tells which path runs.

The Python work per datagram, not the system call, limits the rate, so a batch
is read with a few C calls over whole buffers (:func:`uniform_slots`: strided
views of the slots' fields and one comparison of their control bytes, or
``struct`` calls where fields are not aligned to their size); when every slot
has the same control-buffer shape, the results are made by C loops (``map``,
``zip``) with no bytecode per datagram.  Any other batch is decoded slot by
slot, to the same results.
"""
from __future__ import annotations

import errno
import functools
import itertools
import mmap
import select
import socket
import struct
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from itertools import repeat
from operator import add, mul
from typing import Any, Literal, NamedTuple, cast

from . import constants as C
from .constants import NS_PER_S
from .control import SCM_TIMESTAMPING_LAYOUT, SCM_TIMESTAMPING_SIZE, scm_timestamping
from .core import ANCBUFSIZE, DropCounter, Packet, check_socket, packet_from
from .stampsource import StampSource, stamp_source

try:
    import ctypes
    import ctypes.util
except ImportError:  # pragma: no cover - Python built without _ctypes
    ctypes = None  # type: ignore[assignment]

_LINUX = sys.platform.startswith("linux")


def _load_recvmmsg() -> Any:
    if ctypes is None:
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        func = libc.recvmmsg
    except (OSError, AttributeError):
        return None
    # int recvmmsg(int fd, struct mmsghdr *vec, unsigned vlen, int flags, struct timespec *timeout)
    func.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_uint, ctypes.c_int, ctypes.c_void_p]
    func.restype = ctypes.c_int
    return func


_recvmmsg = _load_recvmmsg()
HAVE_RECVMMSG: bool = _recvmmsg is not None

if HAVE_RECVMMSG:
    class _Iovec(ctypes.Structure):
        _fields_ = (("iov_base", ctypes.c_void_p), ("iov_len", ctypes.c_size_t))

    if _LINUX:
        _len_t: Any = ctypes.c_size_t  # msg_iovlen, msg_controllen are size_t on Linux
        _ctl_len_t: Any = ctypes.c_size_t
    else:
        _len_t = ctypes.c_int  # BSD: int msg_iovlen; socklen_t msg_controllen
        _ctl_len_t = ctypes.c_uint32

    class _Msghdr(ctypes.Structure):
        _fields_ = (
            ("msg_name", ctypes.c_void_p),
            ("msg_namelen", ctypes.c_uint32),
            ("msg_iov", ctypes.POINTER(_Iovec)),
            ("msg_iovlen", _len_t),
            ("msg_control", ctypes.c_void_p),
            ("msg_controllen", _ctl_len_t),
            ("msg_flags", ctypes.c_int),
        )

    class _Mmsghdr(ctypes.Structure):
        _fields_ = (("msg_hdr", _Msghdr), ("msg_len", ctypes.c_uint))

    # struct cmsghdr: Linux {size_t len; int level; int type}, BSD {socklen_t len; int level; int type}
    _CMSG = struct.Struct("=Qii" if _LINUX and ctypes.sizeof(ctypes.c_size_t) == 8 else "=Iii")
    _ALIGN = ctypes.sizeof(ctypes.c_long)


def _align(n: int) -> int:
    return (n + _ALIGN - 1) & ~(_ALIGN - 1)


_NAMELEN = 128  # sizeof(struct sockaddr_storage)


def _fields_struct() -> struct.Struct:
    """One ``struct`` over a whole ``struct mmsghdr`` picking (namelen, controllen, msg_len)."""
    picks = sorted([
        (_Msghdr.msg_namelen.offset, "I"),
        (_Msghdr.msg_controllen.offset, "Q" if ctypes.sizeof(_ctl_len_t) == 8 else "I"),
        (_Mmsghdr.msg_len.offset, "I"),
    ])
    fmt, pos = "=", 0
    for offset, code in picks:
        fmt += "x" * (offset - pos) + code
        pos = offset + struct.calcsize("=" + code)
    fmt += "x" * (ctypes.sizeof(_Mmsghdr) - pos)
    return struct.Struct(fmt)


if HAVE_RECVMMSG:
    _FIELDS = _fields_struct()
    # cmsghdr + one struct scm_timestamping, read in one go
    _FAST_CMSG = struct.Struct(_CMSG.format + "x" * (_align(_CMSG.size) - _CMSG.size) + SCM_TIMESTAMPING_LAYOUT)
    # the first 28 bytes of a sockaddr slot (sockaddr_in6; sockaddr_in is 16): the address cache key
    _NAME_SLOT = struct.Struct("28s" + "x" * (_NAMELEN - 28))


def _column(buf: bytearray, offset: int, code: Literal["I", "Q", "q"], stride: int) -> memoryview:
    """A view of one field of every slot of ``buf`` (slots ``stride`` bytes apart): the field at
    ``offset`` in each, read as ``code``.  No copy: ``tolist()``/``tobytes()`` read it in C."""
    size = struct.calcsize(code)
    return memoryview(buf).cast(code)[offset // size::stride // size]


class _Columns:
    """The fields :func:`uniform_slots` reads of every slot, as strided views: each slot's
    ``msg_controllen`` and ``msg_len``, and the nanoseconds of its first control message's
    ``ts[0]``.  A batch is then read with a few C calls and no object per slot but its
    nanoseconds and payload length."""

    def __init__(self, batch: _Batch, controllen_code: Literal["I", "Q"]) -> None:
        self.controllen = _column(batch.msgbuf, _Mmsghdr.msg_hdr.offset + _Msghdr.msg_controllen.offset,
                                  controllen_code, batch.msgsize)
        self.msg_len = _column(batch.msgbuf, _Mmsghdr.msg_len.offset, "I", batch.msgsize)
        self.nanoseconds = _column(batch.controls, _STAMP_SECONDS_END, "q", ANCBUFSIZE)
        self.zeros = memoryview(bytes(8 * batch.count)).cast("q")
        self.width = struct.calcsize(controllen_code)
        #: what the last batch read in bulk had: its msg_controllen column and the value in it,
        #: its slots' control bytes with ts[0]'s nanoseconds zeroed, and what
        #: :func:`_lone_software_stamp` made of them
        self.controllens = (b"", 0)
        self.expected = b""
        self.lone: tuple[int, int, bytes] | None = None

    @classmethod
    def of(cls, batch: _Batch) -> _Columns | None:
        """None where a field is not aligned to its size (no strided view of it): then
        :func:`uniform_slots` unpacks the slots with ``struct``."""
        code: Literal["I", "Q"] = "Q" if ctypes.sizeof(_ctl_len_t) == 8 else "I"
        offsets = ((_Mmsghdr.msg_hdr.offset + _Msghdr.msg_controllen.offset, struct.calcsize(code)),
                   (_Mmsghdr.msg_len.offset, 4), (_STAMP_SECONDS_END, 8))
        if any(offset % size for offset, size in offsets) or batch.msgsize % 8 or ANCBUFSIZE % 8:
            return None
        return cls(batch, code)


class _Batch:
    """Buffers for up to ``count`` datagrams of ``bufsize`` bytes, reused across calls.

    The ``mmsghdr`` array lives in a bytearray: resetting it is one copy of a
    template and reading the results one ``struct.iter_unpack`` (ctypes field
    access per message would cost more than the system call).
    """

    def __init__(self, count: int, bufsize: int) -> None:
        self.count, self.bufsize = count, bufsize
        # Anonymous memory: a page is only made when the kernel writes a datagram into it (a
        # bytearray would be zeroed whole: count x 64 KiB resident for a capture's slots).
        self.data = mmap.mmap(-1, count * bufsize)
        self.view = memoryview(self.data)
        self.names = bytearray(count * _NAMELEN)
        self.controls = bytearray(count * ANCBUFSIZE)
        self.iovecs = (_Iovec * count)()
        self.msgsize = ctypes.sizeof(_Mmsghdr)
        self.msgbuf = bytearray(count * self.msgsize)
        self.msgs = (_Mmsghdr * count).from_buffer(self.msgbuf)
        self._keep = [(ctypes.c_char * len(b)).from_buffer(b) for b in (self.data, self.names, self.controls)]
        data_addr, name_addr, ctl_addr = (ctypes.addressof(c) for c in self._keep)
        for i in range(count):
            self.iovecs[i].iov_base = data_addr + i * bufsize
            self.iovecs[i].iov_len = bufsize
            hdr = self.msgs[i].msg_hdr
            hdr.msg_name = name_addr + i * _NAMELEN
            hdr.msg_namelen = _NAMELEN
            hdr.msg_iov = ctypes.pointer(self.iovecs[i])
            hdr.msg_iovlen = 1
            hdr.msg_control = ctl_addr + i * ANCBUFSIZE
            hdr.msg_controllen = ANCBUFSIZE
        self.template = memoryview(bytes(self.msgbuf))
        self.zeros = memoryview(bytes(count * max(_NAMELEN, ANCBUFSIZE)))
        #: the name or control buffers may hold an earlier datagram's bytes where this one's
        #: has none (see reset)
        self.stale_names = self.stale_controls = False
        self.slots = [self.view[i * bufsize:(i + 1) * bufsize] for i in range(count)]
        # cmsghdr + one struct scm_timestamping at the start of each control slot
        self.control_slot = struct.Struct(_FAST_CMSG.format + "x" * (ANCBUFSIZE - _FAST_CMSG.size))
        self.fast_space = _align(_align(_CMSG.size) + SCM_TIMESTAMPING_SIZE)
        # the same, and the TAIL_WINDOW bytes after a lone stamp (see slot_rows_with_tail)
        self.tail_slot = struct.Struct(_FAST_CMSG.format + "x" * (self.fast_space - _FAST_CMSG.size)
                                       + f"{TAIL_WINDOW}s" + "x" * (ANCBUFSIZE - self.fast_space - TAIL_WINDOW))
        table = C.current()
        self.fast_type = table.SCM_TIMESTAMPING if table is not None and table.SCM_TIMESTAMPING else -1
        self.ovfl_type = table.SCM_RXQ_OVFL if table is not None and table.SCM_RXQ_OVFL else -1
        # (cmsg_len, level, type) of a first control message that is one 64-bit SCM_TIMESTAMPING
        self.lone_stamp = (_align(_CMSG.size) + SCM_TIMESTAMPING_SIZE, socket.SOL_SOCKET, self.fast_type)
        self.addresses: dict[bytes, Any] = {}
        self.flags_offset = _Mmsghdr.msg_hdr.offset + _Msghdr.msg_flags.offset
        self.msgs_address = ctypes.addressof(self.msgs)  # passed as is: converting the array costs more
        self._layouts: dict[tuple[str, int, int], struct.Struct] = {}
        self.views: dict[int, list[memoryview]] = {}  # payload length -> a view of each slot's payload
        #: (the address slots of the last batch one sender sent, its address): what one_sender
        #: compares the next batch's with
        self.one_name: tuple[bytes, Any] = (b"", None)
        self.columns = _Columns.of(self)

    def layout(self, part: str, got: int, size: int) -> struct.Struct:
        """One ``struct`` over the first ``got`` slots of one buffer, read with one call by
        :func:`uniform_slots`: ``"msg"`` the message headers (namelen, controllen, msg_len each);
        for control buffers of ``size`` bytes that start with a lone stamp, ``"control"`` three
        items each (the cmsghdr and ts[0]'s seconds as bytes, ts[0]'s nanoseconds, the rest as
        bytes: ts[1], ts[2] and the messages after the stamp) and ``"control_each"`` eight
        (cmsg_len, level, type, ts[0] s and ns, ts[2] s and ns, the ``size - fast_space``
        bytes after the stamp); ``"data"`` payloads all ``size`` bytes long.  Made once per shape."""
        key = (part, got, size)
        found = self._layouts.get(key)
        if found is None:
            if part == "msg":
                one, stride = _FIELDS.format.lstrip("="), ""
            elif part == "control":
                one = f"{_STAMP_SECONDS_END}sq{size - _STAMP_SECONDS_END - 8}s"
                stride = f"{ANCBUFSIZE - size}x"
            elif part == "control_each":
                one = (_FAST_CMSG.format.lstrip("=") + "x" * (self.fast_space - _FAST_CMSG.size)
                       + f"{size - self.fast_space}s")
                stride = f"{ANCBUFSIZE - size}x"
            else:
                one, stride = f"{size}s", f"{self.bufsize - size}x"
            if len(self._layouts) >= _MAX_LAYOUTS:
                self._layouts.clear()
            # no padding after the last slot: the struct never reaches past the slots read
            found = self._layouts[key] = struct.Struct("=" + (one + stride) * (got - 1) + one)
        return found

    def truncated(self, i: int) -> bool:
        """Whether slot ``i``'s datagram was longer than the slot (MSG_TRUNC in its msg_flags);
        only a slot filled to the last byte can be."""
        return bool(INT32.unpack_from(self.msgbuf, i * self.msgsize + self.flags_offset)[0] & socket.MSG_TRUNC)

    def reset(self, n: int) -> None:
        """Make the first ``n`` slots ready for ``recvmmsg()``: their message headers as made,
        and, after a batch that found them stale, their address and control bytes zero.  The
        kernel writes an address's own length and no control message's padding, so bytes of
        an earlier, longer address or of other control messages stay behind: slots that the
        same sender filled with the same messages would compare unequal, and :func:`uniform_slots`
        and :func:`one_sender` would send every batch slot by slot (slower, not wrong)."""
        size = n * self.msgsize
        self.msgbuf[:size] = self.template[:size]
        if self.stale_names:
            self.names[:n * _NAMELEN] = self.zeros[:n * _NAMELEN]
            self.stale_names = False
        if self.stale_controls:
            self.controls[:n * ANCBUFSIZE] = self.zeros[:n * ANCBUFSIZE]
            self.stale_controls = False

    def address(self, i: int, namelen: int) -> Any:
        """Decode slot ``i``'s sockaddr (the caller caches it by its first 28 bytes)."""
        if len(self.addresses) > 4096:
            self.addresses.clear()
        return _decode_sockaddr(bytes(self.names[i * _NAMELEN:i * _NAMELEN + namelen]))

    def ancdata(self, i: int, controllen: int) -> list[tuple[int, int, bytes]]:
        """Slot ``i``'s control messages as ``recvmsg()`` gives them (level, type, data)."""
        return [(level, kind, bytes(self.controls[start:end])) for level, kind, start, end in self.cmsgs(i, controllen)]

    def cmsgs(self, i: int, controllen: int) -> list[tuple[int, int, int, int]]:
        """Slot ``i``'s control messages as (level, type, data start, data end) offsets into ``controls``."""
        base = i * ANCBUFSIZE
        end = base + controllen
        out = []
        hdr_size = _CMSG.size
        data_off = _align(hdr_size)
        pos = base
        while pos + hdr_size <= end:
            length, level, kind = _CMSG.unpack_from(self.controls, pos)
            if length < hdr_size:
                break
            out.append((level, kind, pos + data_off, pos + length))
            pos += _align(length)
        return out

    def nothing_timed_after_stamp(self, i: int, controllen: int, drops: DropCounter | None) -> bool:
        """Slot ``i`` starts with one SCM_TIMESTAMPING (Linux puts it first): True when what follows
        it carries no other stamp (IP_PKTINFO, IP_TOS, ...); an SO_RXQ_OVFL there goes to ``drops``."""
        pos = i * ANCBUFSIZE + self.fast_space
        end = i * ANCBUFSIZE + controllen
        controls = self.controls
        hdr_size = _CMSG.size
        while pos + hdr_size <= end:
            length, level, kind = _CMSG.unpack_from(controls, pos)
            if length < hdr_size:
                break
            if level == socket.SOL_SOCKET:
                if kind != self.ovfl_type:
                    return False
                if drops is not None:
                    drops.saw(_U32.unpack_from(controls, pos + _align(hdr_size))[0])
            pos += _align(length)
        return True

    def slot_stamps(self, i: int, controllen: int, drops: DropCounter | None) -> tuple[int | None, int | None]:
        """(software, hardware) ns of slot ``i`` when its stamp is not alone in its control buffer
        (IP_PKTINFO, SO_RXQ_OVFL after a drop, FreeBSD's messages): SCM_TIMESTAMPING and the
        drop counter are read in place; any other time message goes through ``parse_control``."""
        sw = hw = None
        controls = self.controls
        others = False
        for level, kind, start, end in self.cmsgs(i, controllen):
            if level != socket.SOL_SOCKET:
                continue  # IP_PKTINFO, IP_TOS, ...: not about time
            if kind == self.fast_type and end - start == SCM_TIMESTAMPING_SIZE:
                sw, hw = scm_timestamping(controls, start)
            elif kind == self.ovfl_type and end - start >= 4:
                if drops is not None:
                    drops.saw(_U32.unpack_from(controls, start)[0])
            else:
                others = True
        if others:
            packet = packet_from(b"", self.ancdata(i, controllen), None)
            return packet.software_ns, packet.hardware_ns
        return sw, hw


_U32 = struct.Struct("=I")
if HAVE_RECVMMSG:
    # A lone SCM_TIMESTAMPING (control.SCM_TIMESTAMPING_LAYOUT behind its cmsghdr), cut where
    # uniform_slots' "control" layout cuts it: the cmsghdr and ts[0].tv_sec; ts[0].tv_nsec;
    # then ts[1], ts[2] and what follows the stamp, where ts[2] starts 16 bytes in.
    _STAMP_HEAD = struct.Struct(_CMSG.format + "x" * (_align(_CMSG.size) - _CMSG.size) + "q")
    _STAMP_SECONDS_END = _STAMP_HEAD.size
    _HW_STAMP = struct.Struct("=16xqq")
    _TAIL_IN_REST = _align(_align(_CMSG.size) + SCM_TIMESTAMPING_SIZE) - _STAMP_SECONDS_END - 8  # at fast_space
    assert _FAST_CMSG.size == _STAMP_SECONDS_END + 8 + _HW_STAMP.size, "SCM_TIMESTAMPING_LAYOUT changed"
_MAX_LAYOUTS = 64  # batch-wide structs kept per buffer set (batch sizes, control and payload lengths)
#: Seconds that packed_stamps' 64-bit lanes hold with a nanosecond count added (year 2554); a
#: stamp outside 1970-2554 goes the eight-item way, to plain integers
_LANE_SECONDS = (2**64 - NS_PER_S) // NS_PER_S
INT32 = struct.Struct("=i")  #: one C int (a control message value, msg_flags)


def _decode_sockaddr(raw: bytes) -> Any:
    if _LINUX:
        (family,) = struct.unpack_from("=H", raw)
    else:
        family = raw[1]  # BSD: u8 sa_len, u8 sa_family
    if family == socket.AF_INET:
        port = struct.unpack_from("!H", raw, 2)[0]
        return (socket.inet_ntop(socket.AF_INET, raw[4:8]), port)
    if family == socket.AF_INET6:
        port, flowinfo = struct.unpack_from("!HI", raw, 2)
        (scope_id,) = struct.unpack_from("=I", raw, 24)
        return (socket.inet_ntop(socket.AF_INET6, raw[8:24]), port, flowinfo, scope_id)
    return raw


_local = threading.local()  # buffers per thread: recvmmsg runs without the GIL


def _get_batch(count: int, bufsize: int) -> _Batch:
    batches: dict[tuple[int, int], _Batch] = _local.__dict__.setdefault("batches", {})
    key = (count, bufsize)
    batch = batches.get(key)
    if batch is None:
        if len(batches) > 8:
            batches.clear()
        batch = batches[key] = _Batch(count, bufsize)
    return batch


def _wait_readable(sock: socket.socket, deadline: float | None) -> None:
    """Block until ``sock`` is readable, per its timeout; raises ``socket.timeout``."""
    poller = select.poll()
    poller.register(sock.fileno(), select.POLLIN)
    while True:
        if deadline is None:
            wait_ms = None
        else:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise socket.timeout("timed out")
            wait_ms = max(1, int(remaining * 1000))
        if poller.poll(wait_ms):
            return


def _recvmmsg_once(sock: socket.socket, batch: _Batch, n: int) -> int:
    batch.reset(n)
    while True:
        got: int = _recvmmsg(sock.fileno(), batch.msgs_address, n, socket.MSG_DONTWAIT, None)
        if got >= 0:
            return got
        err = ctypes.get_errno()
        if err == errno.EINTR:
            continue
        if err in (errno.EAGAIN, errno.EWOULDBLOCK):
            return 0
        raise OSError(err, f"recvmmsg: {errno.errorcode.get(err, err)}")


def recv_batch(sock: socket.socket, max_packets: int = 64, bufsize: int = 65535,
               drops: DropCounter | None = None) -> list[Packet]:
    """Receive up to ``max_packets`` datagrams: wait for the first like :func:`recv`
    (per the socket's timeout), then return whatever is queued, with one
    ``recvmmsg()`` system call per batch when the queue is not empty.

    >>> for pkt in recv_batch(sock, 64):  # doctest: +SKIP
    ...     print(pkt.address, pkt.software_ns, len(pkt.data))

    ``drops``, if given, learns the socket's drop counter from the SO_RXQ_OVFL
    messages (see :func:`enable_drop_count`).  A datagram longer than ``bufsize``
    comes cut, with ``truncated`` set.  A socket that is not an IPv4/IPv6 datagram
    socket raises :class:`~sotimestamp.core.UnsupportedSocketError` before anything is read.
    """
    check_socket(sock, "recv_batch", datagrams=True)
    if max_packets < 1:
        raise ValueError("max_packets must be at least 1")
    if not HAVE_RECVMMSG:
        return _recv_batch_fallback(sock, max_packets, bufsize, drops)
    batch, got = receive_slots(sock, max_packets, bufsize)
    return _packets(batch, got, drops)


def receive_slots(sock: socket.socket, max_packets: int, bufsize: int) -> tuple[_Batch, int]:
    """The ``recvmmsg()`` step of :func:`recv_batch` (which see for the waiting): this thread's
    buffers and how many slots were filled, for a caller that reads them with :func:`slot_rows`
    (capture turns them into pcapng blocks without making :class:`Packet` objects)."""
    batch = _get_batch(max_packets, bufsize)
    got = _recvmmsg_once(sock, batch, max_packets)
    if got == 0:
        timeout = sock.gettimeout()
        if timeout == 0.0:
            raise BlockingIOError(errno.EAGAIN, "no datagram queued")
        deadline = None if timeout is None else time.monotonic() + timeout
        while got == 0:
            _wait_readable(sock, deadline)
            got = _recvmmsg_once(sock, batch, max_packets)
    return batch, got


#: (message header fields, source address, first control message, payload slot) of one slot
SlotRow = tuple[tuple[int, int, int], Any, tuple[int, int, int, int, int, int, int], memoryview]


def slot_rows(batch: _Batch, got: int) -> Iterator[SlotRow]:
    """Per filled slot: ((namelen, controllen, msg_len), address, (cmsg_len, level, type,
    ts[0] s, ts[0] ns, ts[2] s, ts[2] ns) of the first control message read as an
    SCM_TIMESTAMPING, the whole payload slot).  The slot is a lone stamp when
    ``controllen == batch.fast_space`` and ``(cmsg_len, level, type) == batch.lone_stamp``."""
    headers = _FIELDS.iter_unpack(memoryview(batch.msgbuf)[:got * batch.msgsize])
    controls = batch.control_slot.iter_unpack(memoryview(batch.controls)[:got * ANCBUFSIZE])
    return zip(headers, _addresses(batch, got), controls, batch.slots)


#: Bytes of a control buffer after a lone SCM_TIMESTAMPING that :func:`slot_rows_with_tail`
#: returns: room for SO_RXQ_OVFL and a datagram's header fields (IPV6_PKTINFO, hop limit,
#: traffic class; on a dual-stack socket IPV6_PKTINFO, IP_TTL, IP_TOS) with 16 bytes to spare.
TAIL_WINDOW = 128

#: (message header fields, source address, first control message and the tail window, payload slot)
TailRow = tuple[tuple[int, int, int], Any, tuple[int, int, int, int, int, int, int, bytes], memoryview]


def slot_rows_with_tail(batch: _Batch, got: int) -> Iterator[TailRow]:
    """:func:`slot_rows`, with the :data:`TAIL_WINDOW` bytes that follow a lone stamp added to
    the control message fields, read by the same ``struct`` call: what the kernel put
    there up to ``controllen``, and what an earlier datagram left in the slot after it.
    The capture's recorder keys the header fields it decoded on (controllen, window)."""
    headers = _FIELDS.iter_unpack(memoryview(batch.msgbuf)[:got * batch.msgsize])
    controls = batch.tail_slot.iter_unpack(memoryview(batch.controls)[:got * ANCBUFSIZE])
    return zip(headers, _addresses(batch, got), controls, batch.slots)


def one_sender(batch: _Batch, got: int) -> Any:
    """The source address of the first ``got`` slots when one sender sent them all, else None
    (one comparison of the whole name buffer)."""
    if len(batch.one_name[0]) == got * _NAMELEN and batch.names.startswith(batch.one_name[0]):
        return batch.one_name[1]  # the batch before's one sender: one comparison
    first = bytes(batch.names[:_NAMELEN])
    names = first * got
    if not batch.names.startswith(names):
        batch.stale_names = True
        return None
    address = batch.addresses.get(first[:28])
    if address is None:
        address = batch.addresses[first[:28]] = batch.address(0, _FIELDS.unpack_from(batch.msgbuf)[0])
    batch.one_name = (names, address)
    return address


def _addresses(batch: _Batch, got: int) -> Iterator[Any]:
    """The source address of each slot; one comparison when one sender sent them all."""
    address = one_sender(batch, got)
    if address is not None:
        return itertools.repeat(address, got)
    names = memoryview(batch.names)[:got * _NAMELEN].tobytes()
    cache = batch.addresses
    namelens = _FIELDS.iter_unpack(memoryview(batch.msgbuf)[:got * batch.msgsize])
    return (
        cache.get(raw) or cache.setdefault(raw, batch.address(i, namelen))
        for i, ((raw,), (namelen, _c, _l)) in enumerate(zip(_NAME_SLOT.iter_unpack(names), namelens))
    )


class UniformSlots(NamedTuple):
    """What :func:`uniform_slots` read of a batch whose control buffers all have one shape."""

    controllen: int  #: every slot's
    tail: bytes  #: the control bytes after the stamp: the same in every slot
    lengths: Sequence[int]  #: each slot's payload length
    source: StampSource  #: which stamp every slot is recorded with (hardware wins)
    #: the usual batch: the software stamps' one second and each slot's nanoseconds as a native
    #: 64-bit number (then ``software`` and ``hardware`` are None); else -1 and b""
    second: int
    nanoseconds: bytes
    software: Sequence[int | None] | None  #: each slot's software stamp (ns), when not ``second``'s
    hardware: Sequence[int] | None  #: each slot's raw hardware stamp (ns); None: no slot has one


def software_stamps(same: UniformSlots) -> Sequence[int | None]:
    """Each slot's software stamp (ns)."""
    if same.software is not None:
        return same.software
    return memoryview(_stamp_lanes(same)).cast("Q").tolist()


def _stamp_lanes(same: UniformSlots) -> bytes:
    """The usual batch's stamps (ns), native 64-bit numbers side by side: the nanoseconds read as
    one integer and the second added to every lane at once (no lane carries: each sum stays
    below 2**64), which costs less than an addition of Python integers per slot."""
    count = len(same.lengths)
    lanes = int.from_bytes(same.nanoseconds, sys.byteorder) + _second_lanes(same.second, count)
    return lanes.to_bytes(8 * count, sys.byteorder)


def packed_stamps(same: UniformSlots) -> bytes:
    """Each slot's recorded stamp (ns) as a little-endian 64-bit number, for the pcapng writer."""
    count = len(same.lengths)
    if same.hardware is None and same.software is None:
        if sys.byteorder == "little":
            return _stamp_lanes(same)
        return _little_lanes(count).pack(*memoryview(_stamp_lanes(same)).cast("Q"))
    return _little_lanes(count).pack(*(same.hardware if same.hardware is not None else same.software or ()))


@functools.lru_cache(maxsize=128)
def _little_lanes(count: int) -> struct.Struct:
    """``count`` little-endian unsigned 64-bit numbers side by side, as the pcapng writer takes stamps."""
    return struct.Struct(f"<{count}Q")


@functools.lru_cache(maxsize=128)
def _native_lanes(count: int) -> struct.Struct:
    """``count`` native 64-bit numbers side by side, as :attr:`UniformSlots.nanoseconds` holds them."""
    return struct.Struct(f"={count}q")


@functools.lru_cache(maxsize=4)
def _second_lanes(second: int, count: int) -> int:
    """``second`` in ns in each of ``count`` native 64-bit lanes of one integer."""
    return int.from_bytes((second * NS_PER_S).to_bytes(8, sys.byteorder) * count, sys.byteorder)


def _ns(seconds: tuple[int, ...], nanoseconds: tuple[int, ...], got: int) -> list[int]:
    """``got`` timespecs to ns, in C loops; one multiplication when they share their second (most batches)."""
    if seconds.count(seconds[0]) == got:
        return list(map(add, repeat(seconds[0] * NS_PER_S), nanoseconds))
    return list(map(add, map(mul, seconds, repeat(NS_PER_S)), nanoseconds))


def uniform_slots(batch: _Batch, got: int) -> UniformSlots | None:
    """The stamps of the first ``got`` slots read in bulk (a few C calls for the batch, no
    Python loop over it), when every slot's control buffer is one 64-bit SCM_TIMESTAMPING
    followed by the same bytes (the header fields of one flow, a drop count that did not
    move) and every slot has a software stamp, or every slot a hardware one.  None when any
    slot differs, or may be cut (filled to its last byte): the slot-by-slot path decodes those.
    Whether the bytes after the stamp hold another time message is the caller's question
    (:meth:`_Batch.nothing_timed_after_stamp` on slot 0 answers it for all)."""
    if batch.columns is not None:
        return _uniform_columns(batch, got, batch.columns)
    heads = batch.layout("msg", got, 0).unpack_from(batch.msgbuf)  # (namelen, controllen, msg_len) each
    controllens = heads[1::3]
    controllen = controllens[0]
    if controllen < batch.fast_space or controllen > ANCBUFSIZE or controllens.count(controllen) != got:
        batch.stale_controls = True  # slots with other messages: their padding bytes differ next time
        return None
    lengths = heads[2::3]
    if batch.bufsize in lengths:
        return None
    # Most batches: one flow within one second, software stamps.  Then the cmsghdr and the
    # seconds are the same bytes in every slot, and so are ts[1], ts[2] (zero) and the bytes
    # after the stamp: three items a slot, two tuple counts for the checks.
    parts = batch.layout("control", got, controllen).unpack_from(batch.controls)
    heads_seconds, rests = parts[0::3], parts[2::3]
    if heads_seconds.count(heads_seconds[0]) == got and rests.count(rests[0]) == got:
        *head, seconds = _STAMP_HEAD.unpack(heads_seconds[0])
        hw_sec, hw_nsec = _HW_STAMP.unpack_from(rests[0])
        if tuple(head) == batch.lone_stamp and not (hw_sec or hw_nsec) and 0 < seconds < _LANE_SECONDS:
            return UniformSlots(controllen, rests[0][_TAIL_IN_REST:], lengths, StampSource.SOFTWARE, seconds,
                                _native_lanes(got).pack(*parts[1::3]), None, None)
    return _uniform_each(batch, got, controllen, lengths)


def _uniform_columns(batch: _Batch, got: int, col: _Columns) -> UniformSlots | None:
    """:func:`uniform_slots` with strided views: every slot's control bytes, with ts[0]'s
    nanoseconds zeroed for the moment, are compared with slot 0's at once (one ``memcmp``).
    What the batch before had (its controllen column, its slots' bytes and what they say) is
    kept, so that a batch of the same flow within the same second needs no more."""
    controllens = col.controllen[:got].tobytes()
    if controllens != col.controllens[0]:
        first = controllens[:col.width]
        controllen = int.from_bytes(first, sys.byteorder)
        if controllen < batch.fast_space or controllen > ANCBUFSIZE or controllens != first * got:
            batch.stale_controls = True  # slots with other messages: their padding bytes differ next time
            return None
        col.controllens = (controllens, controllen)
    controllen = col.controllens[1]
    lengths = col.msg_len[:got].tolist()
    # one length: count() finds small ints by identity, where `in` compares each
    if (lengths[0] == batch.bufsize) if lengths.count(lengths[0]) == got else (batch.bufsize in lengths):
        return None
    column = col.nanoseconds[:got]
    saved = column.tobytes()
    lone: tuple[int, int, bytes] | None = None
    try:
        column[:] = col.zeros[:got]
        if len(col.expected) == got * ANCBUFSIZE and batch.controls.startswith(col.expected):
            lone = col.lone
        else:
            slot = bytes(memoryview(batch.controls)[:ANCBUFSIZE])
            # Slot 0 says whether the batch can be the usual one (a software stamp alone: a
            # hardware ts[2] differs in every slot); only then are all slots compared with it.
            lone = _lone_software_stamp(batch, slot, controllen)
            if lone is not None:
                expected = slot * got
                if batch.controls.startswith(expected):
                    col.expected, col.lone = expected, lone
                else:
                    lone = None
                    batch.stale_controls = True  # bytes past some slot's messages may differ: zero them next time
    finally:
        column[:] = memoryview(saved).cast("q")
    if lone is not None and lone[0] == controllen:
        _controllen, seconds, tail = lone
        # tuple.__new__: a NamedTuple's own __new__ is Python code
        return tuple.__new__(UniformSlots, (controllen, tail, lengths, StampSource.SOFTWARE, seconds, saved, None,
                                            None))
    return _uniform_each(batch, got, controllen, lengths)


def _lone_software_stamp(batch: _Batch, slot: bytes, controllen: int) -> tuple[int, int, bytes] | None:
    """(controllen, ts[0]'s seconds, the bytes after the stamp) of a control slot that starts with a
    lone 64-bit SCM_TIMESTAMPING holding a software stamp and no hardware one; else None."""
    *head, seconds = _STAMP_HEAD.unpack_from(slot)
    hw_sec, hw_nsec = _HW_STAMP.unpack_from(slot, _STAMP_SECONDS_END + 8)
    if tuple(head) == batch.lone_stamp and not (hw_sec or hw_nsec) and 0 < seconds < _LANE_SECONDS:
        return controllen, seconds, slot[batch.fast_space:controllen]
    return None


def _uniform_each(batch: _Batch, got: int, controllen: int, lengths: Sequence[int]) -> UniformSlots | None:
    """:func:`uniform_slots` for the other batches (hardware stamps, a second that ends within
    the batch): eight items a slot."""
    fields = batch.layout("control_each", got, controllen).unpack_from(batch.controls)
    clen, level, kind = batch.lone_stamp
    tails = fields[7::8]
    if fields[0::8].count(clen) != got or fields[1::8].count(level) != got or fields[2::8].count(kind) != got \
            or tails.count(tails[0]) != got:
        batch.stale_controls = True
        return None
    # stamp_source()'s rule, batch-wide: a hardware stamp in every slot, or in none
    software = _ns(fields[3::8], fields[4::8], got)
    hw_sec, hw_nsec = fields[5::8], fields[6::8]
    if hw_sec.count(0) == got and hw_nsec.count(0) == got:
        if 0 in software:
            return None  # a slot without any stamp: the slot-by-slot path gives it None
        return UniformSlots(controllen, tails[0], lengths, StampSource.SOFTWARE, -1, b"", software, None)
    hardware = _ns(hw_sec, hw_nsec, got)
    if 0 in hardware:
        return None
    return UniformSlots(controllen, tails[0], lengths, StampSource.HARDWARE, -1, b"",
                        [ns or None for ns in software] if 0 in software else software, hardware)


def payloads(batch: _Batch, got: int, lengths: Sequence[int]) -> Sequence[bytes]:
    """The payloads of the first ``got`` slots as ``bytes``: one ``struct`` call when they are all
    of one length."""
    first = lengths[0]
    if lengths.count(first) == got:
        return cast("tuple[bytes, ...]", batch.layout("data", got, first).unpack_from(batch.data))
    return [slot[:length].tobytes() for slot, length in zip(batch.slots, lengths)]


def payload_views(batch: _Batch, got: int, length: int) -> list[memoryview]:
    """Views of the payloads of the first ``got`` slots, all ``length`` bytes long (no copy: valid
    until the next receive into these buffers).  The views are made once per length."""
    views = batch.views.get(length)
    if views is None:
        if len(batch.views) >= _MAX_LAYOUTS:
            batch.views.clear()
        views = batch.views[length] = [slot[:length] for slot in batch.slots]
    return views[:got]


def _packets(batch: _Batch, got: int, drops: DropCounter | None = None) -> list[Packet]:
    """Packets from the first ``got`` slots.  A batch :func:`uniform_slots` reads in bulk, with
    nothing timed after the stamp, becomes packets in C loops (``map``, ``zip``): no Python
    bytecode per datagram.  Otherwise slot by slot: the per-slot headers are read by
    ``struct.iter_unpack`` (C loops), leaving one slice and one tuple per
    datagram in Python; a lone 64-bit SCM_TIMESTAMPING is decoded inline, any
    other control buffer by :meth:`_Batch.slot_stamps` (the slot's own index:
    slots with equal payloads compare equal, so they must not be looked up)."""
    same = uniform_slots(batch, got)
    if same is not None and (same.controllen == batch.fast_space
                             or batch.nothing_timed_after_stamp(0, same.controllen, drops)):
        return list(map(tuple.__new__, repeat(Packet), zip(
            payloads(batch, got, same.lengths), _addresses(batch, got), software_stamps(same),
            repeat(None) if same.hardware is None else same.hardware, repeat(same.source), repeat(False))))
    out: list[Packet] = []
    append = out.append
    space, lone_stamp, full = batch.fast_space, batch.lone_stamp, batch.bufsize
    ns = NS_PER_S
    new = tuple.__new__
    hardware, software = StampSource.HARDWARE, StampSource.SOFTWARE
    for i, ((_namelen, controllen, length), address, (clen, level, kind, s0, n0, s2, n2), slot) in \
            enumerate(slot_rows(batch, got)):
        cut = length == full and batch.truncated(i)
        if (clen, level, kind) == lone_stamp and (
                controllen == space or batch.nothing_timed_after_stamp(i, controllen, drops)):
            # stamp_source()'s rule, inline: ts[2] (raw hardware) wins over ts[0] (software)
            if s2 or n2:
                append(new(Packet, (slot[:length].tobytes(), address, s0 * ns + n0 or None, s2 * ns + n2, hardware,
                                    cut)))
            elif s0 or n0:
                append(new(Packet, (slot[:length].tobytes(), address, s0 * ns + n0, None, software, cut)))
            else:
                append(new(Packet, (slot[:length].tobytes(), address, None, None, None, cut)))
        else:
            sw, hw = batch.slot_stamps(i, controllen, drops) if controllen else (None, None)
            append(new(Packet, (slot[:length].tobytes(), address, sw, hw, stamp_source(hw, sw), cut)))
    return out


def _recv_batch_fallback(sock: socket.socket, max_packets: int, bufsize: int,
                         drops: DropCounter | None) -> list[Packet]:
    """One ``recvmsg()`` per datagram: the first per the socket's timeout, the rest non-blocking."""
    data, ancdata, msg_flags, address = sock.recvmsg(bufsize, ANCBUFSIZE)
    out = [packet_from(data, ancdata, address, drops, msg_flags)]
    saved = sock.gettimeout()
    sock.settimeout(0.0)
    try:
        while len(out) < max_packets:
            try:
                data, ancdata, msg_flags, address = sock.recvmsg(bufsize, ANCBUFSIZE)
            except (BlockingIOError, InterruptedError):
                break
            out.append(packet_from(data, ancdata, address, drops, msg_flags))
    finally:
        sock.settimeout(saved)
    return out


__all__ = ["HAVE_RECVMMSG", "recv_batch"]
