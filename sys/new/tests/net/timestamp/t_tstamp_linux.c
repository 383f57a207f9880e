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
#include <poll.h>

#include "tstamp_util.h"
#include "hwtstamp_util.h"

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
	/* lo0 stamps SND in looutput: no request outlives its send. */
	ATF_CHECK_EQ(sysctl_uint("kern.sotstamp.tx_pending"), 0);
}

TSTAMP_PROTO_TC(tstamp_tx_sched_udp4, tx_sched, TSPROTO_UDP4)
TSTAMP_PROTO_TC(tstamp_tx_sched_udp6, tx_sched, TSPROTO_UDP6)

/*
 * TX_SND is taken when the driver hands the packet to the device, not
 * when it enters the send queue.  wm0's link1 flag (test kernels,
 * WM_MAC_LOOPBACK) holds frames in if_snd: a datagram sent meanwhile
 * gets its SCHED record at once and its SND record only once the
 * queue is released, stamped then.  The destination is a multicast
 * group joined on wm0 (no ARP or ND to wait for) with
 * IP_MULTICAST_LOOP on: the local copy ip_mloopback() makes goes
 * through looutput at once and must not take the sender's SND.
 */
#define	SNDQ_HOLD_NS	(300 * 1000000LL)

static int
sndq_receiver(int af, struct sockaddr_storage *to, socklen_t *tolen)
{
	struct sockaddr_storage ss;
	struct ip_mreq mr;
	struct ipv6_mreq mr6;
	struct in_addr ifa;
	u_int ifindex;
	int rs;

	ifindex = if_nametoindex(HW_IFNAME);
	ATF_REQUIRE(ifindex != 0);
	/* The wildcard address, an unused port: the group's arrive. */
	rs = socket(af, SOCK_DGRAM, 0);
	ATF_REQUIRE(rs != -1);
	*tolen = mkaddr(af, af == AF_INET ? "0.0.0.0" : "::", 0, &ss);
	ATF_REQUIRE(bind(rs, (struct sockaddr *)&ss, *tolen) == 0);
	ATF_REQUIRE(getsockname(rs, (struct sockaddr *)&ss, tolen) == 0);
	*tolen = mkaddr(af, af == AF_INET ? "224.0.0.199" : "ff02::199",
	    ntohs(af == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port :
	    ((struct sockaddr_in6 *)&ss)->sin6_port), to);
	if (af == AF_INET) {
		ATF_REQUIRE(inet_pton(AF_INET, "169.254.1.2", &ifa) == 1);
		memset(&mr, 0, sizeof(mr));
		mr.imr_multiaddr = ((struct sockaddr_in *)to)->sin_addr;
		mr.imr_interface = ifa;
		ATF_REQUIRE_MSG(setsockopt(rs, IPPROTO_IP, IP_ADD_MEMBERSHIP,
		    &mr, sizeof(mr)) == 0, "IP_ADD_MEMBERSHIP: %s",
		    strerror(errno));
	} else {
		((struct sockaddr_in6 *)to)->sin6_scope_id = ifindex;
		memset(&mr6, 0, sizeof(mr6));
		mr6.ipv6mr_multiaddr = ((struct sockaddr_in6 *)to)->sin6_addr;
		mr6.ipv6mr_interface = ifindex;
		if (setsockopt(rs, IPPROTO_IPV6, IPV6_JOIN_GROUP, &mr6,
		    sizeof(mr6)) == -1)
			atf_tc_skip("wm0: IPV6_JOIN_GROUP: %s",
			    strerror(errno));
	}
	return rs;
}

static int
sndq_sender(int af)
{
	struct in_addr ifa;
	u_int ifindex;
	int s;

	s = socket(af, SOCK_DGRAM, 0);
	ATF_REQUIRE(s != -1);
	ifindex = if_nametoindex(HW_IFNAME);
	if (af == AF_INET) {
		ATF_REQUIRE(inet_pton(AF_INET, "169.254.1.2", &ifa) == 1);
		ATF_REQUIRE(setsockopt(s, IPPROTO_IP, IP_MULTICAST_IF, &ifa,
		    sizeof(ifa)) == 0);
		setint(s, IPPROTO_IP, IP_PKTINFO, 1);
		setint(s, IPPROTO_IP, IP_RECVPKTINFO, 1);
	} else
		ATF_REQUIRE(setsockopt(s, IPPROTO_IPV6, IPV6_MULTICAST_IF,
		    &ifindex, sizeof(ifindex)) == 0);
	/* Records with the payload: OPT_TSONLY would turn OPT_CMSG off. */
	setint(s, SOL_SOCKET, SO_TIMESTAMPING, SOF_TIMESTAMPING_TX_SCHED |
	    SOF_TIMESTAMPING_TX_SOFTWARE | SOF_TIMESTAMPING_SOFTWARE |
	    SOF_TIMESTAMPING_OPT_ID | SOF_TIMESTAMPING_OPT_CMSG);
	return s;
}

/* One error queue record: its kind, key, stamp and IP_PKTINFO index. */
struct sndq_rec {
	uint32_t	info;
	uint32_t	key;
	int64_t		ns;
	int		npktinfo;
	u_int		ifindex;
	struct in_addr	addr;		/* IP_PKTINFO: destination */
	struct in_addr	srcaddr;	/* IP_RECVPKTINFO: source */
};

static int
sndq_recv(int s, struct sndq_rec *q)
{
	union {
		struct cmsghdr	align;
		char		buf[512];
	} cbuf;
	struct sock_extended_err ee;
	struct scm_timestamping sts;
	struct in_pktinfo ipi;
	struct cmsghdr *cm;
	struct msghdr msg;
	struct iovec iov;
	char data[64];
	int nerr = 0, nts = 0;

	memset(q, 0, sizeof(*q));
	msg_setup(&msg, &iov, data, sizeof(data), cbuf.buf, sizeof(cbuf.buf));
	if (recvmsg(s, &msg, MSG_ERRQUEUE) == -1)
		return errno;
	for (cm = CMSG_FIRSTHDR(&msg); cm != NULL;
	    cm = CMSG_NXTHDR(&msg, cm)) {
		if (cm->cmsg_level == SOL_SOCKET &&
		    cm->cmsg_type == SO_TIMESTAMPING) {
			memcpy(&sts, CMSG_DATA(cm), sizeof(sts));
			q->ns = ts_ns(&sts.ts[0]);
			nts++;
		} else if ((cm->cmsg_level == IPPROTO_IP &&
		    cm->cmsg_type == IP_RECVERR) ||
		    (cm->cmsg_level == IPPROTO_IPV6 &&
		    cm->cmsg_type == IPV6_RECVERR)) {
			memcpy(&ee, CMSG_DATA(cm), sizeof(ee));
			q->info = ee.ee_info;
			q->key = ee.ee_data;
			nerr++;
		} else if (cm->cmsg_level == IPPROTO_IP &&
		    cm->cmsg_type == IP_PKTINFO) {
			memcpy(&ipi, CMSG_DATA(cm), sizeof(ipi));
			q->ifindex = ipi.ipi_ifindex;
			q->addr = ipi.ipi_addr;
			q->npktinfo++;
		} else if (cm->cmsg_level == IPPROTO_IP &&
		    cm->cmsg_type == IP_RECVPKTINFO) {
			memcpy(&ipi, CMSG_DATA(cm), sizeof(ipi));
			q->srcaddr = ipi.ipi_addr;
		}
	}
	ATF_CHECK_EQ(nts, 1);
	ATF_CHECK_EQ(nerr, 1);
	return 0;
}

static void
snd_after_queue(int af)
{
	struct sockaddr_storage to;
	socklen_t tolen;
	struct sndq_rec sched, snd;
	struct pollfd pfd;
	char buf[64];
	int64_t t0, t1, t2, t3;
	u_int ifindex;
	int rs, s;

	ifindex = if_nametoindex(HW_IFNAME);
	rs = sndq_receiver(af, &to, &tolen);
	s = sndq_sender(af);

	hw_ifflag(IFF_LINK1, true);
	t0 = now_ns(CLOCK_REALTIME);
	if (sendto(s, "held", 4, 0, (struct sockaddr *)&to, tolen) == -1) {
		if (errno == EADDRNOTAVAIL)
			atf_tc_skip("%s: no usable address", HW_IFNAME);
		atf_tc_fail("sendto over %s: %s", HW_IFNAME, strerror(errno));
	}
	t1 = now_ns(CLOCK_REALTIME);

	/* SCHED: into wm0's send queue, before sendto() returned. */
	ATF_REQUIRE_EQ_MSG(sndq_recv(s, &sched), 0, "no SCHED record");
	ATF_CHECK_EQ(sched.info, SCM_TSTAMP_SCHED);
	ATF_CHECK_EQ(sched.key, 0);
	check_between("SCHED", t0, sched.ns, t1);
	/* The looped copy arrived; it did not stamp the held packet. */
	ATF_CHECK_MSG(wait_readable(rs, 2000), "no looped-back copy");
	ATF_CHECK_EQ(recv(rs, buf, sizeof(buf), MSG_DONTWAIT), 4);
	usleep(SNDQ_HOLD_NS / 1000);
	ATF_CHECK_EQ_MSG(sndq_recv(s, &snd), EAGAIN,
	    "an SND record while the packet is held in the send queue");
	ATF_CHECK(sysctl_uint("kern.sotstamp.tx_pending") >= 1);

	/* Released: the driver takes the packet in the ioctl. */
	t2 = now_ns(CLOCK_REALTIME);
	hw_ifflag(IFF_LINK1, false);
	t3 = now_ns(CLOCK_REALTIME);
	pfd.fd = s;
	pfd.events = 0;
	ATF_REQUIRE_EQ_MSG(poll(&pfd, 1, 2000), 1, "no SND record");
	ATF_REQUIRE_EQ_MSG(sndq_recv(s, &snd), 0, "no SND record");
	ATF_CHECK_EQ(snd.info, SCM_TSTAMP_SND);
	ATF_CHECK_EQ(snd.key, 0);
	check_between("SND", t2, snd.ns, t3);
	ATF_CHECK_MSG(snd.ns - sched.ns >= SNDQ_HOLD_NS,
	    "SND %jd ns after SCHED: not after the wait in the queue",
	    (intmax_t)(snd.ns - sched.ns));
	if (af == AF_INET) {
		/* OPT_CMSG: both records name wm0 and the group. */
		ATF_CHECK_EQ(sched.npktinfo, 1);
		ATF_CHECK_EQ(snd.npktinfo, 1);
		ATF_CHECK_EQ(sched.ifindex, ifindex);
		ATF_CHECK_EQ(snd.ifindex, ifindex);
		ATF_CHECK_EQ(snd.addr.s_addr,
		    ((struct sockaddr_in *)&to)->sin_addr.s_addr);
		ATF_CHECK_EQ(snd.srcaddr.s_addr, htonl(0xa9fe0102));
	}
	ATF_CHECK_EQ(sndq_recv(s, &snd), EAGAIN);
	ATF_CHECK_EQ(sysctl_uint("kern.sotstamp.tx_pending"), 0);
	close(s);
	close(rs);
}

#define	SNDQ_TC(id, af)							\
ATF_TC_WITH_CLEANUP(id);						\
ATF_TC_HEAD(id, tc)							\
{									\
	atf_tc_set_md_var(tc, "descr", "SCHED at the send queue, SND "	\
	    "when wm0's driver takes the packet after a wait; the "	\
	    "multicast loop copy takes neither (needs "		\
	    WM_LOOPBACK_VAR "=yes: link1 holds the queue)");		\
	atf_tc_set_md_var(tc, "require.user", "root");			\
}									\
ATF_TC_BODY(id, tc)							\
{									\
									\
	wm_loopback_require(tc);					\
	snd_after_queue(af);						\
}									\
ATF_TC_CLEANUP(id, tc)							\
{									\
									\
	if (harness_var_yes(tc, WM_LOOPBACK_VAR))			\
		hw_ifflag(IFF_LINK1, false);				\
}

SNDQ_TC(tstamp_tx_snd_after_queue_udp4, AF_INET)
SNDQ_TC(tstamp_tx_snd_after_queue_udp6, AF_INET6)

/*
 * Issue 18, item 9: a send that fails after its first fragment left
 * keeps its OPT_ID key, as on Linux (the key is given back only when
 * nothing of the datagram was sent), so no two records share a key.
 * wm0's link1 holds its send queue; 65000-byte UDPv6 datagrams to a
 * link-local group (no ND to wait for; ip6_output() does not check
 * for room for all fragments as ip_output() does) fill it until one
 * fails part way.  Once the queue is released, a datagram's SCHED
 * record has key n + 1 after n whole datagrams: the partly sent one
 * used key n.  (A send that fails at the interface's queue keeps its
 * key too, as on Linux, where a packet the queueing discipline drops
 * keeps the key it got when it was built.)
 */
#define	PART_DGRAM	65000

ATF_TC_WITH_CLEANUP(tstamp_opt_id_kept_by_partly_sent);
ATF_TC_HEAD(tstamp_opt_id_kept_by_partly_sent, tc)
{
	atf_tc_set_md_var(tc, "descr", "a send failing after its first "
	    "fragment left keeps its OPT_ID key (needs " WM_LOOPBACK_VAR
	    "=yes: link1 holds the queue)");
	atf_tc_set_md_var(tc, "require.user", "root");
}
ATF_TC_BODY(tstamp_opt_id_kept_by_partly_sent, tc)
{
	static char big[PART_DGRAM];
	struct sockaddr_storage to;
	struct sndq_rec q;
	socklen_t tolen;
	u_int ifindex;
	uint32_t lastkey = UINT32_MAX;
	int s, n, sz = PART_DGRAM + 1024, nrec = 0;

	wm_loopback_require(tc);
	ifindex = if_nametoindex(HW_IFNAME);
	ATF_REQUIRE(ifindex != 0);
	tolen = mkaddr(AF_INET6, "ff02::1", 9, &to);
	((struct sockaddr_in6 *)&to)->sin6_scope_id = ifindex;
	s = socket(AF_INET6, SOCK_DGRAM, 0);
	ATF_REQUIRE(s != -1);
	ATF_REQUIRE(setsockopt(s, IPPROTO_IPV6, IPV6_MULTICAST_IF, &ifindex,
	    sizeof(ifindex)) == 0);
	setint(s, IPPROTO_IPV6, IPV6_MULTICAST_LOOP, 0);
	setint(s, SOL_SOCKET, SO_SNDBUF, sz);
	setint(s, SOL_SOCKET, SO_TIMESTAMPING, SOF_TIMESTAMPING_TX_SCHED |
	    SOF_TIMESTAMPING_SOFTWARE | SOF_TIMESTAMPING_OPT_ID |
	    SOF_TIMESTAMPING_OPT_TSONLY);

	hw_ifflag(IFF_LINK1, true);
	for (n = 0; n < 64; n++)
		if (sendto(s, big, sizeof(big), 0, (struct sockaddr *)&to,
		    tolen) == -1)
			break;
	ATF_REQUIRE_MSG(n < 64 && errno == ENOBUFS, "%d datagrams sent into "
	    "a held queue, then %s", n, strerror(errno));
	hw_ifflag(IFF_LINK1, false);
	usleep(200000);
	ATF_REQUIRE(sendto(s, "y", 1, 0, (struct sockaddr *)&to, tolen) == 1);
	usleep(100000);
	while (sndq_recv(s, &q) == 0) {
		ATF_CHECK_EQ(q.info, SCM_TSTAMP_SCHED);
		ATF_CHECK_MSG(lastkey == UINT32_MAX || q.key > lastkey,
		    "key %u after key %u", q.key, lastkey);
		lastkey = q.key;
		nrec++;
	}
	printf("%d whole datagrams, %d records, last key %u\n", n, nrec,
	    lastkey);
	ATF_CHECK_EQ(nrec, n + 1);
	ATF_CHECK_EQ_MSG(lastkey, (uint32_t)n + 1, "the datagram after %d "
	    "whole ones and a partly sent one has key %u, not %d", n,
	    lastkey, n + 1);
	close(s);
}
ATF_TC_CLEANUP(tstamp_opt_id_kept_by_partly_sent, tc)
{

	if (harness_var_yes(tc, WM_LOOPBACK_VAR))
		hw_ifflag(IFF_LINK1, false);
}

/*
 * An SND record queued after sendmsg() returned gives way to the
 * hardware record when the driver also stamped the datagram, unless
 * OPT_TX_SWHW asks for both, as on Linux and as when the driver takes
 * the datagram at once.
 */
static void
snd_async_hw(void)
{
	const int base = SOF_TIMESTAMPING_TX_HARDWARE |
	    SOF_TIMESTAMPING_TX_SOFTWARE | SOF_TIMESTAMPING_RAW_HARDWARE |
	    SOF_TIMESTAMPING_SOFTWARE | SOF_TIMESTAMPING_OPT_ID |
	    SOF_TIMESTAMPING_OPT_TSONLY;
	struct sockaddr_storage to;
	socklen_t tolen;
	struct pollfd pfd;
	struct tsmsg r;
	int s, swhw, nhw, nsw;

	hw_set(HWTSTAMP_TX_ON, HWTSTAMP_FILTER_NONE, NULL);
	tolen = mkaddr(AF_INET, "224.0.0.199", 9, &to);
	for (swhw = 0; swhw < 2; swhw++) {
		s = sndq_sender(AF_INET);
		setint(s, SOL_SOCKET, SO_TIMESTAMPING, base |
		    (swhw ? SOF_TIMESTAMPING_OPT_TX_SWHW : 0));
		hw_ifflag(IFF_LINK1, true);
		ATF_REQUIRE_MSG(sendto(s, "hw", 2, 0, (struct sockaddr *)&to,
		    tolen) == 2, "sendto: %s", strerror(errno));
		usleep(100000);
		ATF_CHECK_EQ_MSG(recv_ts(s, MSG_ERRQUEUE, &r), EAGAIN,
		    "a record while the packet is held");
		hw_ifflag(IFF_LINK1, false);
		nhw = nsw = 0;
		pfd.fd = s;
		pfd.events = 0;
		while (poll(&pfd, 1, 1000) == 1 &&
		    recv_ts(s, MSG_ERRQUEUE, &r) == 0) {
			ATF_REQUIRE_EQ(r.nts, 1);
			ATF_CHECK_EQ(r.ee.ee_info, SCM_TSTAMP_SND);
			ATF_CHECK_EQ(r.ee.ee_data, 0);
			if (ts_ns(&r.ts.ts[2]) != 0)
				nhw++;
			else if (ts_ns(&r.ts.ts[0]) != 0)
				nsw++;
		}
		ATF_CHECK_EQ_MSG(nhw, 1, "OPT_TX_SWHW %d: %d hardware records",
		    swhw, nhw);
		ATF_CHECK_EQ_MSG(nsw, swhw, "OPT_TX_SWHW %d: %d software "
		    "records", swhw, nsw);
		close(s);
	}
	hw_set(HWTSTAMP_TX_OFF, HWTSTAMP_FILTER_NONE, NULL);
}

ATF_TC_WITH_CLEANUP(tstamp_tx_snd_async_gives_way_to_hw);
ATF_TC_HEAD(tstamp_tx_snd_async_gives_way_to_hw, tc)
{
	atf_tc_set_md_var(tc, "descr", "a datagram held in wm0's send "
	    "queue: its late SND record gives way to the hardware one, "
	    "unless OPT_TX_SWHW (needs " WM_LOOPBACK_VAR "=yes)");
	atf_tc_set_md_var(tc, "require.user", "root");
}
ATF_TC_BODY(tstamp_tx_snd_async_gives_way_to_hw, tc)
{

	wm_loopback_require(tc);
	snd_async_hw();
}
ATF_TC_CLEANUP(tstamp_tx_snd_async_gives_way_to_hw, tc)
{

	if (harness_var_yes(tc, WM_LOOPBACK_VAR)) {
		hw_ifflag(IFF_LINK1, false);
		hw_set(HWTSTAMP_TX_OFF, HWTSTAMP_FILTER_NONE, NULL);
	}
}

/*
 * OPT_CMSG: IPv4 TX records carry the socket's IP_PKTINFO (and
 * NetBSD's IP_RECVPKTINFO) message: the interface the datagram left
 * by and its destination.  Not without OPT_CMSG, not on IPv6, and as
 * on Linux not in an OPT_TSONLY record (Linux adds it only to a
 * record that carries the packet).
 */
static void
opt_cmsg_one(int af, int pktopt, bool cmsg, bool tsonly, int want)
{
	static const struct tsproto p4 = TSPROTO_UDP4, p6 = TSPROTO_UDP6;
	const struct tsproto *p = af == AF_INET ? &p4 : &p6;
	struct sockaddr_storage ss;
	socklen_t sslen;
	union {
		struct cmsghdr	align;
		char		buf[512];
	} cbuf;
	struct in_pktinfo ipi;
	struct cmsghdr *cm;
	struct msghdr msg;
	struct iovec iov;
	char data[64];
	int rs, s, n;

	rs = proto_socket(p, &ss, &sslen);
	s = socket(af, SOCK_DGRAM, 0);
	ATF_REQUIRE(s != -1);
	if (pktopt != 0)
		setint(s, IPPROTO_IP, pktopt, 1);
	setint(s, SOL_SOCKET, SO_TIMESTAMPING, SOF_TIMESTAMPING_TX_SOFTWARE |
	    SOF_TIMESTAMPING_SOFTWARE |
	    (tsonly ? SOF_TIMESTAMPING_OPT_TSONLY : 0) |
	    (cmsg ? SOF_TIMESTAMPING_OPT_CMSG : 0));
	ATF_REQUIRE(proto_send(p, s, &ss, sslen, "c", 1, NULL, 0) == 1);
	msg_setup(&msg, &iov, data, sizeof(data), cbuf.buf, sizeof(cbuf.buf));
	ATF_REQUIRE_MSG(recvmsg(s, &msg, MSG_ERRQUEUE) != -1, "%s: %s",
	    p->name, strerror(errno));
	n = 0;
	for (cm = CMSG_FIRSTHDR(&msg); cm != NULL;
	    cm = CMSG_NXTHDR(&msg, cm)) {
		if (cm->cmsg_level != IPPROTO_IP ||
		    (cm->cmsg_type != IP_PKTINFO &&
		    cm->cmsg_type != IP_RECVPKTINFO))
			continue;
		n++;
		ATF_CHECK_EQ(cm->cmsg_type, want);
		ATF_REQUIRE_EQ(cm->cmsg_len, CMSG_LEN(sizeof(ipi)));
		memcpy(&ipi, CMSG_DATA(cm), sizeof(ipi));
		ATF_CHECK_EQ(ipi.ipi_ifindex, if_nametoindex("lo0"));
		ATF_CHECK_EQ(ipi.ipi_addr.s_addr, htonl(INADDR_LOOPBACK));
	}
	ATF_CHECK_EQ_MSG(n, want != 0 ? 1 : 0,
	    "%s, option %d, OPT_CMSG %d, OPT_TSONLY %d: %d pktinfo messages",
	    p->name, pktopt, cmsg, tsonly, n);
	close(s);
	close(rs);
}

ATF_TC(tstamp_opt_cmsg_pktinfo);
ATF_TC_HEAD(tstamp_opt_cmsg_pktinfo, tc)
{
	atf_tc_set_md_var(tc, "descr", "OPT_CMSG: IPv4 TX records carry "
	    "IP_PKTINFO (lo0, the destination), only with OPT_CMSG");
}
ATF_TC_BODY(tstamp_opt_cmsg_pktinfo, tc)
{

	opt_cmsg_one(AF_INET, IP_PKTINFO, true, false, IP_PKTINFO);
	opt_cmsg_one(AF_INET, IP_RECVPKTINFO, true, false, IP_RECVPKTINFO);
	opt_cmsg_one(AF_INET, IP_PKTINFO, false, false, 0);
	opt_cmsg_one(AF_INET, 0, true, false, 0);
	opt_cmsg_one(AF_INET6, 0, true, false, 0);
}

ATF_TC(tstamp_opt_tsonly_disables_cmsg);
ATF_TC_HEAD(tstamp_opt_tsonly_disables_cmsg, tc)
{
	atf_tc_set_md_var(tc, "descr", "OPT_TSONLY turns OPT_CMSG off: no "
	    "IP_PKTINFO or IP_RECVPKTINFO in a record without the packet");
}
ATF_TC_BODY(tstamp_opt_tsonly_disables_cmsg, tc)
{

	opt_cmsg_one(AF_INET, IP_PKTINFO, true, true, 0);
	opt_cmsg_one(AF_INET, IP_RECVPKTINFO, true, true, 0);
}

/*
 * OPT_PKTINFO: SCM_TIMESTAMPING_PKTINFO comes, as on Linux, only with
 * a hardware RX stamp; a datagram stamped in software gets none.
 */
ATF_TC(tstamp_opt_pktinfo_needs_hw);
ATF_TC_HEAD(tstamp_opt_pktinfo_needs_hw, tc)
{
	atf_tc_set_md_var(tc, "descr", "OPT_PKTINFO adds no message to "
	    "software-stamped datagrams; getsockopt returns the bit");
}
ATF_TC_BODY(tstamp_opt_pktinfo_needs_hw, tc)
{
	static const struct tsproto p = TSPROTO_UDP4;
	const int f = ALLRX | SOF_TIMESTAMPING_RX_HARDWARE |
	    SOF_TIMESTAMPING_RAW_HARDWARE | SOF_TIMESTAMPING_OPT_PKTINFO;
	struct sockaddr_storage ss;
	socklen_t sslen;
	struct tsmsg r;
	int rs, s;

	rs = proto_socket(&p, &ss, &sslen);
	setint(rs, SOL_SOCKET, SO_TIMESTAMPING, f);
	ATF_CHECK_EQ(getint(rs, SOL_SOCKET, SO_TIMESTAMPING), f);
	s = socket(AF_INET, SOCK_DGRAM, 0);
	ATF_REQUIRE(s != -1);
	ATF_REQUIRE(proto_send(&p, s, &ss, sslen, "k", 1, NULL, 0) == 1);
	ATF_REQUIRE_EQ(recv_ts(rs, 0, &r), 0);
	ATF_CHECK_EQ(r.nts, 1);
	ATF_CHECK_EQ_MSG(r.nother, 0, "%d unexpected messages", r.nother);
	ATF_CHECK(r.ts.ts[0].tv_sec != 0);
	ATF_CHECK_EQ(r.ts.ts[2].tv_sec, 0);
	close(s);
	close(rs);
}

/*
 * TCP TX stamps, as Linux: a write asking for them gets SCHED and SND
 * records when the segment carrying its last byte is sent, and an ACK
 * record when the peer acknowledges that byte; with OPT_ID the key is
 * the byte's offset in the stream.
 */
static int
tcp_pair(int af, int *lsp, int *asp)
{
	struct sockaddr_storage ss;
	socklen_t sslen;
	int cs;

	*lsp = bound_socket(af, SOCK_STREAM, 0, &ss, &sslen);
	ATF_REQUIRE(listen(*lsp, 1) == 0);
	cs = socket(af, SOCK_STREAM, 0);
	ATF_REQUIRE(cs != -1);
	ATF_REQUIRE(connect(cs, (struct sockaddr *)&ss, sslen) == 0);
	*asp = accept(*lsp, NULL, NULL);
	ATF_REQUIRE(*asp != -1);
	setint(cs, IPPROTO_TCP, TCP_NODELAY, 1);
	return cs;
}

/* The next error queue record, waiting up to 2 s for it. */
static void
tcp_next_record(int s, struct sndq_rec *q, const char *what)
{
	struct pollfd pfd;

	pfd.fd = s;
	pfd.events = 0;
	ATF_REQUIRE_EQ_MSG(poll(&pfd, 1, 2000), 1, "no %s record", what);
	ATF_REQUIRE_EQ_MSG(sndq_recv(s, q), 0, "no %s record", what);
}

static void
tcp_tx(int af)
{
	enum { WRITES = 4, LEN = 10 };
	struct sndq_rec sched, snd, ack;
	int64_t lo, hi;
	char buf[LEN * WRITES];
	int ls, as, cs, i;
	uint32_t key;

	cs = tcp_pair(af, &ls, &as);
	setint(cs, SOL_SOCKET, SO_TIMESTAMPING, SOF_TIMESTAMPING_TX_SCHED |
	    SOF_TIMESTAMPING_TX_SOFTWARE | SOF_TIMESTAMPING_TX_ACK |
	    SOF_TIMESTAMPING_SOFTWARE | SOF_TIMESTAMPING_OPT_ID |
	    SOF_TIMESTAMPING_OPT_ID_TCP | SOF_TIMESTAMPING_OPT_TSONLY);
	memset(buf, 'x', sizeof(buf));
	for (i = 0; i < WRITES; i++) {
		key = (uint32_t)(LEN * (i + 1) - 1);
		lo = now_ns(CLOCK_REALTIME);
		ATF_REQUIRE(write(cs, buf, LEN) == LEN);
		hi = now_ns(CLOCK_REALTIME);
		tcp_next_record(cs, &sched, "SCHED");
		ATF_CHECK_EQ(sched.info, SCM_TSTAMP_SCHED);
		ATF_CHECK_EQ_MSG(sched.key, key, "write %d: key %u, not %u",
		    i, sched.key, key);
		check_between("SCHED", lo, sched.ns, hi);
		tcp_next_record(cs, &snd, "SND");
		ATF_CHECK_EQ(snd.info, SCM_TSTAMP_SND);
		ATF_CHECK_EQ(snd.key, key);
		ATF_CHECK_MSG(sched.ns <= snd.ns, "SCHED after SND");
		check_between("SND", lo, snd.ns, hi);
		/* The peer acknowledges at once or by its delayed ACK. */
		tcp_next_record(cs, &ack, "ACK");
		ATF_CHECK_EQ(ack.info, SCM_TSTAMP_ACK);
		ATF_CHECK_EQ(ack.key, key);
		ATF_CHECK_MSG(snd.ns <= ack.ns, "ACK before SND");
		check_between("ACK", lo, ack.ns, now_ns(CLOCK_REALTIME));
	}
	ATF_CHECK_EQ(sndq_recv(cs, &ack), EAGAIN);
	ATF_CHECK_EQ(read(as, buf, sizeof(buf)), (ssize_t)sizeof(buf));

	/*
	 * Per write, by control message; the key counts every byte
	 * written since OPT_ID was turned on, stamped or not.
	 */
	setint(cs, SOL_SOCKET, SO_TIMESTAMPING, SOF_TIMESTAMPING_SOFTWARE |
	    SOF_TIMESTAMPING_OPT_TSONLY);
	setint(cs, SOL_SOCKET, SO_TIMESTAMPING, SOF_TIMESTAMPING_SOFTWARE |
	    SOF_TIMESTAMPING_OPT_ID | SOF_TIMESTAMPING_OPT_ID_TCP |
	    SOF_TIMESTAMPING_OPT_TSONLY);
	ATF_REQUIRE(write(cs, buf, 5) == 5);
	usleep(50000);
	ATF_CHECK_EQ(sndq_recv(cs, &snd), EAGAIN);
	{
		union {
			struct cmsghdr	align;
			char		buf[CMSG_SPACE(sizeof(int))];
		} cbuf;
		struct cmsghdr *cm;
		struct msghdr msg;
		struct iovec iov;
		int f = SOF_TIMESTAMPING_TX_SOFTWARE;

		msg_setup(&msg, &iov, buf, 7, cbuf.buf, sizeof(cbuf.buf));
		cm = CMSG_FIRSTHDR(&msg);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SO_TIMESTAMPING;
		cm->cmsg_len = CMSG_LEN(sizeof(f));
		memcpy(CMSG_DATA(cm), &f, sizeof(f));
		ATF_REQUIRE_MSG(sendmsg(cs, &msg, 0) == 7, "sendmsg: %s",
		    strerror(errno));
	}
	tcp_next_record(cs, &snd, "SND");
	ATF_CHECK_EQ(snd.info, SCM_TSTAMP_SND);
	ATF_CHECK_EQ_MSG(snd.key, 11, "key %u, not 11 (5 + 7 bytes)",
	    snd.key);
	usleep(50000);
	ATF_CHECK_EQ(sndq_recv(cs, &snd), EAGAIN);
	ATF_CHECK_EQ(sysctl_uint("kern.sotstamp.tx_pending"), 0);
	close(cs);
	close(as);
	close(ls);
}

ATF_TC(tstamp_tcp_tx_v4);
ATF_TC_HEAD(tstamp_tcp_tx_v4, tc)
{
	atf_tc_set_md_var(tc, "descr", "TCP over IPv4: SCHED, SND and ACK "
	    "records per write, OPT_ID counting bytes");
}
ATF_TC_BODY(tstamp_tcp_tx_v4, tc)
{

	tcp_tx(AF_INET);
}

ATF_TC(tstamp_tcp_tx_v6);
ATF_TC_HEAD(tstamp_tcp_tx_v6, tc)
{
	atf_tc_set_md_var(tc, "descr", "TCP over IPv6: SCHED, SND and ACK "
	    "records per write, OPT_ID counting bytes");
}
ATF_TC_BODY(tstamp_tcp_tx_v6, tc)
{

	tcp_tx(AF_INET6);
}

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
	ATF_TP_ADD_TC(tp, tstamp_tx_snd_after_queue_udp4);
	ATF_TP_ADD_TC(tp, tstamp_tx_snd_after_queue_udp6);
	ATF_TP_ADD_TC(tp, tstamp_tx_snd_async_gives_way_to_hw);
	ATF_TP_ADD_TC(tp, tstamp_opt_cmsg_pktinfo);
	ATF_TP_ADD_TC(tp, tstamp_opt_tsonly_disables_cmsg);
	ATF_TP_ADD_TC(tp, tstamp_opt_id_kept_by_partly_sent);
	ATF_TP_ADD_TC(tp, tstamp_opt_pktinfo_needs_hw);
	ATF_TP_ADD_TC(tp, tstamp_tcp_tx_v4);
	ATF_TP_ADD_TC(tp, tstamp_tcp_tx_v6);
	return atf_no_error();
}
