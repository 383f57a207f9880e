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
 * TCP stamps over the life of a connection, as Linux gives them: TX
 * records per write(2)/sendmsg(2) whatever its size (sosend() hands a
 * write to TCP in chunks), RX stamps that stay with their segments
 * across short reads and SO_TIMESTAMPNS turned off and on, and the
 * timestamping options a listening socket passes to the sockets it
 * accepts.
 */

#include <netinet/tcp.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>

#include "tstamp_util.h"

#define	TX_BASE	(SOF_TIMESTAMPING_SOFTWARE | SOF_TIMESTAMPING_OPT_ID | \
		 SOF_TIMESTAMPING_OPT_TSONLY)
#define	MAXRECS	64
#define	BIGBUF	(128 * 1024)

/* A connected pair on the loopback address; *lsp listens. */
static int
tcp_connected(int af, int *lsp, int *asp, int bufsize)
{
	struct sockaddr_storage ss;
	socklen_t sslen;
	int cs;

	*lsp = bound_socket(af, SOCK_STREAM, 0, &ss, &sslen);
	/* An accepted socket takes the listener's buffer sizes. */
	if (bufsize > 0) {
		setint(*lsp, SOL_SOCKET, SO_RCVBUF, bufsize);
		setint(*lsp, SOL_SOCKET, SO_SNDBUF, bufsize);
	}
	ATF_REQUIRE(listen(*lsp, 1) == 0);
	cs = socket(af, SOCK_STREAM, 0);
	ATF_REQUIRE(cs != -1);
	if (bufsize > 0) {
		setint(cs, SOL_SOCKET, SO_RCVBUF, bufsize);
		setint(cs, SOL_SOCKET, SO_SNDBUF, bufsize);
	}
	ATF_REQUIRE(connect(cs, (struct sockaddr *)&ss, sslen) == 0);
	*asp = accept(*lsp, NULL, NULL);
	ATF_REQUIRE(*asp != -1);
	/* Each write goes as its own segment at once. */
	setint(cs, IPPROTO_TCP, TCP_NODELAY, 1);
	return cs;
}

/* One TX record: kind and key. */
struct txrec {
	uint32_t	info;
	uint32_t	key;
};

/*
 * Every error queue record of s until none came for quiet_ms (an ACK
 * record may wait for the peer's delayed ACK).  Returns the count.
 */
static int
tx_records(int s, struct txrec *recs, int max, int quiet_ms)
{
	struct pollfd pfd;
	struct tsmsg r;
	int n = 0;

	for (;;) {
		pfd.fd = s;
		pfd.events = 0;
		pfd.revents = 0;
		if (poll(&pfd, 1, quiet_ms) != 1)
			break;
		if (recv_ts(s, MSG_ERRQUEUE, &r) != 0)
			break;
		ATF_REQUIRE_EQ_MSG(r.nerr, 1, "record %d without its "
		    "sock_extended_err", n);
		ATF_CHECK_EQ(r.ee.ee_origin, SO_EE_ORIGIN_TIMESTAMPING);
		if (n < max) {
			recs[n].info = r.ee.ee_info;
			recs[n].key = r.ee.ee_data;
		}
		n++;
	}
	return n;
}

static const char *
tx_kind(uint32_t info)
{

	switch (info) {
	case SCM_TSTAMP_SND:
		return "SND";
	case SCM_TSTAMP_SCHED:
		return "SCHED";
	case SCM_TSTAMP_ACK:
		return "ACK";
	default:
		return "?";
	}
}

/* Exactly one record of each kind in info[], all with key. */
static void
tx_expect_once(const char *what, const struct txrec *recs, int n,
    const uint32_t *info, int ninfo, uint32_t key)
{
	int i, j, seen;

	for (i = 0; i < n && i < MAXRECS; i++)
		printf("%s: record %d: %s key %u\n", what, i,
		    tx_kind(recs[i].info), recs[i].key);
	ATF_CHECK_EQ_MSG(n, ninfo, "%s: %d records, want %d (one set per "
	    "write)", what, n, ninfo);
	for (j = 0; j < ninfo; j++) {
		seen = 0;
		for (i = 0; i < n && i < MAXRECS; i++) {
			if (recs[i].info != info[j])
				continue;
			seen++;
			ATF_CHECK_EQ_MSG(recs[i].key, key, "%s: %s key %u, "
			    "want %u (the write's last byte)", what,
			    tx_kind(info[j]), recs[i].key, key);
		}
		ATF_CHECK_EQ_MSG(seen, 1, "%s: %d %s records", what, seen,
		    tx_kind(info[j]));
	}
}

/* Read exactly len bytes from s. */
static void
drain(int s, size_t len)
{
	static char buf[BIGBUF];
	ssize_t n;

	while (len > 0) {
		n = read(s, buf, MIN(len, sizeof(buf)));
		ATF_REQUIRE_MSG(n > 0, "read: %s", n == 0 ? "EOF" :
		    strerror(errno));
		len -= (size_t)n;
	}
}

/*
 * write(5000) with TX_SOFTWARE and OPT_ID: one SND record, key 4999
 * (Linux), not one per chunk sosend() hands to TCP.
 */
static void
tx_one_write(int af)
{
	static const uint32_t snd[] = { SCM_TSTAMP_SND };
	static char buf[5000];
	struct txrec recs[MAXRECS];
	int ls, as, cs, n;

	cs = tcp_connected(af, &ls, &as, 0);
	setint(cs, SOL_SOCKET, SO_TIMESTAMPING, TX_BASE |
	    SOF_TIMESTAMPING_TX_SOFTWARE);
	memset(buf, 'w', sizeof(buf));
	ATF_REQUIRE_EQ(write(cs, buf, sizeof(buf)), (ssize_t)sizeof(buf));
	n = tx_records(cs, recs, MAXRECS, 500);
	tx_expect_once("write(5000)", recs, n, snd, 1, 4999);
	drain(as, sizeof(buf));
	close(cs);
	close(as);
	close(ls);
}

ATF_TC(tstamp_tcp_tx_per_write_v4);
ATF_TC_HEAD(tstamp_tcp_tx_per_write_v4, tc)
{
	atf_tc_set_md_var(tc, "descr", "TCP/IPv4 write(5000) with TX_SOFTWARE "
	    "and OPT_ID: one SND record, key 4999");
}
ATF_TC_BODY(tstamp_tcp_tx_per_write_v4, tc)
{

	tx_one_write(AF_INET);
}

ATF_TC(tstamp_tcp_tx_per_write_v6);
ATF_TC_HEAD(tstamp_tcp_tx_per_write_v6, tc)
{
	atf_tc_set_md_var(tc, "descr", "TCP/IPv6 write(5000) with TX_SOFTWARE "
	    "and OPT_ID: one SND record, key 4999");
}
ATF_TC_BODY(tstamp_tcp_tx_per_write_v6, tc)
{

	tx_one_write(AF_INET6);
}

ATF_TC(tstamp_tcp_tx_sendmsg_cmsg);
ATF_TC_HEAD(tstamp_tcp_tx_sendmsg_cmsg, tc)
{
	atf_tc_set_md_var(tc, "descr", "TCP sendmsg(5000) asking for "
	    "TX_SOFTWARE by control message: one SND record, key 4999");
}
ATF_TC_BODY(tstamp_tcp_tx_sendmsg_cmsg, tc)
{
	static const uint32_t snd[] = { SCM_TSTAMP_SND };
	static char buf[5000];
	union {
		struct cmsghdr	align;
		char		buf[CMSG_SPACE(sizeof(int))];
	} cbuf;
	struct txrec recs[MAXRECS];
	struct cmsghdr *cm;
	struct msghdr msg;
	struct iovec iov;
	int ls, as, cs, n, f = SOF_TIMESTAMPING_TX_SOFTWARE;

	cs = tcp_connected(AF_INET, &ls, &as, 0);
	setint(cs, SOL_SOCKET, SO_TIMESTAMPING, TX_BASE);
	memset(buf, 'c', sizeof(buf));
	memset(&cbuf, 0, sizeof(cbuf));
	msg_setup(&msg, &iov, buf, sizeof(buf), cbuf.buf, sizeof(cbuf.buf));
	cm = CMSG_FIRSTHDR(&msg);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SO_TIMESTAMPING;
	cm->cmsg_len = CMSG_LEN(sizeof(f));
	memcpy(CMSG_DATA(cm), &f, sizeof(f));
	ATF_REQUIRE_EQ_MSG(sendmsg(cs, &msg, 0), (ssize_t)sizeof(buf),
	    "sendmsg: %s", strerror(errno));
	n = tx_records(cs, recs, MAXRECS, 500);
	tx_expect_once("sendmsg(5000)", recs, n, snd, 1, 4999);
	/* The control message asked for this write only. */
	ATF_REQUIRE_EQ(write(cs, buf, 100), 100);
	ATF_CHECK_EQ_MSG(tx_records(cs, recs, MAXRECS, 300), 0,
	    "records for a write that asked for none");
	drain(as, sizeof(buf) + 100);
	close(cs);
	close(as);
	close(ls);
}

/*
 * A 64 KB write asking for SCHED, SND and ACK: one record of each,
 * nothing dropped (a write used to take a mark per 2 KB chunk, and the
 * socket keeps 16).
 */
ATF_TC(tstamp_tcp_tx_64k_write);
ATF_TC_HEAD(tstamp_tcp_tx_64k_write, tc)
{
	atf_tc_set_md_var(tc, "descr", "TCP write(65536) with TX_SCHED, "
	    "TX_SOFTWARE, TX_ACK: one record of each, key 65535, no drops");
}
ATF_TC_BODY(tstamp_tcp_tx_64k_write, tc)
{
	static const uint32_t all[] = { SCM_TSTAMP_SCHED, SCM_TSTAMP_SND,
	    SCM_TSTAMP_ACK };
	static const uint32_t ack[] = { SCM_TSTAMP_ACK };
	static char buf[65536];
	struct txrec recs[MAXRECS];
	int ls, as, cs, n;

	/* Buffers that take the whole write without a reader. */
	cs = tcp_connected(AF_INET, &ls, &as, BIGBUF);
	setint(cs, SOL_SOCKET, SO_TIMESTAMPING, TX_BASE |
	    SOF_TIMESTAMPING_TX_ACK);
	memset(buf, 'k', sizeof(buf));
	ATF_REQUIRE_EQ(write(cs, buf, sizeof(buf)), (ssize_t)sizeof(buf));
	n = tx_records(cs, recs, MAXRECS, 1000);
	tx_expect_once("write(65536), TX_ACK", recs, n, ack, 1, 65535);
	ATF_CHECK_EQ(getint(cs, SOL_SOCKET, SO_ERRQUEUE_DROPS), 0);
	drain(as, sizeof(buf));

	setint(cs, SOL_SOCKET, SO_TIMESTAMPING, TX_BASE |
	    SOF_TIMESTAMPING_TX_SCHED | SOF_TIMESTAMPING_TX_SOFTWARE |
	    SOF_TIMESTAMPING_TX_ACK);
	ATF_REQUIRE_EQ(write(cs, buf, sizeof(buf)), (ssize_t)sizeof(buf));
	n = tx_records(cs, recs, MAXRECS, 1000);
	tx_expect_once("write(65536), SCHED+SND+ACK", recs, n, all, 3,
	    2 * 65536 - 1);
	ATF_CHECK_EQ(getint(cs, SOL_SOCKET, SO_ERRQUEUE_DROPS), 0);
	drain(as, sizeof(buf));
	close(cs);
	close(as);
	close(ls);
}

/*
 * A non-blocking write(65536) that the send buffer cuts short: at most
 * one record set, at the last byte it wrote (none if that byte left
 * while the call went on, as on Linux), and the next call gets its own.
 */
ATF_TC(tstamp_tcp_tx_short_write);
ATF_TC_HEAD(tstamp_tcp_tx_short_write, tc)
{
	atf_tc_set_md_var(tc, "descr", "TCP: a non-blocking write cut short "
	    "has at most one record, at its last byte");
}
ATF_TC_BODY(tstamp_tcp_tx_short_write, tc)
{
	static const uint32_t ack[] = { SCM_TSTAMP_ACK };
	static char buf[65536];
	struct txrec recs[MAXRECS];
	ssize_t len;
	int ls, as, cs, n, fl;

	cs = tcp_connected(AF_INET, &ls, &as, 8192);
	setint(cs, SOL_SOCKET, SO_TIMESTAMPING, TX_BASE |
	    SOF_TIMESTAMPING_TX_ACK);
	memset(buf, 'p', sizeof(buf));
	fl = fcntl(cs, F_GETFL);
	ATF_REQUIRE(fl != -1 && fcntl(cs, F_SETFL, fl | O_NONBLOCK) == 0);
	len = write(cs, buf, sizeof(buf));
	ATF_REQUIRE_MSG(len > 0 && len < (ssize_t)sizeof(buf), "write(65536) "
	    "on 8 KB buffers returned %zd (%s)", len,
	    len == -1 ? strerror(errno) : "not short");
	ATF_REQUIRE(fcntl(cs, F_SETFL, fl) == 0);
	drain(as, (size_t)len);
	n = tx_records(cs, recs, MAXRECS, 1000);
	printf("write returned %zd, %d records\n", len, n);
	ATF_CHECK_MSG(n <= 1, "%d records for one write", n);
	if (n == 1)
		tx_expect_once("short write", recs, n, ack, 1,
		    (uint32_t)len - 1);
	ATF_REQUIRE_EQ(write(cs, buf, 100), 100);
	drain(as, 100);
	n = tx_records(cs, recs, MAXRECS, 1000);
	tx_expect_once("the next write(100)", recs, n, ack, 1,
	    (uint32_t)len + 100 - 1);
	close(cs);
	close(as);
	close(ls);
}

/*
 * The SCHED key of a 4000-byte write after 1549 earlier bytes is the
 * offset of its last byte, 5548, as on Linux.
 */
ATF_TC(tstamp_tcp_tx_sched_key);
ATF_TC_HEAD(tstamp_tcp_tx_sched_key, tc)
{
	atf_tc_set_md_var(tc, "descr", "TCP TX_SCHED: a 4000-byte write after "
	    "1549 bytes has one record, key 5548");
}
ATF_TC_BODY(tstamp_tcp_tx_sched_key, tc)
{
	static const uint32_t sched[] = { SCM_TSTAMP_SCHED };
	static char buf[4000];
	struct txrec recs[MAXRECS];
	int ls, as, cs, n;

	cs = tcp_connected(AF_INET, &ls, &as, 0);
	setint(cs, SOL_SOCKET, SO_TIMESTAMPING, TX_BASE |
	    SOF_TIMESTAMPING_TX_SCHED);
	memset(buf, 's', sizeof(buf));
	ATF_REQUIRE_EQ(write(cs, buf, 1549), 1549);
	n = tx_records(cs, recs, MAXRECS, 300);
	tx_expect_once("write(1549)", recs, n, sched, 1, 1548);
	ATF_REQUIRE_EQ(write(cs, buf, sizeof(buf)), (ssize_t)sizeof(buf));
	n = tx_records(cs, recs, MAXRECS, 300);
	tx_expect_once("write(4000)", recs, n, sched, 1, 1549 + 4000 - 1);
	drain(as, 1549 + sizeof(buf));
	close(cs);
	close(as);
	close(ls);
}

/* cs writes len bytes; [*lo, *hi]: when. */
static void
timed_write(int cs, size_t len, int64_t *lo, int64_t *hi)
{
	static char buf[1000];

	ATF_REQUIRE(len <= sizeof(buf));
	memset(buf, 'r', len);
	*lo = now_ns(CLOCK_REALTIME);
	ATF_REQUIRE_EQ(write(cs, buf, len), (ssize_t)len);
	*hi = now_ns(CLOCK_REALTIME);
	/* Let it arrive, and keep the segments' stamps apart. */
	usleep(100000);
}

/* Read len bytes as one recvmsg(); check the stamp is in [lo, hi]. */
static void
read_stamped(int as, size_t len, const char *what, int64_t lo, int64_t hi)
{
	struct msghdr msg;
	struct iovec iov;
	struct tsmsg r;
	union {
		struct cmsghdr	align;
		char		buf[256];
	} cbuf;

	memset(&r, 0, sizeof(r));
	ATF_REQUIRE(len <= sizeof(r.data));
	msg_setup(&msg, &iov, r.data, len, cbuf.buf, sizeof(cbuf.buf));
	ATF_REQUIRE_EQ_MSG(recvmsg(as, &msg, 0), (ssize_t)len, "%s: recvmsg: "
	    "%s", what, strerror(errno));
	sort_cmsgs(&msg, &r);
	if (lo == 0) {
		ATF_CHECK_EQ_MSG(r.nns, 0, "%s: a stamp for bytes that "
		    "arrived while stamping was off", what);
		return;
	}
	ATF_REQUIRE_EQ_MSG(r.nns, 1, "%s: no SCM_TIMESTAMPNS", what);
	check_between(what, lo, ts_ns(&r.ns), hi);
}

/*
 * A MSG_WAITALL read that SO_RCVTIMEO ends with 500 bytes (a read
 * longer than the receive buffer does not wait for it all before it
 * starts): it gets its segment's stamp, and the reads after it still
 * get their own segments' stamps.
 */
ATF_TC(tstamp_tcp_rx_waitall_short);
ATF_TC_HEAD(tstamp_tcp_rx_waitall_short, tc)
{
	atf_tc_set_md_var(tc, "descr", "TCP RX stamps after a MSG_WAITALL read "
	    "that SO_RCVTIMEO ended early stay with their segments");
}
ATF_TC_BODY(tstamp_tcp_rx_waitall_short, tc)
{
	/* More than kern.sbmax: no receive buffer holds it. */
	static char buf[300 * 1024];
	struct timeval tmo = { 0, 300000 };
	union {
		struct cmsghdr	align;
		char		buf[256];
	} cbuf;
	struct msghdr msg;
	struct iovec iov;
	struct tsmsg r;
	char name[32];
	int64_t lo, hi;
	int ls, as, cs, i;

	cs = tcp_connected(AF_INET, &ls, &as, 0);
	setint(as, SOL_SOCKET, SO_TIMESTAMPNS, 1);
	ATF_REQUIRE(setsockopt(as, SOL_SOCKET, SO_RCVTIMEO, &tmo,
	    sizeof(tmo)) == 0);
	timed_write(cs, 500, &lo, &hi);
	msg_setup(&msg, &iov, buf, sizeof(buf), cbuf.buf, sizeof(cbuf.buf));
	ATF_REQUIRE_EQ_MSG(recvmsg(as, &msg, MSG_WAITALL), 500,
	    "recvmsg(MSG_WAITALL) did not end with the 500 bytes there");
	memset(&r, 0, sizeof(r));
	sort_cmsgs(&msg, &r);
	ATF_CHECK_EQ_MSG(r.nns, 1, "no SCM_TIMESTAMPNS on the short read");
	if (r.nns == 1)
		check_between("segment 1, short read", lo, ts_ns(&r.ns), hi);
	for (i = 2; i <= 5; i++) {
		snprintf(name, sizeof(name), "segment %d", i);
		timed_write(cs, 100, &lo, &hi);
		read_stamped(as, 100, name, lo, hi);
	}
	close(cs);
	close(as);
	close(ls);
}

/*
 * SO_TIMESTAMPNS off, a segment, on again: each later read gets its
 * own segment's stamp, not a later one's.
 */
ATF_TC(tstamp_tcp_rx_toggle);
ATF_TC_HEAD(tstamp_tcp_rx_toggle, tc)
{
	atf_tc_set_md_var(tc, "descr", "TCP RX stamps after SO_TIMESTAMPNS is "
	    "turned off and on stay with their segments");
}
ATF_TC_BODY(tstamp_tcp_rx_toggle, tc)
{
	int64_t lo1, hi1, lo3, hi3, lo4, hi4;
	int ls, as, cs;

	cs = tcp_connected(AF_INET, &ls, &as, 0);
	setint(as, SOL_SOCKET, SO_TIMESTAMPNS, 1);
	timed_write(cs, 100, &lo1, &hi1);
	read_stamped(as, 100, "segment 1", lo1, hi1);
	setint(as, SOL_SOCKET, SO_TIMESTAMPNS, 0);
	timed_write(cs, 100, &lo3, &hi3);
	read_stamped(as, 100, "segment 2, stamping off", 0, 0);
	setint(as, SOL_SOCKET, SO_TIMESTAMPNS, 1);
	timed_write(cs, 100, &lo3, &hi3);
	timed_write(cs, 100, &lo4, &hi4);
	read_stamped(as, 100, "segment 3", lo3, hi3);
	read_stamped(as, 100, "segment 4", lo4, hi4);

	/* Off and on with bytes unread: they stay unstamped. */
	setint(as, SOL_SOCKET, SO_TIMESTAMPNS, 0);
	timed_write(cs, 100, &lo1, &hi1);
	setint(as, SOL_SOCKET, SO_TIMESTAMPNS, 1);
	timed_write(cs, 100, &lo3, &hi3);
	read_stamped(as, 100, "segment 5, stamping off", 0, 0);
	read_stamped(as, 100, "segment 6", lo3, hi3);
	close(cs);
	close(as);
	close(ls);
}

/*
 * An accepted socket takes the listener's SO_TIMESTAMPNS,
 * SO_TIMESTAMPING and SO_TIMESTAMP_CLOCK, as on Linux.
 */
ATF_TC(tstamp_tcp_accept_inherits);
ATF_TC_HEAD(tstamp_tcp_accept_inherits, tc)
{
	atf_tc_set_md_var(tc, "descr", "accept(2) gives a socket the "
	    "listener's SO_TIMESTAMPNS, SO_TIMESTAMPING, SO_TIMESTAMP_CLOCK");
}
ATF_TC_BODY(tstamp_tcp_accept_inherits, tc)
{
	const int f = SOF_TIMESTAMPING_RX_SOFTWARE |
	    SOF_TIMESTAMPING_SOFTWARE | SOF_TIMESTAMPING_TX_ACK |
	    SOF_TIMESTAMPING_OPT_ID | SOF_TIMESTAMPING_OPT_TSONLY;
	struct sockaddr_storage ss;
	socklen_t sslen;
	struct tsmsg r;
	int64_t lo, hi;
	int ls, as, cs;

	ls = bound_socket(AF_INET, SOCK_STREAM, 0, &ss, &sslen);
	setint(ls, SOL_SOCKET, SO_TIMESTAMPNS, 1);
	setint(ls, SOL_SOCKET, SO_TIMESTAMPING, f);
	setint(ls, SOL_SOCKET, SO_TIMESTAMP_CLOCK, CLOCK_MONOTONIC);
	ATF_REQUIRE(listen(ls, 1) == 0);
	cs = socket(AF_INET, SOCK_STREAM, 0);
	ATF_REQUIRE(cs != -1);
	ATF_REQUIRE(connect(cs, (struct sockaddr *)&ss, sslen) == 0);
	as = accept(ls, NULL, NULL);
	ATF_REQUIRE(as != -1);
	ATF_CHECK_EQ_MSG(getint(as, SOL_SOCKET, SO_TIMESTAMPNS), 1,
	    "SO_TIMESTAMPNS not inherited");
	ATF_CHECK_EQ_MSG(getint(as, SOL_SOCKET, SO_TIMESTAMPING), f,
	    "SO_TIMESTAMPING %#x, the listener's %#x",
	    getint(as, SOL_SOCKET, SO_TIMESTAMPING), f);
	ATF_CHECK_EQ_MSG(getint(as, SOL_SOCKET, SO_TIMESTAMP_CLOCK),
	    CLOCK_MONOTONIC, "SO_TIMESTAMP_CLOCK not inherited");

	lo = now_ns(CLOCK_MONOTONIC);
	ATF_REQUIRE_EQ(write(cs, "inherit", 7), 7);
	hi = now_ns(CLOCK_MONOTONIC);
	ATF_REQUIRE(wait_readable(as, 2000));
	ATF_REQUIRE_EQ(recv_ts(as, 0, &r), 0);
	ATF_CHECK_EQ(r.len, 7);
	ATF_CHECK_EQ_MSG(r.nns, 1, "no SCM_TIMESTAMPNS on the accepted "
	    "socket");
	ATF_CHECK_EQ_MSG(r.nts, 1, "no SCM_TIMESTAMPING on the accepted "
	    "socket");
	if (r.nns == 1)
		check_between("SCM_TIMESTAMPNS, monotonic", lo, ts_ns(&r.ns),
		    hi);
	if (r.nts == 1)
		check_between("SCM_TIMESTAMPING, monotonic", lo,
		    ts_ns(&r.ts.ts[0]), hi);
	close(cs);
	close(as);
	close(ls);
}

/*
 * An accepted socket's SO_TIMESTAMP holds its own reference on the
 * count of sockets that want RX software stamps: closing the listener
 * leaves the link layers stamping for it, closing it gives the count
 * back.
 */
ATF_TC(tstamp_tcp_accept_rx_users);
ATF_TC_HEAD(tstamp_tcp_accept_rx_users, tc)
{
	atf_tc_set_md_var(tc, "descr", "an inherited SO_TIMESTAMP counts in "
	    "kern.sotstamp.rx_users until the accepted socket closes");
}
ATF_TC_BODY(tstamp_tcp_accept_rx_users, tc)
{
	struct sockaddr_storage ss;
	socklen_t sslen;
	struct linger lg = { 1, 0 };
	struct tsmsg r;
	u_int base;
	int ls, as, cs;

	base = sysctl_uint("kern.sotstamp.rx_users");
	ls = bound_socket(AF_INET, SOCK_STREAM, 0, &ss, &sslen);
	setint(ls, SOL_SOCKET, SO_TIMESTAMP, 1);
	ATF_CHECK_EQ(sysctl_uint("kern.sotstamp.rx_users"), base + 1);
	ATF_REQUIRE(listen(ls, 1) == 0);
	cs = socket(AF_INET, SOCK_STREAM, 0);
	ATF_REQUIRE(cs != -1);
	ATF_REQUIRE(connect(cs, (struct sockaddr *)&ss, sslen) == 0);
	as = accept(ls, NULL, NULL);
	ATF_REQUIRE(as != -1);
	ATF_CHECK_EQ(getint(as, SOL_SOCKET, SO_TIMESTAMP), 1);
	ATF_CHECK_EQ_MSG(sysctl_uint("kern.sotstamp.rx_users"), base + 2,
	    "rx_users %u, want %u: the accepted socket holds no reference",
	    sysctl_uint("kern.sotstamp.rx_users"), base + 2);
	close(ls);
	ATF_CHECK_EQ_MSG(sysctl_uint("kern.sotstamp.rx_users"), base + 1,
	    "rx_users %u after the listener closed, want %u",
	    sysctl_uint("kern.sotstamp.rx_users"), base + 1);
	ATF_REQUIRE_EQ(write(cs, "ref", 3), 3);
	ATF_REQUIRE(wait_readable(as, 2000));
	ATF_REQUIRE_EQ(recv_ts(as, 0, &r), 0);
	ATF_CHECK_EQ(r.ntv, 1);
	/* A reset frees the socket at once (no TIME_WAIT). */
	ATF_REQUIRE(setsockopt(as, SOL_SOCKET, SO_LINGER, &lg,
	    sizeof(lg)) == 0);
	close(as);
	close(cs);
	usleep(100000);
	ATF_CHECK_EQ_MSG(sysctl_uint("kern.sotstamp.rx_users"), base,
	    "rx_users %u after both closed, want %u",
	    sysctl_uint("kern.sotstamp.rx_users"), base);
}

ATF_TP_ADD_TCS(tp)
{

	ATF_TP_ADD_TC(tp, tstamp_tcp_tx_per_write_v4);
	ATF_TP_ADD_TC(tp, tstamp_tcp_tx_per_write_v6);
	ATF_TP_ADD_TC(tp, tstamp_tcp_tx_sendmsg_cmsg);
	ATF_TP_ADD_TC(tp, tstamp_tcp_tx_64k_write);
	ATF_TP_ADD_TC(tp, tstamp_tcp_tx_sched_key);
	ATF_TP_ADD_TC(tp, tstamp_tcp_tx_short_write);
	ATF_TP_ADD_TC(tp, tstamp_tcp_rx_waitall_short);
	ATF_TP_ADD_TC(tp, tstamp_tcp_rx_toggle);
	ATF_TP_ADD_TC(tp, tstamp_tcp_accept_inherits);
	ATF_TP_ADD_TC(tp, tstamp_tcp_accept_rx_users);
	return atf_no_error();
}
