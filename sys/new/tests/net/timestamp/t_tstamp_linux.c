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
 * Linux programs ported unchanged: they compare cmsg_type with the
 * option names (linuxptp's sk.c, Linux's own selftests), and a
 * recorder learns how many datagrams the socket dropped from
 * SO_RXQ_OVFL.  Behaviour from Linux's socket(7) and
 * Documentation/networking/timestamping.rst.
 */

#include <netinet/tcp.h>

#include "tstamp_util.h"

#define	ALLRX	(SOF_TIMESTAMPING_SOFTWARE | SOF_TIMESTAMPING_RX_SOFTWARE)

/*
 * As Linux programs read their stamps: by the option's name.  The
 * assertions are at compile time too, so a header that breaks the rule
 * does not build.
 */
__CTASSERT(SCM_TIMESTAMPING == SO_TIMESTAMPING);
__CTASSERT(SCM_TIMESTAMPNS == SO_TIMESTAMPNS);
__CTASSERT(SCM_RXQ_OVFL == SO_RXQ_OVFL);

ATF_TC(tstamp_cmsg_type_is_option);
ATF_TC_HEAD(tstamp_cmsg_type_is_option, tc)
{
	atf_tc_set_md_var(tc, "descr", "cmsg_type == SO_TIMESTAMPING and "
	    "== SO_TIMESTAMPNS find the stamps, as in Linux programs");
}
ATF_TC_BODY(tstamp_cmsg_type_is_option, tc)
{
	struct sockaddr_storage ss;
	socklen_t sslen;
	struct msghdr msg;
	struct iovec iov;
	struct cmsghdr *cm;
	union {
		struct cmsghdr	align;
		char		buf[512];
	} cbuf;
	char data[64];
	int rs, s, nts = 0, nns = 0;

	rs = bound_socket(AF_INET, SOCK_DGRAM, 0, &ss, &sslen);
	setint(rs, SOL_SOCKET, SO_TIMESTAMPNS, 1);
	setint(rs, SOL_SOCKET, SO_TIMESTAMPING, ALLRX);
	s = socket(AF_INET, SOCK_DGRAM, 0);
	ATF_REQUIRE(s != -1);
	ATF_REQUIRE(sendto(s, "x", 1, 0, (struct sockaddr *)&ss, sslen) == 1);
	ATF_REQUIRE(wait_readable(rs, 5000));
	msg_setup(&msg, &iov, data, sizeof(data), cbuf.buf,
	    sizeof(cbuf.buf));
	ATF_REQUIRE(recvmsg(rs, &msg, 0) == 1);
	for (cm = CMSG_FIRSTHDR(&msg); cm != NULL; cm = CMSG_NXTHDR(&msg, cm)) {
		if (cm->cmsg_level != SOL_SOCKET)
			continue;
		if (cm->cmsg_type == SO_TIMESTAMPING &&
		    cm->cmsg_len == CMSG_LEN(sizeof(struct scm_timestamping)))
			nts++;
		if (cm->cmsg_type == SO_TIMESTAMPNS &&
		    cm->cmsg_len == CMSG_LEN(sizeof(struct timespec)))
			nns++;
	}
	ATF_CHECK_EQ_MSG(nts, 1, "%d messages of type SO_TIMESTAMPING", nts);
	ATF_CHECK_EQ_MSG(nns, 1, "%d messages of type SO_TIMESTAMPNS", nns);
	close(s);
	close(rs);
}

/* The SO_RXQ_OVFL count of r's datagram, 0 if it carried none. */
static uint32_t
recv_ovfl(int s, bool *got)
{
	struct msghdr msg;
	struct iovec iov;
	struct cmsghdr *cm;
	union {
		struct cmsghdr	align;
		char		buf[256];
	} cbuf;
	char data[2048];
	uint32_t n = 0;

	msg_setup(&msg, &iov, data, sizeof(data), cbuf.buf,
	    sizeof(cbuf.buf));
	*got = recvmsg(s, &msg, MSG_DONTWAIT) != -1;
	if (!*got)
		return 0;
	for (cm = CMSG_FIRSTHDR(&msg); cm != NULL; cm = CMSG_NXTHDR(&msg, cm))
		if (cm->cmsg_level == SOL_SOCKET &&
		    cm->cmsg_type == SO_RXQ_OVFL &&
		    cm->cmsg_len == CMSG_LEN(sizeof(n)))
			memcpy(&n, CMSG_DATA(cm), sizeof(n));
	return n;
}

/*
 * A small SO_RCVBUF, 200 datagrams, then read: the datagrams read plus
 * the drop count the last one reports make 200.  The count is read
 * when a datagram is queued, so send one more after draining to learn
 * the final count, as a recorder would see it on its next datagram.
 */
static void
rxq_ovfl(const struct tsproto *p)
{
	enum { SENDS = 200 };
	struct sockaddr_storage ss;
	socklen_t sslen;
	char buf[512];
	uint32_t drops = 0, n;
	int rs, s, i, got = 0, sent = 0, small = 4096;
	bool ok;

	rs = proto_socket(p, &ss, &sslen);
	ATF_REQUIRE(setsockopt(rs, SOL_SOCKET, SO_RCVBUF, &small,
	    sizeof(small)) == 0);
	setint(rs, SOL_SOCKET, SO_RXQ_OVFL, 1);
	ATF_CHECK_EQ(getint(rs, SOL_SOCKET, SO_RXQ_OVFL), 1);
	s = socket(p->af, p->type, p->proto);
	ATF_REQUIRE(s != -1);
	memset(buf, 'o', sizeof(buf));
	/* ENOBUFS: the stack's input queue, not the socket, was full. */
	for (i = 0; i < SENDS; i++) {
		if (proto_send(p, s, &ss, sslen, buf, sizeof(buf), NULL, 0)
		    != -1)
			sent++;
		else
			ATF_REQUIRE_MSG(errno == ENOBUFS, "send: %s",
			    strerror(errno));
	}
	for (;;) {
		n = recv_ovfl(rs, &ok);
		if (!ok)
			break;
		ATF_CHECK_MSG(n >= drops, "count went back: %u < %u", n,
		    drops);
		drops = n;
		got++;
	}
	ATF_REQUIRE(proto_send(p, s, &ss, sslen, "last", 4, NULL, 0) != -1);
	ATF_REQUIRE(wait_readable(rs, 5000));
	drops = recv_ovfl(rs, &ok);
	ATF_REQUIRE(ok);
	printf("%s: %d sent, %d received, %u dropped (SO_OVERFLOWED %d)\n",
	    p->name, sent, got, drops, getint(rs, SOL_SOCKET, SO_OVERFLOWED));
	ATF_CHECK_MSG(drops > 0, "nothing dropped: SO_RCVBUF too large?");
	ATF_CHECK_EQ_MSG(got + (int)drops, sent, "%d received + %u dropped "
	    "of %d sent", got, drops, sent);
	close(s);
	close(rs);
}

TSTAMP_PROTO_TC(tstamp_rxq_ovfl_udp4, rxq_ovfl, TSPROTO_UDP4)
TSTAMP_PROTO_TC(tstamp_rxq_ovfl_udp6, rxq_ovfl, TSPROTO_UDP6)
TSTAMP_PROTO_TC(tstamp_rxq_ovfl_raw4, rxq_ovfl, TSPROTO_RAW4)
TSTAMP_PROTO_TC(tstamp_rxq_ovfl_raw6, rxq_ovfl, TSPROTO_RAW6)

/* Linux attaches the count only once there are drops. */
ATF_TC(tstamp_rxq_ovfl_none);
ATF_TC_HEAD(tstamp_rxq_ovfl_none, tc)
{
	atf_tc_set_md_var(tc, "descr", "no drops: no SO_RXQ_OVFL message; "
	    "the option off: never one");
}
ATF_TC_BODY(tstamp_rxq_ovfl_none, tc)
{
	struct sockaddr_storage ss;
	socklen_t sslen;
	struct msghdr msg;
	struct iovec iov;
	union {
		struct cmsghdr	align;
		char		buf[256];
	} cbuf;
	char data[16];
	int rs, s;

	rs = bound_socket(AF_INET, SOCK_DGRAM, 0, &ss, &sslen);
	ATF_CHECK_EQ(getint(rs, SOL_SOCKET, SO_RXQ_OVFL), 0);
	setint(rs, SOL_SOCKET, SO_RXQ_OVFL, 1);
	s = socket(AF_INET, SOCK_DGRAM, 0);
	ATF_REQUIRE(s != -1);
	ATF_REQUIRE(sendto(s, "x", 1, 0, (struct sockaddr *)&ss, sslen) == 1);
	ATF_REQUIRE(wait_readable(rs, 5000));
	msg_setup(&msg, &iov, data, sizeof(data), cbuf.buf,
	    sizeof(cbuf.buf));
	ATF_REQUIRE(recvmsg(rs, &msg, 0) == 1);
	ATF_CHECK_EQ_MSG(msg.msg_controllen, 0, "%u bytes of control data",
	    (unsigned)msg.msg_controllen);
	setint(rs, SOL_SOCKET, SO_RXQ_OVFL, 0);
	ATF_CHECK_EQ(getint(rs, SOL_SOCKET, SO_RXQ_OVFL), 0);
	close(s);
	close(rs);
}

/*
 * TCP, as Linux does it: a read returns the stamp of the most recent
 * segment whose data it returns.  Two segments 100 ms apart; reading
 * the first byte alone gives the first segment's stamp, a read that
 * ends in the second gives the second's.
 */
static void
tcp_last_segment(int af)
{
	struct sockaddr_storage ss;
	socklen_t sslen;
	struct tsmsg r;
	int64_t t0, t1, t2;
	int ls, cs, as;

	ls = bound_socket(af, SOCK_STREAM, 0, &ss, &sslen);
	ATF_REQUIRE(listen(ls, 1) == 0);
	cs = socket(af, SOCK_STREAM, 0);
	ATF_REQUIRE(cs != -1);
	ATF_REQUIRE(connect(cs, (struct sockaddr *)&ss, sslen) == 0);
	as = accept(ls, NULL, NULL);
	ATF_REQUIRE(as != -1);
	setint(as, SOL_SOCKET, SO_TIMESTAMPNS, 1);
	/* Else Nagle holds "cd" until the delayed ACK of "ab". */
	setint(cs, IPPROTO_TCP, TCP_NODELAY, 1);

	t0 = now_ns(CLOCK_REALTIME);
	ATF_REQUIRE(write(cs, "ab", 2) == 2);
	t1 = now_ns(CLOCK_REALTIME);
	usleep(100000);
	ATF_REQUIRE(write(cs, "cd", 2) == 2);
	t2 = now_ns(CLOCK_REALTIME);
	usleep(100000);

	/* One byte of the first segment. */
	memset(&r, 0, sizeof(r));
	{
		struct msghdr msg;
		struct iovec iov;
		union {
			struct cmsghdr	align;
			char		buf[256];
		} cbuf;

		msg_setup(&msg, &iov, r.data, 1, cbuf.buf,
		    sizeof(cbuf.buf));
		ATF_REQUIRE(recvmsg(as, &msg, 0) == 1);
		sort_cmsgs(&msg, &r);
	}
	ATF_REQUIRE_EQ_MSG(r.nns, 1, "no SCM_TIMESTAMPNS on a TCP read");
	check_between("first segment", t0, ts_ns(&r.ns), t1);
	/* The rest: it ends in the second segment. */
	ATF_REQUIRE_EQ(recv_ts(as, 0, &r), 0);
	ATF_CHECK_EQ(r.len, 3);
	ATF_REQUIRE_EQ(r.nns, 1);
	check_between("second segment", t1, ts_ns(&r.ns), t2);
	close(as);
	close(cs);
	close(ls);
}

ATF_TC(tstamp_tcp_last_segment_v4);
ATF_TC_HEAD(tstamp_tcp_last_segment_v4, tc)
{
	atf_tc_set_md_var(tc, "descr", "TCP over IPv4: the stamp of the last "
	    "segment a read returns data of");
}
ATF_TC_BODY(tstamp_tcp_last_segment_v4, tc)
{

	tcp_last_segment(AF_INET);
}

ATF_TC(tstamp_tcp_last_segment_v6);
ATF_TC_HEAD(tstamp_tcp_last_segment_v6, tc)
{
	atf_tc_set_md_var(tc, "descr", "TCP over IPv6: the stamp of the last "
	    "segment a read returns data of");
}
ATF_TC_BODY(tstamp_tcp_last_segment_v6, tc)
{

	tcp_last_segment(AF_INET6);
}

/*
 * TX_SCHED, as Linux: a record with ee_info SCM_TSTAMP_SCHED when the
 * datagram is handed to the interface's queue, before the SND record
 * of TX_SOFTWARE, both with the datagram's OPT_ID key, SCHED <= SND.
 */
static void
tx_sched(const struct tsproto *p)
{
	enum { SENDS = 8 };
	struct sockaddr_storage ss;
	socklen_t sslen;
	struct tsmsg r;
	int64_t before, after, sched;
	int rs, s, i;

	rs = proto_socket(p, &ss, &sslen);
	s = socket(p->af, p->type, p->proto);
	ATF_REQUIRE(s != -1);
	setint(s, SOL_SOCKET, SO_TIMESTAMPING, SOF_TIMESTAMPING_TX_SCHED |
	    SOF_TIMESTAMPING_TX_SOFTWARE | SOF_TIMESTAMPING_SOFTWARE |
	    SOF_TIMESTAMPING_OPT_ID | SOF_TIMESTAMPING_OPT_TSONLY);
	for (i = 0; i < SENDS; i++) {
		before = now_ns(CLOCK_REALTIME);
		ATF_REQUIRE(proto_send(p, s, &ss, sslen, "sched", 5, NULL, 0)
		    != -1);
		after = now_ns(CLOCK_REALTIME);
		ATF_REQUIRE_EQ_MSG(recv_ts(s, MSG_ERRQUEUE, &r), 0,
		    "%s: no SCHED record for send %d", p->name, i);
		ATF_CHECK_EQ(r.ee.ee_info, SCM_TSTAMP_SCHED);
		ATF_CHECK_EQ(r.ee.ee_data, (uint32_t)i);
		ATF_REQUIRE_EQ(r.nts, 1);
		sched = ts_ns(&r.ts.ts[0]);
		check_between("SCHED", before, sched, after);
		ATF_REQUIRE_EQ_MSG(recv_ts(s, MSG_ERRQUEUE, &r), 0,
		    "%s: no SND record for send %d", p->name, i);
		ATF_CHECK_EQ(r.ee.ee_info, SCM_TSTAMP_SND);
		ATF_CHECK_EQ(r.ee.ee_data, (uint32_t)i);
		ATF_REQUIRE_EQ(r.nts, 1);
		ATF_CHECK_MSG(sched <= ts_ns(&r.ts.ts[0]), "SCHED after SND");
		check_between("SND", before, ts_ns(&r.ts.ts[0]), after);
	}
	ATF_CHECK_EQ(recv_ts(s, MSG_ERRQUEUE, &r), EAGAIN);

	/* TX_SCHED alone: SCHED records only. */
	setint(s, SOL_SOCKET, SO_TIMESTAMPING, SOF_TIMESTAMPING_TX_SCHED |
	    SOF_TIMESTAMPING_SOFTWARE | SOF_TIMESTAMPING_OPT_TSONLY);
	ATF_REQUIRE(proto_send(p, s, &ss, sslen, "only", 4, NULL, 0) != -1);
	ATF_REQUIRE_EQ(recv_ts(s, MSG_ERRQUEUE, &r), 0);
	ATF_CHECK_EQ(r.ee.ee_info, SCM_TSTAMP_SCHED);
	ATF_CHECK_EQ(recv_ts(s, MSG_ERRQUEUE, &r), EAGAIN);
	close(s);
	close(rs);
}

TSTAMP_PROTO_TC(tstamp_tx_sched_udp4, tx_sched, TSPROTO_UDP4)
TSTAMP_PROTO_TC(tstamp_tx_sched_udp6, tx_sched, TSPROTO_UDP6)

ATF_TP_ADD_TCS(tp)
{

	ATF_TP_ADD_TC(tp, tstamp_cmsg_type_is_option);
	ATF_TP_ADD_TC(tp, tstamp_rxq_ovfl_udp4);
	ATF_TP_ADD_TC(tp, tstamp_rxq_ovfl_udp6);
	ATF_TP_ADD_TC(tp, tstamp_rxq_ovfl_raw4);
	ATF_TP_ADD_TC(tp, tstamp_rxq_ovfl_raw6);
	ATF_TP_ADD_TC(tp, tstamp_rxq_ovfl_none);
	ATF_TP_ADD_TC(tp, tstamp_tcp_last_segment_v4);
	ATF_TP_ADD_TC(tp, tstamp_tcp_last_segment_v6);
	ATF_TP_ADD_TC(tp, tstamp_tx_sched_udp4);
	ATF_TP_ADD_TC(tp, tstamp_tx_sched_udp6);
	return atf_no_error();
}
