"""The ``sotimestamp`` command: probe, capture, stats, replay."""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import signal
import socket
import sys
from typing import Any

DESCRIPTION = """\
Record UDP datagrams with their kernel receive stamps (SO_TIMESTAMPING,
SO_TIMESTAMPNS or SO_TIMESTAMP, whichever the kernel has), analyse the
recording, and replay it at the recorded pace.

  sotimestamp probe                     what this kernel and its NICs support
  sotimestamp capture 127.0.0.1:5000 --count 1000 -o rec.pcapng
  sotimestamp stats rec.pcapng          count, rate, inter-arrival percentiles, gaps
  sotimestamp replay rec.pcapng --to 127.0.0.1:6000

Recordings are pcapng files at nanosecond resolution (if_tsresol 9); each
datagram is stored as its IPv4/IPv6 + UDP packet so Wireshark and tshark
dissect it, with the stamp source in the packet comment
("sotimestamp: ts=software" or "hardware").  Errors are one line on stderr
and a non-zero exit status (1 for failures, 2 for bad usage).
"""


# What `capture` says once it is ready (see _cmd_capture); scripts that drive
# it (our demo, benchmarks) wait for this line and read the port from it.
CAPTURING = re.compile(r"^sotimestamp: capturing on \S+:(?P<port>\d+) to ")


class _Version(argparse.Action):
    """``--version``, as argparse's own action, with the version looked up only when asked."""

    def __init__(self, option_strings: list[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        from . import __version__

        print(f"{parser.prog} {__version__}")  # on standard output, as argparse's
        parser.exit()


class CliError(Exception):
    """A one-line error for the user."""


class UsageError(CliError):
    """Options that do not go together: exit status 2, as argparse's own usage errors."""


def _multicast_group(text: str) -> str:
    """``--group``: an IPv4 or IPv6 multicast address (a scope such as ``%lo`` allowed)."""
    import ipaddress

    try:
        parsed = ipaddress.ip_address(text.partition("%")[0])
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an IPv4 or IPv6 address") from None
    if not parsed.is_multicast:
        raise argparse.ArgumentTypeError(f"{text!r} is not a multicast address (IPv4 224.0.0.0/4, IPv6 ff00::/8)")
    return text


def _whole_number(text: str, least: int) -> int:
    """A whole number of at least ``least`` (0 or 1), or a usage error naming the text."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < least:
        raise argparse.ArgumentTypeError(f"{text!r} must be " + ("0 or more" if least == 0 else f"at least {least}"))
    return value


def _positive_int(text: str) -> int:
    return _whole_number(text, 1)


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} must be a finite number above 0")
    return value


def _snaplen(text: str) -> int:
    """-s: 0 (all) or at least the 48 bytes of IPv6 and UDP headers."""
    value = _count(text)
    if value != 0 and not 48 <= value <= 0x7FFFFFFF:
        raise argparse.ArgumentTypeError(f"{text!r}: a snap length is 0 (all) or at least 48 "
                                         f"(an IPv6 and a UDP header)")
    return value


def _source(text: str) -> tuple[str | None, str]:
    """--source: ``SRC`` or ``MCAST=SRC``, both addresses."""
    import ipaddress

    group, _eq, source = text.rpartition("=")
    try:
        if ipaddress.ip_address(source).is_multicast:
            raise argparse.ArgumentTypeError(f"{text!r}: the source {source} is a multicast address; "
                                             f"write MCAST=SRC (--source 232.1.1.1=10.0.0.1)")
        if group:
            _multicast_group(group)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not SRC or MCAST=SRC (IPv4 or IPv6 addresses)") from None
    return (group or None), source


def _count(text: str) -> int:
    return _whole_number(text, 0)


def _ttl(text: str) -> int:
    value = _count(text)
    if not 1 <= value <= 255:
        raise argparse.ArgumentTypeError(f"{text!r} is not a TTL from 1 to 255")
    return value


def _time_bound(text: str) -> tuple[int, bool]:
    """``--from``/``--to``: (ns, relative): seconds since the first packet, or an ISO 8601 time."""
    import datetime

    try:
        return round(float(text) * 1e9), True
    except ValueError:
        pass
    try:
        moment = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is neither seconds since the first packet nor an ISO 8601 "
                                         f"time such as 2026-12-05T19:00:00Z") from None
    if moment.tzinfo is None:
        moment = moment.astimezone()  # local time, as date(1) reads one
    return round(moment.timestamp()) * 10**9 + moment.microsecond * 1000, False


def _mapping(text: str):  # type: ignore[no-untyped-def]
    """``--map REC=NEW``: two endpoints."""
    recorded, sep, new = text.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(f"{text!r} is not REC=NEW (e.g. 239.1.1.1:5000=10.0.0.5:6000)")
    return _endpoint(recorded), _endpoint(new)


def _endpoint(text: str):  # type: ignore[no-untyped-def]
    from .endpoint import parse_endpoint

    try:
        return parse_endpoint(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sotimestamp", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--version", action=_Version, help="show the version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    p = sub.add_parser("probe", help="what this kernel supports (options, control messages, NIC capabilities)",
                       description="Try each stamping option on a loopback socket pair and report which the "
                                   "kernel accepts, which control messages arrive, whether TX stamps come back "
                                   "with OPT_ID keys, and (Linux) each interface's hardware stamping capabilities.")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")

    p = sub.add_parser("capture", help="record datagrams with kernel stamps into pcapng",
                       description="Bind each ADDR:PORT, turn kernel stamping on, and write every datagram with "
                                   "its stamp to FILE.pcapng until --count, --duration, SIGINT, SIGTERM or SIGHUP. "
                                   "Several endpoints (feeds) go to one file: one interface block per socket and "
                                   "receiving interface, datagrams in the order of their stamps. "
                                   "Each datagram is in the file within a second of its arrival. A stop still "
                                   "writes every datagram already queued; the file is complete (exit status 0 "
                                   "after --count or --duration, 128 + the signal's number after a signal). "
                                   "A group is shared with the application that consumes it (SO_REUSEADDR, "
                                   "SO_REUSEPORT); a unicast port must be free: the kernel gives each unicast "
                                   "datagram to one socket only.")
    p.add_argument("bind", metavar="ADDR:PORT", type=_endpoint, nargs="+",
                   help="address to bind, e.g. 127.0.0.1:5000, [::1]:5000, 239.1.2.3:5000, [ff12::1%%eth0]:6000; "
                        "repeat for several feeds in one file "
                        "(port 0: the kernel chooses one, printed on the 'capturing on' line unless --quiet)")
    p.add_argument("--group", metavar="MCAST", type=_multicast_group,
                   help="multicast group to join (IPv4 or IPv6); binding a group address joins it too")
    p.add_argument("--iface", metavar="IF",
                   help="interface to join the group on (name, index, or IPv4 address); needs a group")
    p.add_argument("--source", metavar="[MCAST=]SRC", type=_source, action="append", default=[],
                   help="source-specific multicast: join MCAST (every group of SRC's IP version without it) for "
                        "datagrams from SRC only (MCAST_JOIN_SOURCE_GROUP); repeat for more sources or groups")
    p.add_argument("--count", type=_positive_int, metavar="N", help="stop after N datagrams")
    p.add_argument("--duration", type=_positive_float, metavar="S", help="stop after S seconds")
    p.add_argument("--hardware", action="store_true",
                   help="also ask for hardware stamps, and set the receiving interface to stamp every "
                        "packet (SIOCSHWTSTAMP rx_filter ALL, as tcpdump -j adapter_unsynced; needs root or "
                        "CAP_NET_ADMIN) and say what it got; an error on an interface that has none")
    p.add_argument("--buffer-size", type=_positive_int, metavar="BYTES",
                   help="socket receive buffer (SO_RCVBUF; as root on Linux SO_RCVBUFFORCE, past rmem_max); "
                        "a warning says what the kernel gave if it is less (default: 8 MiB or what the kernel allows)")
    p.add_argument("-o", "--output", required=True, metavar="FILE.pcapng",
                   help="pcapng file to write; - writes to standard output (as tcpdump -w -)")
    p.add_argument("-s", "--snaplen", type=_snaplen, default=0, metavar="N",
                   help="keep the first N bytes of each packet, IP and UDP headers included (at least 48; "
                        "0, the default: all); stored in the interface block, as tcpdump -s")
    p.add_argument("-C", "--file-size", type=_positive_float, metavar="MB",
                   help="start a new file once this one holds MB millions of bytes (as tcpdump -C); files are "
                        "named FILE_NNNNN_YYYYMMDDHHMMSS.pcapng, as dumpcap's ring buffer")
    p.add_argument("-G", "--rotate-seconds", type=_positive_float, metavar="S",
                   help="start a new file every S seconds (as tcpdump -G); named as with -C")
    p.add_argument("-W", "--file-count", type=_positive_int, metavar="N",
                   help="with -C or -G: keep the last N files, removing the oldest (a ring buffer, as dumpcap "
                        "-b files:N)")
    p.add_argument("-U", "--packet-buffered", action="store_true",
                   help="write each batch of datagrams as it is received (as tcpdump -U), not every "
                        "0.5 s or 256 KiB")
    p.add_argument("--json", action="store_true",
                   help="print the summary as JSON (on stdout, or on stderr with -o -)")
    p.add_argument("--quiet", action="store_true",
                   help="no 'capturing on ADDR:PORT' line, progress bar or summary on stderr")

    p = sub.add_parser("replay", help="send a recording's payloads at the recorded pace, or at a rate",
                       description="Send each UDP payload of FILE (pcapng, or classic pcap as tcpdump writes; "
                                   "gzip- or zstd-compressed too) to --to, or to its --map entry, at its recorded offset "
                                   "from the first one times --multiplier, or at --pps, --mbps or --topspeed as "
                                   "tcpreplay does. Send times follow one absolute schedule, so lateness never "
                                   "accumulates. The file is streamed (read once to check it, then once per "
                                   "loop), so memory does not grow with its size. IP fragments are reassembled; "
                                   "a file whose payloads a snap length cut is refused. Sends the kernel refuses "
                                   "(too long for the destination) are counted and the first of each kind named; "
                                   "the exit status is then 1. ICMP errors that come back (no receiver) are "
                                   "counted apart. SIGINT or SIGTERM ends the replay with its summary (exit "
                                   "status 130 or 143).")
    p.add_argument("file", metavar="FILE", help="the recording (pcapng or pcap, .gz or .zst too; a file cut short is read "
                                                "up to its last whole packet, with a warning)")
    p.add_argument("--to", type=_endpoint, metavar="ADDR:PORT",
                   help="destination of every chosen flow without a --map entry")
    p.add_argument("--map", action="append", type=_mapping, metavar="REC=NEW", default=[],
                   help="send what was recorded to REC (ADDR:PORT) to NEW instead, e.g. "
                        "239.1.1.1:5000=10.0.0.5:6000 (repeatable); a flow with neither --map nor --to is not sent")
    p.add_argument("--flow", action="append", metavar="TERMS",
                   help="replay only the flows matching src=ADDR[:PORT], dst=ADDR[:PORT], port=PORT "
                        "(comma-separated terms all hold; repeatable: any one of them)")
    rate = p.add_mutually_exclusive_group()
    rate.add_argument("--multiplier", "--speed", dest="speed", type=_positive_float, default=1.0, metavar="X",
                      help="the recorded pace times X (2 = twice as fast), as tcpreplay --multiplier")
    rate.add_argument("--pps", type=_positive_float, metavar="N", help="N datagrams a second, evenly spaced")
    rate.add_argument("--mbps", type=_positive_float, metavar="M",
                      help="M megabits a second of IP packets (payload, UDP and IP headers)")
    rate.add_argument("--topspeed", action="store_true", help="as fast as the sockets take them, no waiting")
    p.add_argument("--loop", type=_count, nargs="?", const=0, default=1, metavar="N",
                   help="send the file N times in all (0, or --loop alone: until interrupted)")
    p.add_argument("--keep-source-port", action="store_true",
                   help="send each datagram from its recorded source port where the system allows "
                        "(else a kernel-chosen port, with a warning)")
    p.add_argument("--ttl", type=_ttl, default=1, metavar="N",
                   help="multicast TTL (IPv4) or hop limit (IPv6); default 1: no router forwards it")
    p.add_argument("--iface", metavar="IF", help="interface for a multicast destination")
    p.add_argument("--realtime", action="store_true", help="run under SCHED_FIFO (root) so other load cannot delay sends")
    p.add_argument("--quiet", action="store_true",
                   help="no progress bar or summary on stderr (the summary is still printed if sends failed "
                        "or a signal ended the replay)")

    p = sub.add_parser("stats", help="count, rate, inter-arrival percentiles, gaps, sequence gaps, per flow",
                       description="Read a recording (pcapng, or classic pcap as tcpdump writes; gzip- or "
                                   "zstd-compressed too) and print count, duration, rate, stamp sources, inter-arrival percentiles "
                                   "and the largest gaps, overall and per flow (source and destination address "
                                   "and port: datagrams, bytes as tshark -z conv,udp counts them, rate, "
                                   "inter-arrival mean/p50/p99/max, gaps with their packet numbers, and with "
                                   "--seq-offset the gaps in a counter the payloads carry), with a progress bar "
                                   "when stderr is a terminal. Packets are numbered from 1, as tshark numbers "
                                   "frames. With --reference, also the pacing error of this file (a re-captured "
                                   "replay) against the original, over the datagrams matched by payload, and how "
                                   "many were lost or extra.")
    p.add_argument("file", metavar="FILE", help="the recording; - reads standard input (a file cut short is read "
                                                "up to its last whole packet, with a warning)")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.add_argument("--gap", type=_positive_float, metavar="US",
                   help="gap threshold in us (default 10 x the median, of the file and of each flow)")
    p.add_argument("--flow", action="append", metavar="TERMS",
                   help="only the flows matching src=ADDR[:PORT], dst=ADDR[:PORT], port=PORT "
                        "(comma-separated terms all hold; repeatable: any one of them)")
    p.add_argument("--from", dest="start", type=_time_bound, metavar="TIME",
                   help="only datagrams stamped at TIME or later: seconds since the file's first packet "
                        "(as tshark's frame.time_relative), or an ISO 8601 time such as 2026-12-05T19:00:00Z")
    p.add_argument("--to", dest="end", type=_time_bound, metavar="TIME", help="only datagrams stamped at TIME or earlier")
    p.add_argument("--seq-offset", type=_count, metavar="N",
                   help="the payloads carry a counter at byte N: report each flow's missing datagrams")
    p.add_argument("--seq-size", type=int, choices=(1, 2, 4, 8), default=4, metavar="BYTES",
                   help="the counter's size: 1, 2, 4 (default) or 8 bytes")
    p.add_argument("--seq-endian", choices=("big", "little"), default="big", help="the counter's byte order")
    p.add_argument("--csv", metavar="OUT.csv",
                   help="write one row per datagram: packet, flow, stamp source, stamp (ns), UDP payload length")
    p.add_argument("--plot", metavar="OUT.png|OUT.svg",
                   help="per flow: the inter-arrival distribution (log scale), the rate over time, the gaps "
                        "marked; PNG or SVG by the extension (needs sotimestamp[plot])")
    p.add_argument("--reference", metavar="ORIGINAL",
                   help="the recording FILE is a replay of: report pacing errors, lost and extra datagrams")
    p.add_argument("--speed", type=_positive_float, default=1.0, metavar="X", help="the replay's --speed (with --reference)")
    return parser


def _cmd_probe(args: argparse.Namespace) -> int:
    from .probe import format_text, probe

    report = probe()
    print(json.dumps(report, indent=2) if args.json else format_text(report))
    return 0 if "error" not in report else 1


def _cmd_capture(args: argparse.Namespace) -> int:
    from .capture import STDOUT, Rotation, capture
    from .endpoint import Endpoint

    if args.iface and not args.group and not any(b.is_multicast for b in args.bind):
        raise UsageError(f"--iface {args.iface}: there is no group to join on it ({args.bind[0].host} is not a "
                         f"multicast address; give --group MCAST or bind a group address)")
    if args.group and len(args.bind) > 1:
        raise UsageError(f"--group {args.group} goes with one ADDR:PORT; with several, give each group as "
                         f"an ADDR:PORT (239.1.1.1:5000 239.1.1.2:5001)")
    if args.file_count and not (args.file_size or args.rotate_seconds):
        raise UsageError(f"-W {args.file_count}: keeps the last files of a rotation; give -C or -G too")
    rotation = None
    if args.file_size or args.rotate_seconds:
        if args.output == STDOUT:
            raise UsageError("-C and -G write a series of files: give -o a file name, not -")
        rotation = Rotation(size=None if args.file_size is None else int(args.file_size * 1_000_000),
                            seconds=args.rotate_seconds, files=args.file_count)
    if args.output == STDOUT and sys.stdout.isatty():
        raise CliError("-o -: standard output is a terminal; pipe it (sotimestamp capture ... -o - | tshark -r -)")

    feeds = iter(args.bind)  # capture calls ready() once per socket, in the order of the endpoints

    def announce(sock: socket.socket) -> None:
        # As tcpdump's "listening on" (one line per feed): says the port the kernel chose for
        # port 0, and tells a script driving this command when its senders may start.
        host, port = args.group or next(feeds).host, sock.getsockname()[1]
        print(f"sotimestamp: capturing on {Endpoint(host, port)} to {args.output}", file=sys.stderr, flush=True)

    result = capture(args.bind, args.output, group=args.group, iface=args.iface, count=args.count,
                     duration=args.duration, hardware=args.hardware, buffer_size=args.buffer_size,
                     packet_buffered=args.packet_buffered, progress=False if args.quiet else None,
                     ready=None if args.quiet else announce, snaplen=args.snaplen, rotation=rotation,
                     sources=args.source)
    if not args.quiet:
        for warning in result.warnings:
            print(f"sotimestamp: warning: {warning}", file=sys.stderr)
        where = result.path if rotation is None else (
            f"{len(result.files)} files ({result.files[0]} to {result.files[-1]}"
            + (f"; {len(result.removed)} older removed by -W" if result.removed else "") + ")")
        print(f"sotimestamp: captured {result.packets} datagrams in {result.seconds:.2f} s to {where} "
              f"(stopped by {result.stopped_by})", file=sys.stderr)
        sources = ", ".join(f"{k} {v}" for k, v in sorted(result.sources.items())) or "none"
        print(f"sotimestamp: received {result.received} datagrams (stamps: {sources})", file=sys.stderr)
        dropped = "unknown" if result.dropped is None else result.dropped
        print(f"sotimestamp: kernel dropped {dropped}", file=sys.stderr)
    if args.json:
        # with -o - standard output carries the pcapng file: the summary goes to stderr
        print(json.dumps(result.as_dict(), indent=2), file=sys.stderr if args.output == STDOUT else sys.stdout)
    if result.write_error:
        where = "standard output" if result.path == STDOUT else result.path
        print(f"sotimestamp: error: writing {where}: {result.write_error}; it holds the first {result.packets} "
              f"datagrams, cut after the last whole block", file=sys.stderr)
        return 1
    if result.signal is not None:
        return 128 + result.signal  # as a shell reports a command a signal ended; the file is complete
    return 0


def _warn(message: str) -> None:
    print(f"sotimestamp: warning: {message}", file=sys.stderr)


def _read_records(path: str, quiet: bool = False) -> list[Any]:
    """Every packet of ``path`` (pcapng or pcap; a file cut short warns once), with a
    progress bar on a terminal."""
    from .pcap.read import read_records
    from .stats import progress_bar

    with progress_bar(path, disable=quiet) as progress:
        return list(read_records(path, progress, _warn))


def _cmd_replay(args: argparse.Namespace) -> int:
    from .flows import FlowFilter
    from .replay import Destinations, NothingToReplay, Pace, StopRequest, replay, summary

    if args.to is None and not args.map:
        raise UsageError("give --to ADDR:PORT or --map REC=NEW: replay never sends to the recorded addresses")
    destinations = Destinations(args.to, dict(args.map))
    targets = ([args.to] if args.to else []) + [new for _old, new in args.map]
    if args.iface and not any(t.is_multicast for t in targets):
        raise UsageError(f"--iface {args.iface}: {', '.join(map(str, targets))} is not a multicast address; the route to it "
                         f"chooses the interface (leave --iface out)")
    try:
        flows = FlowFilter.parse(args.flow)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    pace = Pace(speed=args.speed, pps=args.pps, mbps=args.mbps, topspeed=args.topspeed)
    # SIGINT and SIGTERM end the replay with its summary, even where the shell started it with
    # SIGINT ignored (a background job of a script), as tcpdump and tcpreplay do.
    stop = StopRequest()
    before = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}
    for signum in before:
        signal.signal(signum, stop)
    try:
        result = replay(args.file, destinations, pace=pace, loops=args.loop, flows=flows, iface=args.iface,
                        ttl=args.ttl, keep_source_port=args.keep_source_port, realtime=args.realtime,
                        progress=False if args.quiet else None, stop=stop, warn=_warn)
    except NothingToReplay as exc:
        raise CliError(f"{args.file}: {exc}") from None
    finally:
        for signum, handler in before.items():
            signal.signal(signum, handler)
    for warning in result.warnings:
        _warn(warning)
    if result.interrupted:
        print("sotimestamp: interrupted", file=sys.stderr)
    if not args.quiet or result.failures or result.interrupted:
        for line in summary(result, destinations):
            print(f"sotimestamp: {line}", file=sys.stderr)
    if result.interrupted:
        return 128 + result.interrupted
    return 1 if result.failures else 0


def _cmd_stats(args: argparse.Namespace) -> int:
    import csv

    from .flows import FlowFilter
    from .pcap.read import Record, batches, read_records
    from .stats import SeqCounter, Window, collect, collect_records, compute_collected, format_text, plot, progress_bar

    try:
        chosen = FlowFilter.parse(args.flow) if args.flow else None
        sequence = SeqCounter(args.seq_offset, args.seq_size, args.seq_endian) if args.seq_offset is not None else None
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    window = None
    if args.start or args.end:
        window = Window(args.start and args.start[0], args.end and args.end[0],
                        (args.start[1] if args.start else True, args.end[1] if args.end else True))
    observed: list[Record] = []
    if args.reference or sequence or args.csv:  # the payloads are needed too
        with contextlib.ExitStack() as stack:
            each = None
            if args.csv:
                table = csv.writer(stack.enter_context(open(args.csv, "w", newline="")))
                table.writerow(["packet", "flow", "stamp_source", "ts_ns", "length"])

                def each(rec: Record, flow: str) -> None:
                    table.writerow([rec.number, flow, rec.source or "unknown", rec.ts_ns,
                                    rec.length if rec.length is not None else len(rec.payload or b"")])
            records = read_records(args.file, stack.enter_context(progress_bar(args.file)), _warn)
            if args.reference:
                observed = list(records)
                records = iter(observed)
            seen = collect_records(records, chosen, window, sequence, each=each)
    else:
        with progress_bar(args.file) as progress:
            seen = collect(batches(args.file, progress, _warn), chosen, window)
    if not seen.stamps:
        raise CliError(f"{args.file}: no packets in this file" if not seen.left_out else
                       f"{args.file}: none of its {seen.left_out} UDP datagrams is chosen (--flow, --from, --to)")
    stats = compute_collected(args.file, seen, gap_us=args.gap)
    out = stats.as_dict()
    text = format_text(stats)
    if args.csv:
        text += f"\ncsv           {args.csv}"
        out["csv"] = args.csv
    if args.reference:
        pacing, lines = _pacing(observed, _read_records(args.reference), args.speed)
        out["pacing_error_vs_reference"] = pacing
        text += "\n" + "\n".join(lines)
    if args.plot:
        drawn = plot(seen, stats, args.plot, os.path.basename(args.file))
        text += f"\nplot          {args.plot} ({len(drawn)} flows)"
        out["plot"] = {"path": args.plot, "flows": drawn}
    print(json.dumps(out, indent=2) if args.json else text)
    return 0


def _pacing(observed: list[Any], reference: list[Any], speed: float) -> tuple[dict[str, Any], list[str]]:
    """Pacing error of a re-captured replay over the datagrams matched by payload, and the text lines."""
    from .matching import match
    from .stats import schedule_errors, summarize

    def datagrams(records: list[Any]) -> list[tuple[int, int, bytes]]:
        return [(r.number, r.ts_ns, r.payload) for r in records if r.payload is not None]

    ref = datagrams(reference)
    matched = match(ref, datagrams(observed), speed)
    errors = schedule_errors(matched.reference_ns, matched.observed_ns, speed)
    pacing: dict[str, Any] = dict(summarize([abs(e) for e in errors]), compared=len(errors),
                                  lost=len(matched.lost), extra=len(matched.extra))
    lines = ["pacing error  " + "  ".join(f"{k[:-3]} {v:.3f}" for k, v in pacing.items() if k.endswith("_us"))
             + f"  (us, |replay - reference schedule|, {len(errors)} datagrams matched by payload)"]
    lost = f"matching      {len(matched.lost)} lost, {len(matched.extra)} extra"
    if matched.lost:
        number, ts, payload = matched.lost[0]
        pacing["first_lost"] = {"packet": number, "offset_s": (ts - ref[0][1]) / 1e9, "size": len(payload)}
        lost += f" (the first lost is packet {number} of the reference, at +{(ts - ref[0][1]) / 1e9:.6f} s)"
    if matched.extra:
        pacing["first_extra"] = {"packet": matched.extra[0][0]}
        lost += f" (the first extra is packet {matched.extra[0][0]})"
    return pacing, [*lines, lost]


COMMANDS = {"probe": _cmd_probe, "capture": _cmd_capture, "replay": _cmd_replay, "stats": _cmd_stats}


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``sotimestamp`` console script; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    from .core import UnsupportedError
    from .pcap import PcapFileError

    try:
        status = COMMANDS[args.command](args)
        sys.stdout.flush()  # a reader gone (`| head -1`) shows here, not in the interpreter's last flush
        return status
    except BrokenPipeError:
        # Before OSError, of which it is a subclass (it was unreachable after it).  Quiet,
        # as `yes | head` is: stdout goes to /dev/null so the final flush has nowhere to fail,
        # and the status is a SIGPIPE death's.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 128 + signal.SIGPIPE
    except KeyboardInterrupt:
        print("sotimestamp: interrupted", file=sys.stderr)
        return 128 + signal.SIGINT
    except UsageError as exc:
        print(f"sotimestamp {args.command}: error: {exc} (sotimestamp {args.command} --help lists the options)",
              file=sys.stderr)
        return 2
    except (CliError, PcapFileError, UnsupportedError, RuntimeError, ValueError) as exc:
        print(f"sotimestamp: error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        where = f" ({exc.filename})" if exc.filename else ""
        print(f"sotimestamp: error: {exc.strerror or exc}{where}", file=sys.stderr)
        return 1
    except Exception as exc:
        if os.environ.get("SOTIMESTAMP_DEBUG"):
            raise
        print(f"sotimestamp: internal error: {type(exc).__name__}: {exc} (set SOTIMESTAMP_DEBUG=1 for a traceback)",
              file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
