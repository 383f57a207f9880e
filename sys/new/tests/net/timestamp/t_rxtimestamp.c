/*	$NetBSD$	*/

/*-
 * Copyright (c) 2026 The NetBSD Foundation, Inc.
 * All rights reserved.
 *
 * Redistribution and use in source and binary forms, with or without
 * modification, are permitted provided that the following conditions
 * are met:
 * 1. Redistributions of source code must retain the above copyright
 *    notice, this list of conditions and the following disclaimer.
 * 2. Redistributions in binary form must reproduce the above copyright
 *    notice, this list of conditions and the following disclaimer in the
 *    documentation and/or other materials provided with the distribution.
 *
 * THIS SOFTWARE IS PROVIDED BY THE NETBSD FOUNDATION, INC. AND CONTRIBUTORS
 * ``AS IS'' AND ANY EXPRESS OR IMPLIED WARRANTIES, INCLUDING, BUT NOT LIMITED
 * TO, THE IMPLIED WARRANTIES OF MERCHANTABILITY AND FITNESS FOR A PARTICULAR
 * PURPOSE ARE DISCLAIMED.  IN NO EVENT SHALL THE FOUNDATION OR CONTRIBUTORS
 * BE LIABLE FOR ANY DIRECT, INDIRECT, INCIDENTAL, SPECIAL, EXEMPLARY, OR
 * CONSEQUENTIAL DAMAGES (INCLUDING, BUT NOT LIMITED TO, PROCUREMENT OF
 * SUBSTITUTE GOODS OR SERVICES; LOSS OF USE, DATA, OR PROFITS; OR BUSINESS
 * INTERRUPTION) HOWEVER CAUSED AND ON ANY THEORY OF LIABILITY, WHETHER IN
 * CONTRACT, STRICT LIABILITY, OR TORT (INCLUDING NEGLIGENCE OR OTHERWISE)
 * ARISING IN ANY WAY OUT OF THE USE OF THIS SOFTWARE, EVEN IF ADVISED OF THE
 * POSSIBILITY OF SUCH DAMAGE.
 */

/*
 * The presence matrix of Linux's tools/testing/selftests/net/
 * rxtimestamp.c: which receive options yield which control messages,
 * on every datagram path over loopback.  Expectations are Linux's
 * (SO_TIMESTAMP and SO_TIMESTAMPNS pick one format, the last one set
 * wins) except where marked NETBSD, where our rules differ on purpose:
 *  - RX stamps are reported only to a socket that asked for their
 *    generation (Linux's OPT_RX_FILTER is our default), so SOFTWARE
 *    alone never yields a stamp even while another socket has
 *    RX_SOFTWARE on (Linux: "warn_on_fail", it may leak).
 *  - No sleep after setsockopt(): enabling is synchronous.
 * A socket with SOFTWARE|RX_SOFTWARE stays open throughout so that
 * stamping is globally on and leaks would show.  TCP (Linux's third
 * path) is stamped too: a read returns the stamp of the last segment
 * whose data it returns; the options are set on the accepted socket.
 */

#include "tstamp_util.h"

struct rxcase {
	const char	*name;
	int		tstamp;		/* SO_TIMESTAMP */
	int		tstampns;	/* SO_TIMESTAMPNS */
	int		flags;		/* SO_TIMESTAMPING */
	int		exp_tv, exp_ns, exp_sw;
};

#define	SW	SOF_TIMESTAMPING_SOFTWARE
#define	RXSW	SOF_TIMESTAMPING_RX_SOFTWARE
#define	RXHW	SOF_TIMESTAMPING_RX_HARDWARE
#define	RAWHW	SOF_TIMESTAMPING_RAW_HARDWARE
#define	RXFLT	SOF_TIMESTAMPING_OPT_RX_FILTER

static const struct rxcase rxcases[] = {
	{ "none",			0, 0, 0,		0, 0, 0 },
	{ "timestamp",			1, 0, 0,		1, 0, 0 },
	{ "timestampns",		0, 1, 0,		0, 1, 0 },
	{ "timestamp+ns",		1, 1, 0,		0, 1, 0 },
	{ "rx_sw",			0, 0, RXSW,		0, 0, 0 },
	{ "rx_hw",			0, 0, RXHW,		0, 0, 0 },
	/* NETBSD: never (Linux: warn_on_fail, leaks) */
	{ "software",			0, 0, SW,		0, 0, 0 },
	{ "rx_sw+rx_hw",		0, 0, RXSW | RXHW,	0, 0, 0 },
	{ "raw_hw+rx_filter",		0, 0, RAWHW | RXFLT,	0, 0, 0 },
	{ "software+rx_filter",		0, 0, SW | RXFLT,	0, 0, 0 },
	{ "software+rx_sw+rx_filter",	0, 0, SW | RXSW | RXFLT, 0, 0, 1 },
	{ "software+rx_sw",		0, 0, SW | RXSW,	0, 0, 1 },
	{ "timestamp+software+rx_sw",	1, 0, SW | RXSW,	1, 0, 1 },
	/* ours: NS and SO_TIMESTAMPING at once, the same instant */
	{ "all",			1, 1, SW | RXSW,	0, 1, 1 },
};

static void
run_case(const struct tsproto *p, const struct rxcase *c)
{
	struct sockaddr_storage ss, ssend;
	socklen_t sslen, ssendlen;
	struct tsmsg r;
	int64_t before, after;
	int rs, ss_, ls = -1, err;

	if (p->type == SOCK_STREAM) {
		ls = proto_socket(p, &ss, &sslen);
		ATF_REQUIRE(listen(ls, 1) == 0);
		ss_ = socket(p->af, SOCK_STREAM, 0);
		ATF_REQUIRE(ss_ != -1);
		ATF_REQUIRE_MSG(connect(ss_, (struct sockaddr *)&ss, sslen)
		    == 0, "connect: %s", strerror(errno));
		rs = accept(ls, NULL, NULL);
		ATF_REQUIRE_MSG(rs != -1, "accept: %s", strerror(errno));
	} else {
		rs = proto_socket(p, &ss, &sslen);
		ss_ = proto_socket(p, &ssend, &ssendlen);
	}
	if (c->tstamp)
		setint(rs, SOL_SOCKET, SO_TIMESTAMP, 1);
	if (c->tstampns)
		setint(rs, SOL_SOCKET, SO_TIMESTAMPNS, 1);
	if (c->flags)
		setint(rs, SOL_SOCKET, SO_TIMESTAMPING, c->flags);

	before = now_ns(CLOCK_REALTIME);
	ATF_REQUIRE_MSG(proto_send(p, ss_, &ss, sslen, c->name,
	    strlen(c->name), NULL, 0) != -1, "%s %s: send: %s", p->name,
	    c->name, strerror(errno));
	ATF_REQUIRE_MSG(wait_readable(rs, 5000), "%s %s: nothing received",
	    p->name, c->name);
	err = recv_ts(rs, MSG_DONTWAIT, &r);
	after = now_ns(CLOCK_REALTIME);
	ATF_REQUIRE_MSG(err == 0, "%s %s: recvmsg: %s", p->name, c->name,
	    strerror(err));

	ATF_CHECK_MSG(r.ntv == c->exp_tv, "%s %s: %d SCM_TIMESTAMP, want %d",
	    p->name, c->name, r.ntv, c->exp_tv);
	ATF_CHECK_MSG(r.nns == c->exp_ns, "%s %s: %d SCM_TIMESTAMPNS, want %d",
	    p->name, c->name, r.nns, c->exp_ns);
	ATF_CHECK_MSG(r.nts == c->exp_sw, "%s %s: %d SCM_TIMESTAMPING, "
	    "want %d", p->name, c->name, r.nts, c->exp_sw);
	ATF_CHECK_MSG(r.nother == 0 && r.nerr == 0,
	    "%s %s: unexpected control messages", p->name, c->name);
	if (r.ntv)
		check_between("SCM_TIMESTAMP", before, tv_ns(&r.tv), after);
	if (r.nns)
		check_between("SCM_TIMESTAMPNS", before, ts_ns(&r.ns), after);
	if (r.nts) {
		check_between("ts[0]", before, ts_ns(&r.ts.ts[0]), after);
		ATF_CHECK(ts_ns(&r.ts.ts[1]) == 0);
		ATF_CHECK_MSG(ts_ns(&r.ts.ts[2]) == 0, "hardware stamp on lo0");
	}
	/* One clock read serves every message of a datagram. */
	if (r.nns && r.nts)
		ATF_CHECK(ts_ns(&r.ns) == ts_ns(&r.ts.ts[0]));
	if (r.ntv && r.nns)
		ATF_CHECK(r.tv.tv_sec == r.ns.tv_sec &&
		    r.tv.tv_usec == r.ns.tv_nsec / 1000);
	close(rs);
	close(ss_);
	if (ls != -1)
		close(ls);
}

static void
run_matrix(const struct tsproto *p)
{
	int enabler;
	size_t i;

	enabler = socket(AF_INET, SOCK_DGRAM, 0);
	ATF_REQUIRE(enabler != -1);
	setint(enabler, SOL_SOCKET, SO_TIMESTAMPING, SW | RXSW);
	for (i = 0; i < __arraycount(rxcases); i++)
		run_case(p, &rxcases[i]);
	close(enabler);
}

TSTAMP_PROTO_TC(rxtimestamp_matrix_udp4, run_matrix, TSPROTO_UDP4)
TSTAMP_PROTO_TC(rxtimestamp_matrix_udp6, run_matrix, TSPROTO_UDP6)
TSTAMP_PROTO_TC(rxtimestamp_matrix_raw4, run_matrix, TSPROTO_RAW4)
TSTAMP_PROTO_TC(rxtimestamp_matrix_raw6, run_matrix, TSPROTO_RAW6)
TSTAMP_PROTO_TC(rxtimestamp_matrix_icmp6, run_matrix, TSPROTO_ICMP6)
TSTAMP_PROTO_TC(rxtimestamp_matrix_tcp4, run_matrix, TSPROTO_TCP4)
TSTAMP_PROTO_TC(rxtimestamp_matrix_tcp6, run_matrix, TSPROTO_TCP6)

ATF_TP_ADD_TCS(tp)
{

	ATF_TP_ADD_TC(tp, rxtimestamp_matrix_udp4);
	ATF_TP_ADD_TC(tp, rxtimestamp_matrix_udp6);
	ATF_TP_ADD_TC(tp, rxtimestamp_matrix_raw4);
	ATF_TP_ADD_TC(tp, rxtimestamp_matrix_raw6);
	ATF_TP_ADD_TC(tp, rxtimestamp_matrix_icmp6);
	ATF_TP_ADD_TC(tp, rxtimestamp_matrix_tcp4);
	ATF_TP_ADD_TC(tp, rxtimestamp_matrix_tcp6);
	return atf_no_error();
}
