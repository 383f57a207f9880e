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
 * bpf(4) capture time stamps (BIOCSTSTAMP) on lo0: every format and
 * flag with FreeBSD's values, record layout and meaning (what upstream
 * libpcap, which takes its FreeBSD path when BIOCSTSTAMP is defined,
 * relies on), and the capture time of a packet the stack sends again.
 * Built -m32 too, the same cases check the COMPAT_NETBSD32 path.
 */

#include <sys/param.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/sysctl.h>
#include <sys/time.h>

#include <net/bpf.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/in_systm.h>
#include <netinet/ip.h>
#include <netinet/ip_icmp.h>
#include <arpa/inet.h>

#include <atf-c.h>
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tstamp_util.h"

#define	BT_PORT		5399		/* UDP port the format cases send to */
#define	BT_N		8		/* datagrams per format case */
#define	LO_HDRLEN	4		/* DLT_NULL: the address family */

/* FreeBSD's header length, struct bpf_xhdr without its end padding. */
#define	XHDR_LEN	(offsetof(struct bpf_xhdr, bh_hdrlen) + \
    sizeof(((struct bpf_xhdr *)0)->bh_hdrlen))

/* One bpf record, whatever its header. */
struct rec {
	int64_t		sec;
	uint64_t	frac;
	uint32_t	caplen;
	uint32_t	datalen;
	uint16_t	hdrlen;
	const uint8_t	*pkt;		/* from the DLT_NULL header on */
};

static bool
xhdr_format(u_int t)
{

	return BPF_T_FORMAT(t) == BPF_T_NANOTIME ||
	    BPF_T_FORMAT(t) == BPF_T_BINTIME;
}

/* A bpf descriptor on lo0 with BIOCSTSTAMP t and filter prog. */
static int
bpf_lo0(u_int t, struct bpf_insn *prog, u_int nprog)
{
	struct bpf_program bp = { nprog, prog };
	struct ifreq ifr;
	struct timeval tmo = { 2, 0 };
	u_int one = 1, got;
	int fd;

	fd = open("/dev/bpf", O_RDWR);
	ATF_REQUIRE_MSG(fd != -1, "/dev/bpf: %s", strerror(errno));
	memset(&ifr, 0, sizeof(ifr));
	strlcpy(ifr.ifr_name, "lo0", sizeof(ifr.ifr_name));
	ATF_REQUIRE(ioctl(fd, BIOCSETIF, &ifr) == 0);
	ATF_REQUIRE(ioctl(fd, BIOCIMMEDIATE, &one) == 0);
	ATF_REQUIRE(ioctl(fd, BIOCSETF, &bp) == 0);
	ATF_REQUIRE(ioctl(fd, BIOCSRTIMEOUT, &tmo) == 0);
	ATF_REQUIRE_MSG(ioctl(fd, BIOCSTSTAMP, &t) == 0,
	    "BIOCSTSTAMP %#x: %s", t, strerror(errno));
	ATF_REQUIRE(ioctl(fd, BIOCGTSTAMP, &got) == 0);
	ATF_REQUIRE_EQ_MSG(got, t, "BIOCGTSTAMP %#x after BIOCSTSTAMP %#x",
	    got, t);
	return fd;
}

/* Read up to n records of format t into r; returns how many. */
static int
bpf_records(int fd, u_int t, uint8_t *buf, size_t bufsize, struct rec *r,
    int n)
{
	u_int blen;
	ssize_t len;
	uint8_t *p;
	int got = 0;

	ATF_REQUIRE(ioctl(fd, BIOCGBLEN, &blen) == 0);
	ATF_REQUIRE(blen <= bufsize);
	while (got < n) {
		len = read(fd, buf, blen);
		ATF_REQUIRE_MSG(len != -1, "bpf read: %s", strerror(errno));
		if (len == 0)
			break;		/* read timeout */
		for (p = buf; p < buf + len && got < n; got++) {
			if (xhdr_format(t)) {
				struct bpf_xhdr h;

				memcpy(&h, p, XHDR_LEN);
				r[got].sec = h.bh_tstamp.bt_sec;
				r[got].frac = h.bh_tstamp.bt_frac;
				r[got].caplen = h.bh_caplen;
				r[got].datalen = h.bh_datalen;
				r[got].hdrlen = h.bh_hdrlen;
			} else {
				struct bpf_hdr h;

				memcpy(&h, p, offsetof(struct bpf_hdr,
				    bh_hdrlen) + sizeof(h.bh_hdrlen));
				r[got].sec = h.bh_tstamp.tv_sec;
				r[got].frac = (uint64_t)h.bh_tstamp.tv_usec;
				r[got].caplen = h.bh_caplen;
				r[got].datalen = h.bh_datalen;
				r[got].hdrlen = h.bh_hdrlen;
			}
			r[got].pkt = p + r[got].hdrlen;
			p += BPF_WORDALIGN(r[got].hdrlen + r[got].caplen);
		}
	}
	return got;
}

/* A record's stamp in ns, read as a program written for FreeBSD does. */
static int64_t
rec_ns(u_int t, const struct rec *r)
{
	struct bintime bt;
	struct timespec ts;

	switch (BPF_T_FORMAT(t)) {
	case BPF_T_MICROTIME:
		ATF_CHECK_MSG(r->frac < 1000000, "tv_usec %llu",
		    (unsigned long long)r->frac);
		return r->sec * TS_NSEC + (int64_t)r->frac * 1000;
	case BPF_T_NANOTIME:
		ATF_CHECK_MSG(r->frac < TS_NSEC, "bt_frac %llu ns",
		    (unsigned long long)r->frac);
		return r->sec * TS_NSEC + (int64_t)r->frac;
	case BPF_T_BINTIME:
		/* libpcap's conversion */
		bt.sec = r->sec;
		bt.frac = r->frac;
		bintime2timespec(&bt, &ts);
		return ts_ns(&ts);
	default:
		ATF_CHECK_EQ_MSG(r->sec, 0, "BPF_T_NONE: bt_sec %lld",
		    (long long)r->sec);
		ATF_CHECK_EQ_MSG(r->frac, 0, "BPF_T_NONE: frac %llu",
		    (unsigned long long)r->frac);
		return 0;
	}
}

/* How far behind the clock BPF_T_FAST may be: two ticks. */
static int64_t
fast_slack_ns(void)
{
	struct clockinfo ci;
	size_t len = sizeof(ci);

	ATF_REQUIRE(sysctlbyname("kern.clockrate", &ci, &len, NULL, 0) == 0);
	return 2 * TS_NSEC / ci.hz;
}

/*
 * BT_N datagrams to 127.0.0.1, each captured on lo0 in format t: the
 * header is the format's, lengths right, the stamp between the clock
 * reads around its send (realtime, or CLOCK_MONOTONIC with
 * BPF_T_MONOTONIC; a tick earlier allowed with BPF_T_FAST), and the
 * precise nanosecond formats not rounded to microseconds.
 */
static void
format_case(u_int t)
{
	static struct bpf_insn prog[] = {
		BPF_STMT(BPF_LD + BPF_B + BPF_ABS, LO_HDRLEN + 9),
		BPF_JUMP(BPF_JMP + BPF_JEQ + BPF_K, IPPROTO_UDP, 0, 3),
		BPF_STMT(BPF_LD + BPF_H + BPF_ABS, LO_HDRLEN + 20 + 2),
		BPF_JUMP(BPF_JMP + BPF_JEQ + BPF_K, BT_PORT, 0, 1),
		BPF_STMT(BPF_RET + BPF_K, 0xffff),
		BPF_STMT(BPF_RET + BPF_K, 0),
	};
	static uint8_t buf[65536];
	const clockid_t clk = (t & BPF_T_MONOTONIC) != 0 ?
	    CLOCK_MONOTONIC : CLOCK_REALTIME;
	struct sockaddr_storage to;
	struct rec r[BT_N];
	int64_t lo[BT_N], hi[BT_N], ns, slack;
	socklen_t tolen;
	uint32_t i;
	int fd, s, n, submicro = 0;
	char what[64];

	fd = bpf_lo0(t, prog, __arraycount(prog));
	s = socket(AF_INET, SOCK_DGRAM, 0);
	ATF_REQUIRE(s != -1);
	tolen = mkaddr(AF_INET, "127.0.0.1", BT_PORT, &to);
	for (i = 0; i < BT_N; i++) {
		lo[i] = now_ns(clk);
		ATF_REQUIRE(sendto(s, &i, sizeof(i), 0,
		    (struct sockaddr *)&to, tolen) == sizeof(i));
		hi[i] = now_ns(clk);
	}
	n = bpf_records(fd, t, buf, sizeof(buf), r, BT_N);
	ATF_REQUIRE_EQ_MSG(n, BT_N, "%d of %d datagrams captured", n, BT_N);

	slack = (t & BPF_T_FAST) != 0 ? fast_slack_ns() : 0;
	for (i = 0; i < BT_N; i++) {
		uint32_t seq;

		ATF_CHECK_EQ(r[i].datalen, LO_HDRLEN + 20 + 8 + sizeof(i));
		ATF_CHECK_EQ(r[i].caplen, r[i].datalen);
		if (xhdr_format(t))
			ATF_CHECK_EQ_MSG(r[i].hdrlen,
			    BPF_WORDALIGN(LO_HDRLEN + XHDR_LEN) - LO_HDRLEN,
			    "struct bpf_xhdr record: bh_hdrlen %u",
			    r[i].hdrlen);
		else	/* NetBSD's, as before BIOCSTSTAMP */
			ATF_CHECK_EQ_MSG(r[i].hdrlen,
			    BPF_WORDALIGN(LO_HDRLEN + sizeof(struct bpf_hdr)) -
			    LO_HDRLEN, "struct bpf_hdr record: bh_hdrlen %u",
			    r[i].hdrlen);
		memcpy(&seq, r[i].pkt + LO_HDRLEN + 20 + 8, sizeof(seq));
		ATF_CHECK_EQ_MSG(seq, i, "record %u holds datagram %u", i,
		    seq);
		ns = rec_ns(t, &r[i]);
		if (t == BPF_T_NONE)
			continue;
		snprintf(what, sizeof(what), "BIOCSTSTAMP %#x record %u",
		    t, i);
		/* MICROTIME truncates to the microsecond */
		check_between(what, lo[i] - slack - 999, ns, hi[i]);
		if (ns % 1000 != 0)
			submicro++;
	}
	if ((t & BPF_T_FAST) == 0 && BPF_T_FORMAT(t) != BPF_T_MICROTIME &&
	    t != BPF_T_NONE)
		ATF_CHECK_MSG(submicro > 0, "BIOCSTSTAMP %#x: all %d stamps "
		    "whole microseconds", t, BT_N);
	close(s);
	close(fd);
}

#define	FORMAT_TC(name, t)						\
ATF_TC(name);								\
ATF_TC_HEAD(name, tc)							\
{									\
	atf_tc_set_md_var(tc, "descr", "bpf records in format " #t	\
	    " on lo0: FreeBSD's header, lengths and stamp meaning");	\
	atf_tc_set_md_var(tc, "require.user", "root");			\
}									\
ATF_TC_BODY(name, tc)							\
{									\
	format_case(t);							\
}

FORMAT_TC(bpf_microtime, BPF_T_MICROTIME)
FORMAT_TC(bpf_nanotime, BPF_T_NANOTIME)
FORMAT_TC(bpf_bintime, BPF_T_BINTIME)
FORMAT_TC(bpf_none, BPF_T_NONE)
FORMAT_TC(bpf_microtime_fast, BPF_T_MICROTIME_FAST)
FORMAT_TC(bpf_nanotime_fast, BPF_T_NANOTIME_FAST)
FORMAT_TC(bpf_bintime_fast, BPF_T_BINTIME_FAST)
FORMAT_TC(bpf_microtime_monotonic, BPF_T_MICROTIME_MONOTONIC)
FORMAT_TC(bpf_nanotime_monotonic, BPF_T_NANOTIME_MONOTONIC)
FORMAT_TC(bpf_bintime_monotonic, BPF_T_BINTIME_MONOTONIC)
FORMAT_TC(bpf_microtime_monotonic_fast, BPF_T_MICROTIME_MONOTONIC_FAST)
FORMAT_TC(bpf_nanotime_monotonic_fast, BPF_T_NANOTIME_MONOTONIC_FAST)
FORMAT_TC(bpf_bintime_monotonic_fast, BPF_T_BINTIME_MONOTONIC_FAST)

ATF_TC(bpf_tstamp_abi);
ATF_TC_HEAD(bpf_tstamp_abi, tc)
{
	atf_tc_set_md_var(tc, "descr",
	    "BIOC[GS]TSTAMP, the BPF_T_* values and struct bpf_ts/bpf_xhdr "
	    "are FreeBSD's; BPF_T_HWSTAMP is outside FreeBSD's masks");
}
ATF_TC_BODY(bpf_tstamp_abi, tc)
{

	ATF_CHECK_EQ(BIOCGTSTAMP, _IOR('B', 131, u_int));
	ATF_CHECK_EQ(BIOCSTSTAMP, _IOW('B', 132, u_int));
	ATF_CHECK_EQ(BPF_T_MICROTIME, 0x0000);
	ATF_CHECK_EQ(BPF_T_NANOTIME, 0x0001);
	ATF_CHECK_EQ(BPF_T_BINTIME, 0x0002);
	ATF_CHECK_EQ(BPF_T_NONE, 0x0003);
	ATF_CHECK_EQ(BPF_T_FORMAT_MASK, 0x0003);
	ATF_CHECK_EQ(BPF_T_NORMAL, 0x0000);
	ATF_CHECK_EQ(BPF_T_FAST, 0x0100);
	ATF_CHECK_EQ(BPF_T_MONOTONIC, 0x0200);
	ATF_CHECK_EQ(BPF_T_MONOTONIC_FAST, 0x0300);
	ATF_CHECK_EQ(BPF_T_FLAG_MASK, 0x0300);
	ATF_CHECK_EQ(BPF_T_BINTIME_MONOTONIC_FAST, 0x0302);
	ATF_CHECK(BPF_T_VALID(BPF_T_NONE));
	ATF_CHECK(!BPF_T_VALID(BPF_T_NONE | BPF_T_FAST));
	ATF_CHECK(BPF_T_VALID(BPF_T_NANOTIME_MONOTONIC_FAST));
	ATF_CHECK(!BPF_T_VALID(0x0400));
	ATF_CHECK_EQ(BPF_T_HWSTAMP &
	    (BPF_T_FORMAT_MASK | BPF_T_FLAG_MASK), 0);
	ATF_CHECK(!BPF_T_VALID(BPF_T_HWSTAMP | BPF_T_NANOTIME));
	/* The same on ILP32 and LP64 (this test is built for both). */
	ATF_CHECK_EQ(sizeof(struct bpf_ts), 16);
	ATF_CHECK_EQ(offsetof(struct bpf_ts, bt_frac), 8);
	ATF_CHECK_EQ(offsetof(struct bpf_xhdr, bh_tstamp), 0);
	ATF_CHECK_EQ(offsetof(struct bpf_xhdr, bh_caplen), 16);
	ATF_CHECK_EQ(offsetof(struct bpf_xhdr, bh_datalen), 20);
	ATF_CHECK_EQ(offsetof(struct bpf_xhdr, bh_hdrlen), 24);
	ATF_CHECK_EQ(XHDR_LEN, 26);
}

ATF_TC(bpf_tstamp_refused);
ATF_TC_HEAD(bpf_tstamp_refused, tc)
{
	atf_tc_set_md_var(tc, "descr",
	    "BIOCSTSTAMP refuses what FreeBSD's BPF_T_VALID refuses, and "
	    "BPF_T_HWSTAMP with anything but BPF_T_NANOTIME; the value "
	    "stays as it was");
	atf_tc_set_md_var(tc, "require.user", "root");
}
ATF_TC_BODY(bpf_tstamp_refused, tc)
{
	static struct bpf_insn prog[] = { BPF_STMT(BPF_RET + BPF_K, 0) };
	static const u_int bad[] = {
		BPF_T_NONE | BPF_T_FAST,
		BPF_T_NONE | BPF_T_MONOTONIC,
		0x0004,
		0x0400,
		0x0800,
		0x2000,
		BPF_T_HWSTAMP,		/* with BPF_T_MICROTIME */
		BPF_T_HWSTAMP | BPF_T_BINTIME,
		BPF_T_HWSTAMP | BPF_T_NONE,
		BPF_T_HWSTAMP | BPF_T_NANOTIME_FAST,
		BPF_T_HWSTAMP | BPF_T_NANOTIME_MONOTONIC,
	};
	u_int i, v;
	int fd;

	fd = bpf_lo0(BPF_T_BINTIME_MONOTONIC, prog, __arraycount(prog));
	for (i = 0; i < __arraycount(bad); i++) {
		v = bad[i];
		ATF_CHECK_MSG(ioctl(fd, BIOCSTSTAMP, &v) == -1 &&
		    errno == EINVAL, "BIOCSTSTAMP %#x not refused", bad[i]);
		ATF_CHECK(ioctl(fd, BIOCGTSTAMP, &v) == 0);
		ATF_CHECK_EQ_MSG(v, BPF_T_BINTIME_MONOTONIC,
		    "BIOCGTSTAMP %#x after refused %#x", v, bad[i]);
	}
	v = BPF_T_NANOTIME | BPF_T_HWSTAMP;
	ATF_CHECK_MSG(ioctl(fd, BIOCSTSTAMP, &v) == 0,
	    "BIOCSTSTAMP BPF_T_NANOTIME|BPF_T_HWSTAMP: %s", strerror(errno));
	close(fd);
}

static uint16_t
cksum(const void *data, size_t len)
{
	const uint8_t *p = data;
	uint32_t sum = 0;
	size_t i;

	for (i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (len & 1)
		sum += (uint32_t)p[len - 1] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return htons((uint16_t)~sum);
}

/*
 * Send one fragment of an IPv4 datagram with IP_HDRINCL (ip_len and
 * ip_off in host order, as NetBSD's raw IP wants them).
 */
static void
send_fragment(int s, uint16_t id, const uint8_t *data, size_t len,
    size_t off, bool more)
{
	uint8_t pkt[sizeof(struct ip) + 64];
	struct ip *ip = (struct ip *)pkt;
	struct sockaddr_storage to;
	socklen_t tolen;

	ATF_REQUIRE(len <= 64 && off % 8 == 0);
	memset(pkt, 0, sizeof(pkt));
	ip->ip_v = IPVERSION;
	ip->ip_hl = sizeof(struct ip) >> 2;
	ip->ip_len = (uint16_t)(sizeof(struct ip) + len);
	ip->ip_id = htons(id);
	ip->ip_off = (uint16_t)(off / 8 | (more ? IP_MF : 0));
	ip->ip_ttl = 64;
	ip->ip_p = IPPROTO_ICMP;
	ip->ip_src.s_addr = htonl(INADDR_LOOPBACK);
	ip->ip_dst.s_addr = htonl(INADDR_LOOPBACK);
	memcpy(pkt + sizeof(struct ip), data, len);
	tolen = mkaddr(AF_INET, "127.0.0.1", 0, &to);
	ATF_REQUIRE_MSG(sendto(s, pkt, sizeof(struct ip) + len, 0,
	    (struct sockaddr *)&to, tolen) == (ssize_t)(sizeof(struct ip) +
	    len), "raw IP send: %s", strerror(errno));
}

#define	REFLECT_WAIT_NS	300000000LL	/* first fragment's head start */
/* ip_reass() drops fragments shorter than IP_MINFRAGSIZE - 1 (68) */
#define	FRAG1_LEN	56
#define	FRAG2_LEN	40

ATF_TC(bpf_reflected_capture_time);
ATF_TC_HEAD(bpf_reflected_capture_time, tc)
{
	atf_tc_set_md_var(tc, "descr",
	    "icmp_reflect() sends the echo request's mbuf back: with "
	    "software RX stamping on, the reply's lo0 record has the time "
	    "bpf saw the reply, not the request's arrival (here the "
	    "reassembled request's first fragment, 300 ms earlier), in "
	    "BPF_T_NANOTIME and BPF_T_MICROTIME");
	atf_tc_set_md_var(tc, "require.user", "root");
}
ATF_TC_BODY(bpf_reflected_capture_time, tc)
{
	static struct bpf_insn prog[] = {
		BPF_STMT(BPF_LD + BPF_B + BPF_ABS, LO_HDRLEN + 9),
		BPF_JUMP(BPF_JMP + BPF_JEQ + BPF_K, IPPROTO_ICMP, 0, 3),
		BPF_STMT(BPF_LD + BPF_B + BPF_ABS, LO_HDRLEN + 20),
		BPF_JUMP(BPF_JMP + BPF_JEQ + BPF_K, ICMP_ECHOREPLY, 0, 1),
		BPF_STMT(BPF_RET + BPF_K, 0xffff),
		BPF_STMT(BPF_RET + BPF_K, 0),
	};
	static const u_int formats[] = { BPF_T_NANOTIME, BPF_T_MICROTIME };
	static uint8_t buf[65536];
	uint8_t icmp[FRAG1_LEN + FRAG2_LEN];
	struct icmp *ic = (struct icmp *)icmp;
	struct rec r;
	int64_t t1, t2, ns;
	int fd[2], rx, s, i;
	uint16_t id = (uint16_t)(getpid() | 1);

	/* Some socket wants software RX stamps: lo0 stamps every packet. */
	rx = socket(AF_INET, SOCK_DGRAM, 0);
	ATF_REQUIRE(rx != -1);
	setint(rx, SOL_SOCKET, SO_TIMESTAMPNS, 1);
	for (i = 0; i < 2; i++)
		fd[i] = bpf_lo0(formats[i], prog, __arraycount(prog));
	s = socket(AF_INET, SOCK_RAW, IPPROTO_RAW);
	ATF_REQUIRE_MSG(s != -1, "raw socket: %s", strerror(errno));
	setint(s, IPPROTO_IP, IP_HDRINCL, 1);

	memset(icmp, 0xa5, sizeof(icmp));
	ic->icmp_type = ICMP_ECHO;
	ic->icmp_code = 0;
	ic->icmp_cksum = 0;
	ic->icmp_id = htons(id);
	ic->icmp_seq = htons(1);
	ic->icmp_cksum = cksum(icmp, sizeof(icmp));

	send_fragment(s, id, icmp, FRAG1_LEN, 0, true);
	usleep(REFLECT_WAIT_NS / 1000);
	t1 = now_ns(CLOCK_REALTIME);
	send_fragment(s, id, icmp + FRAG1_LEN, FRAG2_LEN, FRAG1_LEN, false);
	t2 = now_ns(CLOCK_REALTIME);
	for (i = 0; i < 2; i++) {
		ATF_REQUIRE_EQ_MSG(bpf_records(fd[i], formats[i], buf,
		    sizeof(buf), &r, 1), 1, "no echo reply captured");
		ns = rec_ns(formats[i], &r);
		check_between(formats[i] == BPF_T_NANOTIME ?
		    "BPF_T_NANOTIME echo reply" : "BPF_T_MICROTIME echo reply",
		    t1 - 999, ns, t2);
		close(fd[i]);
	}
	close(s);
	close(rx);
}

ATF_TP_ADD_TCS(tp)
{

	ATF_TP_ADD_TC(tp, bpf_tstamp_abi);
	ATF_TP_ADD_TC(tp, bpf_tstamp_refused);
	ATF_TP_ADD_TC(tp, bpf_microtime);
	ATF_TP_ADD_TC(tp, bpf_nanotime);
	ATF_TP_ADD_TC(tp, bpf_bintime);
	ATF_TP_ADD_TC(tp, bpf_none);
	ATF_TP_ADD_TC(tp, bpf_microtime_fast);
	ATF_TP_ADD_TC(tp, bpf_nanotime_fast);
	ATF_TP_ADD_TC(tp, bpf_bintime_fast);
	ATF_TP_ADD_TC(tp, bpf_microtime_monotonic);
	ATF_TP_ADD_TC(tp, bpf_nanotime_monotonic);
	ATF_TP_ADD_TC(tp, bpf_bintime_monotonic);
	ATF_TP_ADD_TC(tp, bpf_microtime_monotonic_fast);
	ATF_TP_ADD_TC(tp, bpf_nanotime_monotonic_fast);
	ATF_TP_ADD_TC(tp, bpf_bintime_monotonic_fast);
	ATF_TP_ADD_TC(tp, bpf_reflected_capture_time);
	return atf_no_error();
}
