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
 * Transmit timestamps on the error queue: the UDP cases of Linux's
 * tools/testing/selftests/net/txtimestamp.c (IPv4/IPv6, OPT_ID keys,
 * OPT_TSONLY, per-sendmsg control message, queue empty after reading)
 * for UDP and raw sockets, plus what Linux leaves implicit: reads never
 * block, poll/select report the queue, the queue is bounded by
 * SO_RCVBUF, and random input does no harm.
 */

#include <net/if.h>
#include <poll.h>
#include <stdlib.h>

#include "tstamp_util.h"
#include "harness.h"

#define	TXSW	(SOF_TIMESTAMPING_SOFTWARE | SOF_TIMESTAMPING_TX_SOFTWARE)
#define	NPKT	4

struct txsock {
	const struct tsproto	*p;
	int			s;	/* sender */
	int			rs;	/* where the datagrams go */
	struct sockaddr_storage	to;
	socklen_t		tolen;
};

static void
txsock_open(struct txsock *t, const struct tsproto *p)
{
	struct sockaddr_storage ss;
	socklen_t sslen;

	t->p = p;
	t->rs = proto_socket(p, &t->to, &t->tolen);
	t->s = proto_socket(p, &ss, &sslen);
}

static void
txsock_close(struct txsock *t)
{

	close(t->s);
	close(t->rs);
}

/* Send one datagram, with an SO_TIMESTAMPING cmsg unless cmsgflags < 0. */
static ssize_t
tx_sendmsg(struct txsock *t, const char *payload, int cmsgflags)
{
	union {
		struct cmsghdr	align;
		char		buf[CMSG_SPACE(sizeof(int))];
	} cbuf;
	struct cmsghdr *cm;

	if (cmsgflags >= 0) {
		memset(&cbuf, 0, sizeof(cbuf));
		cm = (struct cmsghdr *)cbuf.buf;
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SO_TIMESTAMPING;
		memcpy(CMSG_DATA(cm), &cmsgflags, sizeof(int));
	}
	return proto_send(t->p, t->s, &t->to, t->tolen, payload,
	    strlen(payload), cmsgflags >= 0 ? cbuf.buf : NULL,
	    cmsgflags >= 0 ? sizeof(cbuf.buf) : 0);
}

static void
tx_send(struct txsock *t, const char *payload, int cmsgflags)
{

	ATF_REQUIRE_MSG(tx_sendmsg(t, payload, cmsgflags) != -1,
	    "%s: sendmsg: %s", t->p->name, strerror(errno));
}

/* Read one error queue record and check it against what was sent. */
static void
tx_expect(struct txsock *t, uint32_t key, const char *payload, bool tsonly,
    bool sw, int64_t lo, int64_t hi)
{
	struct tsmsg r;
	size_t hdr;
	int err;

	err = recv_ts(t->s, MSG_ERRQUEUE, &r);
	ATF_REQUIRE_MSG(err == 0, "%s: no record %u: %s", t->p->name, key,
	    strerror(err));
	ATF_CHECK(r.flags & MSG_ERRQUEUE);
	ATF_REQUIRE_EQ(r.nerr, 1);
	ATF_CHECK_EQ(r.errlevel, t->p->af == AF_INET ? IPPROTO_IP :
	    IPPROTO_IPV6);
	ATF_CHECK_EQ(r.ee.ee_errno, ENOMSG);
	ATF_CHECK_EQ(r.ee.ee_origin, SO_EE_ORIGIN_TIMESTAMPING);
	ATF_CHECK_EQ(r.ee.ee_info, SCM_TSTAMP_SND);
	ATF_CHECK_MSG(r.ee.ee_data == key, "%s: key %u, want %u",
	    t->p->name, r.ee.ee_data, key);
	ATF_CHECK_EQ(r.nts, sw ? 1 : 0);
	if (r.nts) {
		check_between("TX ts[0]", lo, ts_ns(&r.ts.ts[0]), hi);
		ATF_CHECK(ts_ns(&r.ts.ts[1]) == 0 && ts_ns(&r.ts.ts[2]) == 0);
	}
	/* The payload as sent; ICMPv6 has its header in front. */
	hdr = t->p->proto == IPPROTO_ICMPV6 ? sizeof(struct icmp6_hdr) : 0;
	if (tsonly)
		ATF_CHECK_EQ(r.len, 0);
	else
		ATF_CHECK_MSG(r.len == (ssize_t)(hdr + strlen(payload)) &&
		    memcmp(r.data + hdr, payload, strlen(payload)) == 0,
		    "%s: payload of %zd bytes", t->p->name, r.len);
}

static void
tx_expect_empty(struct txsock *t)
{
	struct tsmsg r;

	ATF_CHECK_EQ(recv_ts(t->s, MSG_ERRQUEUE, &r), EAGAIN);
}

/* txtimestamp.c's UDP run: NPKT datagrams, keys 0.., then empty. */
static void
run_sockopt(const struct tsproto *p, bool tsonly)
{
	struct txsock t;
	int64_t lo[NPKT], hi[NPKT];
	char payload[NPKT][16];
	int i, flags;

	txsock_open(&t, p);
	flags = TXSW | SOF_TIMESTAMPING_OPT_ID;
	if (tsonly)
		flags |= SOF_TIMESTAMPING_OPT_TSONLY;
	setint(t.s, SOL_SOCKET, SO_TIMESTAMPING, flags);
	for (i = 0; i < NPKT; i++) {
		snprintf(payload[i], sizeof(payload[i]), "tx %s %d", p->name,
		    i);
		lo[i] = now_ns(CLOCK_REALTIME);
		tx_send(&t, payload[i], -1);
		hi[i] = now_ns(CLOCK_REALTIME);
	}
	for (i = 0; i < NPKT; i++)
		tx_expect(&t, i, payload[i], tsonly, true, lo[i], hi[i]);
	tx_expect_empty(&t);
	txsock_close(&t);
}

static void
run_plain(const struct tsproto *p)
{

	run_sockopt(p, false);
}

static void
run_tsonly(const struct tsproto *p)
{

	run_sockopt(p, true);
}

TSTAMP_PROTO_TC(txtimestamp_udp4, run_plain, TSPROTO_UDP4)
TSTAMP_PROTO_TC(txtimestamp_udp6, run_plain, TSPROTO_UDP6)
TSTAMP_PROTO_TC(txtimestamp_raw4, run_plain, TSPROTO_RAW4)
TSTAMP_PROTO_TC(txtimestamp_raw6, run_plain, TSPROTO_RAW6)
TSTAMP_PROTO_TC(txtimestamp_icmp6, run_plain, TSPROTO_ICMP6)
TSTAMP_PROTO_TC(txtimestamp_udp4_tsonly, run_tsonly, TSPROTO_UDP4)
TSTAMP_PROTO_TC(txtimestamp_udp6_tsonly, run_tsonly, TSPROTO_UDP6)

/*
 * TX bits per sendmsg(): only the datagrams that ask get a record, and
 * OPT_ID counts only those.  The reporting bit stays the socket's.
 */
static void
run_cmsg(const struct tsproto *p)
{
	struct txsock t;
	int64_t lo[NPKT], hi[NPKT];
	char payload[NPKT][16];
	int i;

	txsock_open(&t, p);
	setint(t.s, SOL_SOCKET, SO_TIMESTAMPING,
	    SOF_TIMESTAMPING_SOFTWARE | SOF_TIMESTAMPING_OPT_ID);
	for (i = 0; i < NPKT; i++) {
		snprintf(payload[i], sizeof(payload[i]), "cm %s %d", p->name,
		    i);
		lo[i] = now_ns(CLOCK_REALTIME);
		tx_send(&t, payload[i], i % 2 == 0 ?
		    SOF_TIMESTAMPING_TX_SOFTWARE : 0);
		hi[i] = now_ns(CLOCK_REALTIME);
	}
	tx_expect(&t, 0, payload[0], false, true, lo[0], hi[0]);
	tx_expect(&t, 1, payload[2], false, true, lo[2], hi[2]);
	tx_expect_empty(&t);

	/* A cmsg can switch off what the socket asks for. */
	setint(t.s, SOL_SOCKET, SO_TIMESTAMPING, TXSW);
	tx_send(&t, "off", 0);
	tx_expect_empty(&t);

	/* Only TX bits belong in the cmsg. */
	errno = 0;
	ATF_CHECK(tx_sendmsg(&t, "bad", SOF_TIMESTAMPING_RX_SOFTWARE) == -1 &&
	    errno == EINVAL);
	tx_expect_empty(&t);

	/* Without SOFTWARE the record comes, without a stamp. */
	setint(t.s, SOL_SOCKET, SO_TIMESTAMPING, 0);
	tx_send(&t, "nosw", SOF_TIMESTAMPING_TX_SOFTWARE);
	tx_expect(&t, 0, "nosw", false, false, 0, 0);
	tx_expect_empty(&t);
	txsock_close(&t);
}

TSTAMP_PROTO_TC(txtimestamp_cmsg_udp4, run_cmsg, TSPROTO_UDP4)
TSTAMP_PROTO_TC(txtimestamp_cmsg_raw6, run_cmsg, TSPROTO_RAW6)

/*
 * Send one datagram with an SCM_TS_OPT_ID message of keylen bytes
 * holding key, and an SO_TIMESTAMPING one unless cmsgflags < 0.
 */
static ssize_t
tx_sendkey(struct txsock *t, const char *payload, uint32_t key,
    size_t keylen, int cmsgflags)
{
	union {
		struct cmsghdr	align;
		char		buf[CMSG_SPACE(sizeof(int)) +
				    CMSG_SPACE(sizeof(uint64_t))];
	} cbuf;
	struct cmsghdr *cm;
	uint64_t data = 0;
	size_t len = 0;

	memset(&cbuf, 0, sizeof(cbuf));
	cm = (struct cmsghdr *)cbuf.buf;
	if (cmsgflags >= 0) {
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SO_TIMESTAMPING;
		memcpy(CMSG_DATA(cm), &cmsgflags, sizeof(int));
		len += CMSG_SPACE(sizeof(int));
		cm = (struct cmsghdr *)(cbuf.buf + len);
	}
	memcpy(&data, &key, sizeof(key));
	cm->cmsg_len = CMSG_LEN(keylen);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_TS_OPT_ID;
	memcpy(CMSG_DATA(cm), &data, keylen);
	len += CMSG_SPACE(keylen);
	return proto_send(t->p, t->s, &t->to, t->tolen, payload,
	    strlen(payload), cbuf.buf, len);
}

/*
 * SCM_TS_OPT_ID (Linux 6.13): the datagram's OPT_ID key is the
 * message's, and the socket's counter does not move; refused (EINVAL,
 * nothing sent) without OPT_ID on the socket or with a length other
 * than a uint32_t's.
 */
static void
run_optid_cmsg(const struct tsproto *p)
{
	static const struct {
		const char	*payload;
		int64_t		key;		/* -1: none */
		int		cmsgflags;	/* -1: none */
		uint32_t	want;
	} sends[] = {
		{ "counted 0", -1, -1, 0 },
		{ "keyed 1000", 1000, -1, 1000 },
		{ "counted 1", -1, -1, 1 },
		{ "keyed max", 0xffffffff, SOF_TIMESTAMPING_TX_SOFTWARE,
		    0xffffffff },
		{ "keyed 0", 0, -1, 0 },
		{ "counted 2", -1, -1, 2 },
	};
	struct txsock t;
	int64_t lo[__arraycount(sends)], hi[__arraycount(sends)];
	size_t i;

	txsock_open(&t, p);
	setint(t.s, SOL_SOCKET, SO_TIMESTAMPING,
	    TXSW | SOF_TIMESTAMPING_OPT_ID);
	for (i = 0; i < __arraycount(sends); i++) {
		lo[i] = now_ns(CLOCK_REALTIME);
		if (sends[i].key < 0)
			tx_send(&t, sends[i].payload, sends[i].cmsgflags);
		else
			ATF_REQUIRE_MSG(tx_sendkey(&t, sends[i].payload,
			    (uint32_t)sends[i].key, sizeof(uint32_t),
			    sends[i].cmsgflags) != -1,
			    "%s: sendmsg SCM_TS_OPT_ID %lld: %s", p->name,
			    (long long)sends[i].key, strerror(errno));
		hi[i] = now_ns(CLOCK_REALTIME);
	}
	for (i = 0; i < __arraycount(sends); i++)
		tx_expect(&t, sends[i].want, sends[i].payload, false, true,
		    lo[i], hi[i]);
	tx_expect_empty(&t);

	errno = 0;
	ATF_CHECK_MSG(tx_sendkey(&t, "short", 7, sizeof(uint16_t), -1) == -1 &&
	    errno == EINVAL, "%s: 2-byte SCM_TS_OPT_ID not refused",
	    p->name);
	errno = 0;
	ATF_CHECK_MSG(tx_sendkey(&t, "long", 7, sizeof(uint64_t), -1) == -1 &&
	    errno == EINVAL, "%s: 8-byte SCM_TS_OPT_ID not refused",
	    p->name);
	setint(t.s, SOL_SOCKET, SO_TIMESTAMPING, TXSW);
	errno = 0;
	ATF_CHECK_MSG(tx_sendkey(&t, "no OPT_ID", 7, sizeof(uint32_t),
	    -1) == -1 && errno == EINVAL,
	    "%s: SCM_TS_OPT_ID without OPT_ID not refused", p->name);
	tx_expect_empty(&t);
	txsock_close(&t);
}

TSTAMP_PROTO_TC(txtimestamp_optid_cmsg_udp4, run_optid_cmsg, TSPROTO_UDP4)
TSTAMP_PROTO_TC(txtimestamp_optid_cmsg_udp6, run_optid_cmsg, TSPROTO_UDP6)
TSTAMP_PROTO_TC(txtimestamp_optid_cmsg_raw4, run_optid_cmsg, TSPROTO_RAW4)
TSTAMP_PROTO_TC(txtimestamp_optid_cmsg_raw6, run_optid_cmsg, TSPROTO_RAW6)

ATF_TC(txtimestamp_optid_cmsg_tcp);
ATF_TC_HEAD(txtimestamp_optid_cmsg_tcp, tc)
{
	atf_tc_set_md_var(tc, "descr", "SCM_TS_OPT_ID is refused on TCP, "
	    "as on Linux, even with OPT_ID set");
}
ATF_TC_BODY(txtimestamp_optid_cmsg_tcp, tc)
{
	static const struct tsproto p = TSPROTO_TCP4;
	struct sockaddr_storage ss;
	struct txsock t;
	socklen_t sslen;
	int ls;

	ls = bound_socket(AF_INET, SOCK_STREAM, 0, &ss, &sslen);
	ATF_REQUIRE(listen(ls, 1) == 0);
	t.p = &p;
	t.s = socket(AF_INET, SOCK_STREAM, 0);
	ATF_REQUIRE(t.s != -1);
	ATF_REQUIRE(connect(t.s, (struct sockaddr *)&ss, sslen) == 0);
	t.rs = accept(ls, NULL, NULL);
	ATF_REQUIRE(t.rs != -1);
	setint(t.s, SOL_SOCKET, SO_TIMESTAMPING,
	    TXSW | SOF_TIMESTAMPING_OPT_ID);
	errno = 0;
	ATF_CHECK_MSG(tx_sendkey(&t, "tcp", 7, sizeof(uint32_t), -1) == -1 &&
	    errno == EINVAL, "SCM_TS_OPT_ID on TCP not refused");
	txsock_close(&t);
	close(ls);
}

ATF_TC(txtimestamp_optid_reset);
ATF_TC_HEAD(txtimestamp_optid_reset, tc)
{
	atf_tc_set_md_var(tc, "descr", "OPT_ID key restarts at 0 when "
	    "re-enabled, not when other bits change");
}
ATF_TC_BODY(txtimestamp_optid_reset, tc)
{
	static const struct tsproto p = TSPROTO_UDP6;
	struct txsock t;
	const int f = TXSW | SOF_TIMESTAMPING_OPT_ID;

	txsock_open(&t, &p);
	setint(t.s, SOL_SOCKET, SO_TIMESTAMPING, f);
	tx_send(&t, "a", -1);
	tx_send(&t, "b", -1);
	setint(t.s, SOL_SOCKET, SO_TIMESTAMPING,
	    f | SOF_TIMESTAMPING_OPT_TSONLY);
	tx_send(&t, "c", -1);
	tx_expect(&t, 0, "a", false, true, 0, INT64_MAX);
	tx_expect(&t, 1, "b", false, true, 0, INT64_MAX);
	tx_expect(&t, 2, "c", true, true, 0, INT64_MAX);
	setint(t.s, SOL_SOCKET, SO_TIMESTAMPING, TXSW);
	tx_send(&t, "d", -1);
	tx_expect(&t, 0, "d", false, true, 0, INT64_MAX);
	setint(t.s, SOL_SOCKET, SO_TIMESTAMPING, f);
	tx_send(&t, "e", -1);
	tx_expect(&t, 0, "e", false, true, 0, INT64_MAX);
	tx_expect_empty(&t);
	txsock_close(&t);
}

ATF_TC(txtimestamp_errqueue_nonblock);
ATF_TC_HEAD(txtimestamp_errqueue_nonblock, tc)
{
	atf_tc_set_md_var(tc, "descr", "MSG_ERRQUEUE never blocks");
}
ATF_TC_BODY(txtimestamp_errqueue_nonblock, tc)
{
	struct tsmsg r;
	int64_t t0;
	int s;

	s = socket(AF_INET, SOCK_DGRAM, 0);
	ATF_REQUIRE(s != -1);
	t0 = now_ns(CLOCK_MONOTONIC);
	ATF_CHECK_EQ(recv_ts(s, MSG_ERRQUEUE, &r), EAGAIN);
	setint(s, SOL_SOCKET, SO_TIMESTAMPING, TXSW);
	ATF_CHECK_EQ(recv_ts(s, MSG_ERRQUEUE | MSG_WAITALL, &r), EAGAIN);
	ATF_CHECK(now_ns(CLOCK_MONOTONIC) - t0 < TS_NSEC);
	close(s);
}

ATF_TC(txtimestamp_poll_pollerr);
ATF_TC_HEAD(txtimestamp_poll_pollerr, tc)
{
	atf_tc_set_md_var(tc, "descr", "poll POLLERR, select, MSG_PEEK");
}
ATF_TC_BODY(txtimestamp_poll_pollerr, tc)
{
	static const struct tsproto p = TSPROTO_UDP4;
	struct txsock t;
	struct pollfd pfd;
	struct tsmsg r;
	fd_set rfds, efds;
	struct timeval tv = { 0, 0 };

	txsock_open(&t, &p);
	setint(t.s, SOL_SOCKET, SO_TIMESTAMPING, TXSW);
	pfd.fd = t.s;
	pfd.events = POLLIN;
	pfd.revents = 0;
	ATF_CHECK_EQ(poll(&pfd, 1, 0), 0);
	tx_send(&t, "p", -1);
	pfd.events = 0;
	ATF_CHECK_EQ(poll(&pfd, 1, 1000), 1);
	ATF_CHECK_EQ(pfd.revents, POLLERR);
	/* select(2): readable, as on Linux; no exceptional condition. */
	FD_ZERO(&rfds);
	FD_SET(t.s, &rfds);
	ATF_CHECK_EQ(select(t.s + 1, &rfds, NULL, NULL, &tv), 1);
	FD_ZERO(&efds);
	FD_SET(t.s, &efds);
	ATF_CHECK_EQ(select(t.s + 1, NULL, NULL, &efds, &tv), 0);
	/* MSG_PEEK leaves the record queued. */
	ATF_REQUIRE_EQ(recv_ts(t.s, MSG_ERRQUEUE | MSG_PEEK, &r), 0);
	ATF_CHECK_EQ(r.nerr, 1);
	tx_expect(&t, 0, "p", false, true, 0, INT64_MAX);
	pfd.events = POLLIN | POLLRDBAND;
	ATF_CHECK_EQ(poll(&pfd, 1, 0), 0);
	FD_ZERO(&efds);
	FD_SET(t.s, &efds);
	ATF_CHECK_EQ(select(t.s + 1, NULL, NULL, &efds, &tv), 0);
	tx_expect_empty(&t);
	txsock_close(&t);
}

/*
 * wm0: stamps for datagrams leaving by the real interface, to the host
 * (its ARP answer lets IPv4 reach the driver; the IPv6 neighbour is
 * never resolved, so those wait in ND and are stamped when ip6_output()
 * returns).
 */
static void
tx_wm0(const struct tsproto *p)
{
	struct txsock t;
	int64_t lo, hi;
	int j;

	t.p = p;
	t.rs = -1;
	t.s = socket(p->af, SOCK_DGRAM, 0);
	ATF_REQUIRE(t.s != -1);
	t.tolen = mkaddr(p->af, p->af == AF_INET ? "169.254.1.1" : "fe80::1",
	    9, &t.to);
	if (p->af == AF_INET6)
		((struct sockaddr_in6 *)&t.to)->sin6_scope_id =
		    if_nametoindex("wm0");
	setint(t.s, SOL_SOCKET, SO_TIMESTAMPING,
	    TXSW | SOF_TIMESTAMPING_OPT_ID);
	for (j = 0; j < 3; j++) {
		lo = now_ns(CLOCK_REALTIME);
		if (tx_sendmsg(&t, "wm0", -1) == -1) {
			if (errno == EADDRNOTAVAIL)
				atf_tc_skip("wm0: no usable link-local address");
			atf_tc_fail("%s: sendmsg: %s", p->name, strerror(errno));
		}
		hi = now_ns(CLOCK_REALTIME);
		usleep(100000);
		tx_expect(&t, j, "wm0", false, true, lo, hi);
	}
	tx_expect_empty(&t);
	close(t.s);
}

HARNESS_PROTO_TC(txtimestamp_wm0_udp4, tx_wm0, TSPROTO_UDP4)
HARNESS_PROTO_TC(txtimestamp_wm0_udp6, tx_wm0, TSPROTO_UDP6)

ATF_TC(txtimestamp_errqueue_bounded);
ATF_TC_HEAD(txtimestamp_errqueue_bounded, tc)
{
	atf_tc_set_md_var(tc, "descr", "100000 unread TX stamps: the error "
	    "queue stays within SO_RCVBUF, the rest is dropped and counted");
	atf_tc_set_md_var(tc, "timeout", "600");
}
ATF_TC_BODY(txtimestamp_errqueue_bounded, tc)
{
	static const struct tsproto p = TSPROTO_UDP4;
	enum { SENDS = 100000, RCVBUF = 16384 };
	struct txsock t;
	struct tsmsg r;
	struct mbstat mb0, mb1;
	uint64_t drops0, drops1;
	int i, n, grew, fails = 0, buf = RCVBUF;

	txsock_open(&t, &p);
	ATF_REQUIRE(setsockopt(t.s, SOL_SOCKET, SO_RCVBUF, &buf,
	    sizeof(buf)) == 0);
	ATF_REQUIRE(setsockopt(t.rs, SOL_SOCKET, SO_RCVBUF, &buf,
	    sizeof(buf)) == 0);
	setint(t.s, SOL_SOCKET, SO_TIMESTAMPING,
	    TXSW | SOF_TIMESTAMPING_OPT_ID);
	sysctl_get("kern.sotstamp.errq_drops", &drops0, sizeof(drops0));
	mbuf_types(&mb0);
	for (i = 0; i < SENDS; i++) {
		if (proto_send(t.p, t.s, &t.to, t.tolen, "0123456789abcdef",
		    16, NULL, 0) == -1) {
			ATF_REQUIRE_MSG(errno == ENOBUFS, "send %d: %s", i,
			    strerror(errno));
			fails++;
		}
	}
	mbuf_types(&mb1);
	sysctl_get("kern.sotstamp.errq_drops", &drops1, sizeof(drops1));
	grew = mbuf_growth(&mb0, &mb1);
	printf("mbufs +%d, drops %llu, send failures %d\n", grew,
	    (unsigned long long)(drops1 - drops0), fails);
	/* Unbounded would be 3 mbufs per send. */
	ATF_CHECK_MSG(grew < 1000, "mbufs grew by %d", grew);
	for (n = 0; recv_ts(t.s, MSG_ERRQUEUE, &r) == 0; n++) {
		ATF_REQUIRE_EQ(r.nerr, 1);
		ATF_REQUIRE_EQ(r.nts, 1);
	}
	printf("%d records queued\n", n);
	/*
	 * A record is 3 mbufs (two control messages and the payload),
	 * charged like a datagram: storage against sb_mbmax, twice
	 * SO_RCVBUF.
	 */
	ATF_CHECK_MSG(n > 0 && n * 3 * MSIZE <= 2 * RCVBUF,
	    "%d records for SO_RCVBUF %d", n, RCVBUF);
	ATF_CHECK_MSG(drops1 - drops0 >= (uint64_t)(SENDS - n - fails),
	    "%llu drops counted", (unsigned long long)(drops1 - drops0));
	/* The queue works again once drained. */
	tx_send(&t, "again", -1);
	ATF_REQUIRE_EQ(recv_ts(t.s, MSG_ERRQUEUE, &r), 0);
	ATF_CHECK_EQ(r.nerr, 1);
	txsock_close(&t);
}

/*
 * Random option values and lengths, control messages and receive
 * flags; under DIAGNOSTIC a panic would end the run.
 */
ATF_TC(txtimestamp_fuzz);
ATF_TC_HEAD(txtimestamp_fuzz, tc)
{
	atf_tc_set_md_var(tc, "descr", "10000 random timestamping inputs");
	atf_tc_set_md_var(tc, "timeout", "600");
	atf_tc_set_md_var(tc, "require.user", "root");	/* raw sockets */
}
ATF_TC_BODY(txtimestamp_fuzz, tc)
{
	static const int opts[] = {
		SO_TIMESTAMP, SO_TIMESTAMPNS, SO_TIMESTAMPING, SO_TIMESTAMP_CLOCK,
		SO_RCVBUF,
	};
	static const struct tsproto protos[] = {
		TSPROTO_UDP4, TSPROTO_UDP6, TSPROTO_RAW4, TSPROTO_RAW6,
	};
	struct txsock t[__arraycount(protos)];
	union {
		struct cmsghdr	align;
		unsigned char	buf[256];
	} cbuf;
	unsigned char val[32], data[512];
	struct cmsghdr *cm;
	struct msghdr msg;
	struct iovec iov;
	socklen_t len;
	unsigned seed;
	size_t i, j;
	int k, v;

	seed = (unsigned)time(NULL);
	printf("seed %u\n", seed);
	srandom(seed);
	for (j = 0; j < __arraycount(protos); j++) {
		txsock_open(&t[j], &protos[j]);
		setint(t[j].s, SOL_SOCKET, SO_RCVBUF, 32768);
	}
	for (i = 0; i < 10000; i++) {
		struct txsock *x = &t[random() % __arraycount(protos)];

		for (k = 0; k < (int)sizeof(val); k++)
			val[k] = random();
		switch (random() % 4) {
		case 0:		/* plausible flags */
			v = random() & (SOF_TIMESTAMPING_MASK |
			    (random() % 8 == 0 ? ~0 : 0));
			memcpy(val, &v, sizeof(v));
			break;
		case 1:
			v = random() % 8 - 2;
			memcpy(val, &v, sizeof(v));
			break;
		default:
			break;
		}
		len = random() % 3 ? sizeof(int) : random() % sizeof(val);
		(void)setsockopt(x->s, SOL_SOCKET,
		    opts[random() % __arraycount(opts)], val, len);
		len = random() % sizeof(val);
		(void)getsockopt(x->s, SOL_SOCKET,
		    opts[random() % __arraycount(opts)], val, &len);

		/* sendmsg with random, sometimes valid, control data */
		memset(&msg, 0, sizeof(msg));
		iov.iov_base = data;
		iov.iov_len = random() % 3 ? random() % 64 : 0;
		msg.msg_name = &x->to;
		msg.msg_namelen = x->tolen;
		msg.msg_iov = &iov;
		msg.msg_iovlen = 1;
		for (k = 0; k < (int)sizeof(cbuf.buf); k++)
			cbuf.buf[k] = random();
		cm = (struct cmsghdr *)cbuf.buf;
		switch (random() % 4) {
		case 0:
			break;
		case 1:
			msg.msg_control = cbuf.buf;
			msg.msg_controllen = random() % sizeof(cbuf.buf);
			break;
		default:
			cm->cmsg_level = SOL_SOCKET;
			cm->cmsg_type = SO_TIMESTAMPING;
			cm->cmsg_len = random() % 4 ?
			    CMSG_LEN(sizeof(int)) : (socklen_t)(random() % 40);
			v = random() % 2 ? SOF_TIMESTAMPING_TX_SOFTWARE :
			    (int)random();
			memcpy(CMSG_DATA(cm), &v, sizeof(v));
			msg.msg_control = cbuf.buf;
			msg.msg_controllen = random() % 4 ?
			    CMSG_SPACE(sizeof(int)) : CMSG_SPACE(sizeof(int)) +
			    random() % 64;
			break;
		}
		(void)sendmsg(x->s, &msg, MSG_DONTWAIT);

		/* recvmsg from either queue with random buffer sizes */
		memset(&msg, 0, sizeof(msg));
		iov.iov_base = data;
		iov.iov_len = random() % sizeof(data);
		msg.msg_iov = &iov;
		msg.msg_iovlen = 1;
		msg.msg_control = cbuf.buf;
		msg.msg_controllen = random() % sizeof(cbuf.buf);
		(void)recvmsg(random() % 2 ? x->s : x->rs, &msg, MSG_DONTWAIT |
		    (random() % 2 ? MSG_ERRQUEUE : 0) |
		    (random() % 8 == 0 ? MSG_PEEK : 0) |
		    (random() % 8 == 0 ? MSG_TRUNC : 0));
	}
	for (j = 0; j < __arraycount(protos); j++)
		txsock_close(&t[j]);
}

ATF_TP_ADD_TCS(tp)
{

	ATF_TP_ADD_TC(tp, txtimestamp_udp4);
	ATF_TP_ADD_TC(tp, txtimestamp_udp6);
	ATF_TP_ADD_TC(tp, txtimestamp_raw4);
	ATF_TP_ADD_TC(tp, txtimestamp_raw6);
	ATF_TP_ADD_TC(tp, txtimestamp_icmp6);
	ATF_TP_ADD_TC(tp, txtimestamp_udp4_tsonly);
	ATF_TP_ADD_TC(tp, txtimestamp_udp6_tsonly);
	ATF_TP_ADD_TC(tp, txtimestamp_cmsg_udp4);
	ATF_TP_ADD_TC(tp, txtimestamp_cmsg_raw6);
	ATF_TP_ADD_TC(tp, txtimestamp_optid_cmsg_udp4);
	ATF_TP_ADD_TC(tp, txtimestamp_optid_cmsg_udp6);
	ATF_TP_ADD_TC(tp, txtimestamp_optid_cmsg_raw4);
	ATF_TP_ADD_TC(tp, txtimestamp_optid_cmsg_raw6);
	ATF_TP_ADD_TC(tp, txtimestamp_optid_cmsg_tcp);
	ATF_TP_ADD_TC(tp, txtimestamp_optid_reset);
	ATF_TP_ADD_TC(tp, txtimestamp_errqueue_nonblock);
	ATF_TP_ADD_TC(tp, txtimestamp_poll_pollerr);
	ATF_TP_ADD_TC(tp, txtimestamp_wm0_udp4);
	ATF_TP_ADD_TC(tp, txtimestamp_wm0_udp6);
	ATF_TP_ADD_TC(tp, txtimestamp_errqueue_bounded);
	ATF_TP_ADD_TC(tp, txtimestamp_fuzz);
	return atf_no_error();
}
