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
 * Receive timestamps: taken when the datagram enters the stack (not
 * at delivery), enabled synchronously, on every path (loopback,
 * multicast, broadcast, recvmmsg, frames from the host on wm0), in
 * the chosen clock; option handling and reference counting.
 */

#include <sys/ioctl.h>
#include <sys/sysctl.h>

#include <net/if.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>

#include "host_request.h"
#include "tstamp_util.h"
#include "harness.h"

#define	ALLRX	(SOF_TIMESTAMPING_SOFTWARE | SOF_TIMESTAMPING_RX_SOFTWARE)

/*
 * Turn on both kinds of receive stamp: SO_TIMESTAMPNS (set after
 * SO_TIMESTAMP, it replaces its message, as on Linux) and
 * SO_TIMESTAMPING.
 */
static void
enable_all(int s)
{

	setint(s, SOL_SOCKET, SO_TIMESTAMP, 1);
	setint(s, SOL_SOCKET, SO_TIMESTAMPNS, 1);
	setint(s, SOL_SOCKET, SO_TIMESTAMPING, ALLRX);
}

/* Both stamps of r lie in [lo, hi] of the given clock. */
static void
check_all(const struct tsmsg *r, int64_t lo, int64_t hi)
{

	ATF_REQUIRE_MSG(r->ntv == 0 && r->nns == 1 && r->nts == 1,
	    "stamps: %d SCM_TIMESTAMP (want 0), %d SCM_TIMESTAMPNS, "
	    "%d SCM_TIMESTAMPING", r->ntv, r->nns, r->nts);
	check_between("SCM_TIMESTAMPNS", lo, ts_ns(&r->ns), hi);
	check_between("ts[0]", lo, ts_ns(&r->ts.ts[0]), hi);
}

/*
 * Enable, send at once, wait, then receive: the stamps must lie within
 * the send call (lo0 stamps in looutput), which shows both that the
 * first datagram after setsockopt() is stamped early and that the
 * stamp is not the delivery time.
 */
static void
reception_not_delivery(int af)
{
	struct sockaddr_storage rss, sss;
	socklen_t rlen, slen;
	struct tsmsg r;
	int64_t before, after, delivered;
	int rs, ss;

	rs = bound_socket(af, SOCK_DGRAM, 0, &rss, &rlen);
	ss = bound_socket(af, SOCK_DGRAM, 0, &sss, &slen);
	enable_all(rs);
	before = now_ns(CLOCK_REALTIME);
	ATF_REQUIRE(sendto(ss, "x", 1, 0, (struct sockaddr *)&rss, rlen) == 1);
	after = now_ns(CLOCK_REALTIME);
	usleep(300000);
	ATF_REQUIRE(recv_ts(rs, MSG_DONTWAIT, &r) == 0);
	delivered = now_ns(CLOCK_REALTIME);
	check_all(&r, before, after);
	ATF_CHECK_MSG(delivered - ts_ns(&r.ns) >= 250000000LL,
	    "stamp only %lld ns before delivery",
	    (long long)(delivered - ts_ns(&r.ns)));
	close(rs);
	close(ss);
}

ATF_TC(tstamp_rx_at_reception_udp4);
ATF_TC_HEAD(tstamp_rx_at_reception_udp4, tc)
{
	atf_tc_set_md_var(tc, "descr", "UDPv4 stamp taken at reception, "
	    "first datagram after enabling");
}
ATF_TC_BODY(tstamp_rx_at_reception_udp4, tc)
{
	reception_not_delivery(AF_INET);
}

ATF_TC(tstamp_rx_at_reception_udp6);
ATF_TC_HEAD(tstamp_rx_at_reception_udp6, tc)
{
	atf_tc_set_md_var(tc, "descr", "UDPv6 stamp taken at reception, "
	    "first datagram after enabling");
}
ATF_TC_BODY(tstamp_rx_at_reception_udp6, tc)
{
	reception_not_delivery(AF_INET6);
}

ATF_TC(tstamp_monotonic_clock);
ATF_TC_HEAD(tstamp_monotonic_clock, tc)
{
	atf_tc_set_md_var(tc, "descr", "SO_TIMESTAMP_CLOCK selects the clock");
}
ATF_TC_BODY(tstamp_monotonic_clock, tc)
{
	struct sockaddr_storage rss, sss;
	socklen_t rlen, slen;
	struct tsmsg r;
	int64_t before, after;
	int rs, ss;

	rs = bound_socket(AF_INET, SOCK_DGRAM, 0, &rss, &rlen);
	ss = bound_socket(AF_INET, SOCK_DGRAM, 0, &sss, &slen);
	ATF_CHECK_EQ(getint(rs, SOL_SOCKET, SO_TIMESTAMP_CLOCK),
	    CLOCK_REALTIME);
	enable_all(rs);
	setint(rs, SOL_SOCKET, SO_TIMESTAMP_CLOCK, CLOCK_MONOTONIC);
	ATF_CHECK_EQ(getint(rs, SOL_SOCKET, SO_TIMESTAMP_CLOCK),
	    CLOCK_MONOTONIC);

	before = now_ns(CLOCK_MONOTONIC);
	ATF_REQUIRE(sendto(ss, "m", 1, 0, (struct sockaddr *)&rss, rlen) == 1);
	ATF_REQUIRE(wait_readable(rs, 5000));
	ATF_REQUIRE(recv_ts(rs, 0, &r) == 0);
	after = now_ns(CLOCK_MONOTONIC);
	check_all(&r, before, after);

	/* Back to realtime: the next datagram follows. */
	setint(rs, SOL_SOCKET, SO_TIMESTAMP_CLOCK, CLOCK_REALTIME);
	ATF_CHECK_EQ(getint(rs, SOL_SOCKET, SO_TIMESTAMP_CLOCK),
	    CLOCK_REALTIME);
	before = now_ns(CLOCK_REALTIME);
	ATF_REQUIRE(sendto(ss, "r", 1, 0, (struct sockaddr *)&rss, rlen) == 1);
	ATF_REQUIRE(wait_readable(rs, 5000));
	ATF_REQUIRE(recv_ts(rs, 0, &r) == 0);
	after = now_ns(CLOCK_REALTIME);
	check_all(&r, before, after);
	close(rs);
	close(ss);
}

/* Set the realtime clock d ns ahead (or back); 0 or errno. */
static int
clock_step(int64_t d)
{
	struct timespec ts;
	int64_t ns;

	ns = now_ns(CLOCK_REALTIME) + d;
	ts.tv_sec = ns / TS_NSEC;
	ts.tv_nsec = ns % TS_NSEC;
	return clock_settime(CLOCK_REALTIME, &ts) == 0 ? 0 : errno;
}

/*
 * A realtime stamp is the clock's value when the stamp was taken, as
 * on Linux: stepping the clock between arrival and recvmsg() does not
 * move a queued stamp.  TCP data waits in the receive buffer with its
 * stamp (the control message is made at the read); a datagram's and a
 * TX record's are made when they are queued.  Stamps taken after the
 * step follow it.
 */
ATF_TC(tstamp_clock_step);
ATF_TC_HEAD(tstamp_clock_step, tc)
{
	atf_tc_set_md_var(tc, "descr", "a clock step between arrival and "
	    "read does not move queued realtime stamps");
	atf_tc_set_md_var(tc, "require.user", "root");
}
ATF_TC_BODY(tstamp_clock_step, tc)
{
	/* Back: a step ahead would look like a timeout to the runner. */
	const int64_t step = -100 * TS_NSEC;
	struct sockaddr_storage rss, sss, lss;
	socklen_t rlen, slen, llen;
	struct tsmsg r1, r2, tx, t1;
	int64_t lo1, hi1, lo2, hi2;
	int rs, ss, ls, cs, as, e1, e2, etx, et1, estep, eback;

	rs = bound_socket(AF_INET, SOCK_DGRAM, 0, &rss, &rlen);
	ss = bound_socket(AF_INET, SOCK_DGRAM, 0, &sss, &slen);
	enable_all(rs);
	setint(ss, SOL_SOCKET, SO_TIMESTAMPING, SOF_TIMESTAMPING_SOFTWARE |
	    SOF_TIMESTAMPING_TX_SOFTWARE | SOF_TIMESTAMPING_OPT_TSONLY);
	ls = bound_socket(AF_INET, SOCK_STREAM, 0, &lss, &llen);
	ATF_REQUIRE(listen(ls, 1) == 0);
	cs = socket(AF_INET, SOCK_STREAM, 0);
	ATF_REQUIRE(cs != -1);
	ATF_REQUIRE(connect(cs, (struct sockaddr *)&lss, llen) == 0);
	as = accept(ls, NULL, NULL);
	ATF_REQUIRE(as != -1);
	enable_all(as);

	lo1 = now_ns(CLOCK_REALTIME);
	ATF_REQUIRE(sendto(ss, "1", 1, 0, (struct sockaddr *)&rss, rlen) == 1);
	ATF_REQUIRE(write(cs, "t", 1) == 1);
	hi1 = now_ns(CLOCK_REALTIME);
	usleep(100000);

	/* Nothing may stop between the steps: the clock goes back. */
	estep = clock_step(step);
	et1 = recv_ts(as, MSG_DONTWAIT, &t1);
	e1 = recv_ts(rs, MSG_DONTWAIT, &r1);
	etx = recv_ts(ss, MSG_ERRQUEUE, &tx);
	lo2 = now_ns(CLOCK_REALTIME);
	(void)sendto(ss, "2", 1, 0, (struct sockaddr *)&rss, rlen);
	hi2 = now_ns(CLOCK_REALTIME);
	usleep(100000);
	e2 = recv_ts(rs, MSG_DONTWAIT, &r2);
	eback = estep == 0 ? clock_step(-step) : 0;

	ATF_REQUIRE_EQ_MSG(estep, 0, "clock_settime: %s", strerror(estep));
	ATF_REQUIRE_EQ_MSG(eback, 0, "clock_settime back: %s",
	    strerror(eback));
	ATF_REQUIRE_EQ_MSG(et1, 0, "TCP data: %s", strerror(et1));
	ATF_CHECK_EQ(t1.len, 1);
	check_all(&t1, lo1, hi1);
	ATF_REQUIRE_EQ_MSG(e1, 0, "first datagram: %s", strerror(e1));
	check_all(&r1, lo1, hi1);
	ATF_REQUIRE_EQ_MSG(etx, 0, "TX record: %s", strerror(etx));
	ATF_CHECK_EQ(tx.nts, 1);
	check_between("TX record ts[0]", lo1, ts_ns(&tx.ts.ts[0]), hi1);
	/* Taken after the step: the stepped clock. */
	ATF_REQUIRE_EQ_MSG(e2, 0, "second datagram: %s", strerror(e2));
	check_all(&r2, lo2, hi2);
	close(as);
	close(cs);
	close(ls);
	close(rs);
	close(ss);
}

ATF_TC(tstamp_sockopt_roundtrip);
ATF_TC_HEAD(tstamp_sockopt_roundtrip, tc)
{
	atf_tc_set_md_var(tc, "descr", "getsockopt returns what was set");
}
ATF_TC_BODY(tstamp_sockopt_roundtrip, tc)
{
	static const int flags[] = {
		0, SOF_TIMESTAMPING_SOFTWARE, ALLRX,
		SOF_TIMESTAMPING_TX_SOFTWARE | SOF_TIMESTAMPING_OPT_ID,
		SOF_TIMESTAMPING_OPT_ID | SOF_TIMESTAMPING_OPT_ID_TCP,
		SOF_TIMESTAMPING_MASK & ~SOF_TIMESTAMPING_BIND_PHC,
		SOF_TIMESTAMPING_OPT_RX_FILTER, 0,
	};
	struct so_timestamping sts;
	socklen_t len;
	size_t i;
	int s;

	s = socket(AF_INET6, SOCK_DGRAM, 0);
	ATF_REQUIRE(s != -1);
	ATF_CHECK_EQ(getint(s, SOL_SOCKET, SO_TIMESTAMP), 0);
	ATF_CHECK_EQ(getint(s, SOL_SOCKET, SO_TIMESTAMPNS), 0);
	ATF_CHECK_EQ(getint(s, SOL_SOCKET, SO_TIMESTAMPING), 0);
	for (i = 0; i < __arraycount(flags); i++) {
		setint(s, SOL_SOCKET, SO_TIMESTAMPING, flags[i]);
		ATF_CHECK_EQ(getint(s, SOL_SOCKET, SO_TIMESTAMPING), flags[i]);
	}
	setint(s, SOL_SOCKET, SO_TIMESTAMPNS, 7);
	ATF_CHECK_EQ(getint(s, SOL_SOCKET, SO_TIMESTAMPNS), 1);
	setint(s, SOL_SOCKET, SO_TIMESTAMPNS, 0);
	ATF_CHECK_EQ(getint(s, SOL_SOCKET, SO_TIMESTAMPNS), 0);
	setint(s, SOL_SOCKET, SO_TIMESTAMP, 1);
	ATF_CHECK_EQ(getint(s, SOL_SOCKET, SO_TIMESTAMP), 1);
	setint(s, SOL_SOCKET, SO_TIMESTAMP_CLOCK, CLOCK_MONOTONIC);
	ATF_CHECK_EQ(getint(s, SOL_SOCKET, SO_TIMESTAMP_CLOCK),
	    CLOCK_MONOTONIC);

	/* Linux 5.18's struct form is accepted too. */
	sts.flags = ALLRX;
	sts.bind_phc = 0;
	ATF_REQUIRE(setsockopt(s, SOL_SOCKET, SO_TIMESTAMPING, &sts,
	    sizeof(sts)) == 0);
	ATF_CHECK_EQ(getint(s, SOL_SOCKET, SO_TIMESTAMPING), ALLRX);
	len = sizeof(sts);
	memset(&sts, 0, sizeof(sts));
	ATF_REQUIRE(getsockopt(s, SOL_SOCKET, SO_TIMESTAMPING, &sts, &len)
	    == 0);
	ATF_CHECK_EQ(sts.flags, ALLRX);
	close(s);
}

ATF_TC(tstamp_einval_unchanged);
ATF_TC_HEAD(tstamp_einval_unchanged, tc)
{
	atf_tc_set_md_var(tc, "descr", "invalid values: EINVAL, no change");
}
ATF_TC_BODY(tstamp_einval_unchanged, tc)
{
	static const int badflags[] = {
		1 << 18, 1 << 30, (int)(1U << 31), -1,
		SOF_TIMESTAMPING_OPT_ID_TCP,
		SOF_TIMESTAMPING_BIND_PHC | SOF_TIMESTAMPING_SOFTWARE,
		SOF_TIMESTAMPING_MASK,
		/* Linux: statistics only with OPT_TSONLY. */
		SOF_TIMESTAMPING_OPT_STATS | SOF_TIMESTAMPING_SOFTWARE,
	};
	static const int badclock[] = { CLOCK_VIRTUAL, CLOCK_PROF, 4, -1,
	    1000 };
	const int good = ALLRX | SOF_TIMESTAMPING_OPT_ID;
	char one = 1, big[sizeof(int) * 2 + 1];
	size_t i;
	int s, users, v;

	s = socket(AF_INET, SOCK_DGRAM, 0);
	ATF_REQUIRE(s != -1);
	setint(s, SOL_SOCKET, SO_TIMESTAMPING, good);
	setint(s, SOL_SOCKET, SO_TIMESTAMP_CLOCK, CLOCK_MONOTONIC);
	users = (int)sysctl_uint("kern.sotstamp.rx_users");
	for (i = 0; i < __arraycount(badflags); i++) {
		v = badflags[i];
		errno = 0;
		ATF_CHECK_MSG(setsockopt(s, SOL_SOCKET, SO_TIMESTAMPING, &v,
		    sizeof(v)) == -1 && errno == EINVAL, "flags %#x: %s", v,
		    strerror(errno));
		ATF_CHECK_EQ(getint(s, SOL_SOCKET, SO_TIMESTAMPING), good);
	}
	for (i = 0; i < __arraycount(badclock); i++) {
		v = badclock[i];
		errno = 0;
		ATF_CHECK_MSG(setsockopt(s, SOL_SOCKET, SO_TIMESTAMP_CLOCK, &v,
		    sizeof(v)) == -1 && errno == EINVAL, "clock %d", v);
		ATF_CHECK_EQ(getint(s, SOL_SOCKET, SO_TIMESTAMP_CLOCK),
		    CLOCK_MONOTONIC);
	}
	/* Wrong lengths. */
	ATF_CHECK(setsockopt(s, SOL_SOCKET, SO_TIMESTAMPING, &one,
	    sizeof(one)) == -1 && errno == EINVAL);
	memset(big, 0, sizeof(big));
	ATF_CHECK(setsockopt(s, SOL_SOCKET, SO_TIMESTAMPING, big,
	    sizeof(big)) == -1 && errno == EINVAL);
	ATF_CHECK(setsockopt(s, SOL_SOCKET, SO_TIMESTAMPNS, &one,
	    sizeof(one)) == -1 && errno == EINVAL);
	ATF_CHECK(setsockopt(s, SOL_SOCKET, SO_TIMESTAMPING, NULL, 0) == -1);
	ATF_CHECK_EQ(getint(s, SOL_SOCKET, SO_TIMESTAMPING), good);
	ATF_CHECK_EQ(getint(s, SOL_SOCKET, SO_TIMESTAMPNS), 0);
	ATF_CHECK_EQ((int)sysctl_uint("kern.sotstamp.rx_users"), users);
	close(s);
}

ATF_TC(tstamp_no_leak);
ATF_TC_HEAD(tstamp_no_leak, tc)
{
	atf_tc_set_md_var(tc, "descr", "only sockets that asked get stamps");
}
ATF_TC_BODY(tstamp_no_leak, tc)
{
	static const int opts[] = {
		ALLRX, SOF_TIMESTAMPING_SOFTWARE, 0,
		SOF_TIMESTAMPING_RX_SOFTWARE,
		SOF_TIMESTAMPING_SOFTWARE | SOF_TIMESTAMPING_TX_SOFTWARE,
	};
	struct sockaddr_storage rss[__arraycount(opts)], sss;
	socklen_t rlen[__arraycount(opts)], slen;
	int rs[__arraycount(opts)], ss;
	struct tsmsg r;
	size_t i;

	ss = bound_socket(AF_INET, SOCK_DGRAM, 0, &sss, &slen);
	for (i = 0; i < __arraycount(opts); i++) {
		rs[i] = bound_socket(AF_INET, SOCK_DGRAM, 0, &rss[i],
		    &rlen[i]);
		setint(rs[i], SOL_SOCKET, SO_TIMESTAMPING, opts[i]);
		setint(rs[i], SOL_SOCKET, SO_TIMESTAMP_CLOCK, CLOCK_REALTIME);
	}
	for (i = 0; i < __arraycount(opts); i++) {
		ATF_REQUIRE(sendto(ss, "l", 1, 0, (struct sockaddr *)&rss[i],
		    rlen[i]) == 1);
		ATF_REQUIRE(wait_readable(rs[i], 5000));
		ATF_REQUIRE(recv_ts(rs[i], 0, &r) == 0);
		ATF_CHECK_MSG(r.nts == (i == 0) && r.ntv == 0 && r.nns == 0,
		    "socket with flags %#x got %d stamps", opts[i],
		    r.nts + r.ntv + r.nns);
	}
	for (i = 0; i < __arraycount(opts); i++)
		close(rs[i]);
	close(ss);
}

ATF_TC(tstamp_rx_users_refcount);
ATF_TC_HEAD(tstamp_rx_users_refcount, tc)
{
	atf_tc_set_md_var(tc, "descr", "the global stamping count follows "
	    "sockets' options and their close");
	atf_tc_set_md_var(tc, "require.user", "root");	/* a raw socket */
}
ATF_TC_BODY(tstamp_rx_users_refcount, tc)
{
	u_int base;
	int s, t;

	base = sysctl_uint("kern.sotstamp.rx_users");
	s = socket(AF_INET, SOCK_DGRAM, 0);
	t = socket(AF_INET6, SOCK_RAW, TS_RAWPROTO);
	ATF_REQUIRE(s != -1 && t != -1);
	setint(s, SOL_SOCKET, SO_TIMESTAMP, 1);
	ATF_CHECK_EQ(sysctl_uint("kern.sotstamp.rx_users"), base + 1);
	setint(s, SOL_SOCKET, SO_TIMESTAMPNS, 1);
	setint(s, SOL_SOCKET, SO_TIMESTAMPING, ALLRX);
	ATF_CHECK_EQ(sysctl_uint("kern.sotstamp.rx_users"), base + 1);
	setint(s, SOL_SOCKET, SO_TIMESTAMP, 0);
	setint(s, SOL_SOCKET, SO_TIMESTAMPNS, 0);
	ATF_CHECK_EQ(sysctl_uint("kern.sotstamp.rx_users"), base + 1);
	setint(s, SOL_SOCKET, SO_TIMESTAMPING, SOF_TIMESTAMPING_SOFTWARE);
	ATF_CHECK_EQ(sysctl_uint("kern.sotstamp.rx_users"), base);
	setint(t, SOL_SOCKET, SO_TIMESTAMPNS, 1);
	setint(s, SOL_SOCKET, SO_TIMESTAMP, 1);
	ATF_CHECK_EQ(sysctl_uint("kern.sotstamp.rx_users"), base + 2);
	close(s);
	ATF_CHECK_EQ(sysctl_uint("kern.sotstamp.rx_users"), base + 1);
	close(t);
	ATF_CHECK_EQ(sysctl_uint("kern.sotstamp.rx_users"), base);
}

ATF_TC(tstamp_recvmmsg_64);
ATF_TC_HEAD(tstamp_recvmmsg_64, tc)
{
	atf_tc_set_md_var(tc, "descr", "recvmmsg of 64 datagrams returns "
	    "64 stamps");
}
ATF_TC_BODY(tstamp_recvmmsg_64, tc)
{
	enum { N = 64 };
	static struct mmsghdr mm[N];
	static struct iovec iov[N];
	static char data[N][64];
	static union {
		struct cmsghdr	align;
		char		buf[256];
	} cbuf[N];
	struct sockaddr_storage rss, sss;
	socklen_t rlen, slen;
	struct tsmsg r;
	struct timespec tmo = { 10, 0 };
	int64_t before, after, prev = 0;
	int rs, ss, i, n, got = 0, buf = 128 * 1024;

	/*
	 * A 32-bit build on amd64: 7.99.10's COMPAT_NETBSD32 has no
	 * recvmmsg (its syscall 475 is UNIMPL, SIGSYS); natively the
	 * probe fails with EBADF.
	 */
	signal(SIGSYS, SIG_IGN);
	if (recvmmsg(-1, NULL, 0, 0, NULL) == -1 && errno == ENOSYS)
		atf_tc_skip("the kernel has no recvmmsg for this process "
		    "(COMPAT_NETBSD32 of 7.99.10)");
	rs = bound_socket(AF_INET, SOCK_DGRAM, 0, &rss, &rlen);
	ss = bound_socket(AF_INET, SOCK_DGRAM, 0, &sss, &slen);
	ATF_REQUIRE(setsockopt(rs, SOL_SOCKET, SO_RCVBUF, &buf,
	    sizeof(buf)) == 0);
	enable_all(rs);
	before = now_ns(CLOCK_REALTIME);
	for (i = 0; i < N; i++) {
		snprintf(data[i], sizeof(data[i]), "dgram %d", i);
		ATF_REQUIRE(sendto(ss, data[i], strlen(data[i]), 0,
		    (struct sockaddr *)&rss, rlen) != -1);
	}
	after = now_ns(CLOCK_REALTIME);
	ATF_REQUIRE(wait_readable(rs, 5000));
	while (got < N) {
		for (i = 0; i < N; i++) {
			memset(&mm[i], 0, sizeof(mm[i]));
			iov[i].iov_base = data[i];
			iov[i].iov_len = sizeof(data[i]);
			mm[i].msg_hdr.msg_iov = &iov[i];
			mm[i].msg_hdr.msg_iovlen = 1;
			mm[i].msg_hdr.msg_control = cbuf[i].buf;
			mm[i].msg_hdr.msg_controllen = sizeof(cbuf[i].buf);
		}
		n = recvmmsg(rs, mm, N - got, MSG_WAITFORONE, &tmo);
		ATF_REQUIRE_MSG(n > 0, "recvmmsg: %d %s", n, strerror(errno));
		for (i = 0; i < n; i++) {
			memset(&r, 0, sizeof(r));
			sort_cmsgs(&mm[i].msg_hdr, &r);
			check_all(&r, before, after);
			ATF_CHECK(ts_ns(&r.ns) >= prev);
			prev = ts_ns(&r.ns);
		}
		got += n;
	}
	ATF_CHECK_EQ(got, N);
	close(rs);
	close(ss);
}

/* Multicast to two members on lo0: both get their own stamps. */
ATF_TC(tstamp_multicast_udp4);
ATF_TC_HEAD(tstamp_multicast_udp4, tc)
{
	atf_tc_set_md_var(tc, "descr", "IPv4 multicast datagrams stamped");
}
ATF_TC_BODY(tstamp_multicast_udp4, tc)
{
	struct sockaddr_storage gss, any;
	struct ip_mreq mreq;
	struct in_addr ifa;
	struct tsmsg r;
	socklen_t glen;
	int64_t before, after;
	int rs[2], ss, i, on = 1;
	const int port = 31400;

	glen = mkaddr(AF_INET, "239.255.12.34", port, &gss);
	memset(&mreq, 0, sizeof(mreq));
	mreq.imr_multiaddr = ((struct sockaddr_in *)&gss)->sin_addr;
	ATF_REQUIRE(inet_pton(AF_INET, "127.0.0.1", &mreq.imr_interface)
	    == 1);
	for (i = 0; i < 2; i++) {
		rs[i] = socket(AF_INET, SOCK_DGRAM, 0);
		ATF_REQUIRE(rs[i] != -1);
		ATF_REQUIRE(setsockopt(rs[i], SOL_SOCKET, SO_REUSEPORT, &on,
		    sizeof(on)) == 0);
		mkaddr(AF_INET, "0.0.0.0", port, &any);
		ATF_REQUIRE(bind(rs[i], (struct sockaddr *)&any,
		    sizeof(struct sockaddr_in)) == 0);
		ATF_REQUIRE_MSG(setsockopt(rs[i], IPPROTO_IP,
		    IP_ADD_MEMBERSHIP, &mreq, sizeof(mreq)) == 0,
		    "IP_ADD_MEMBERSHIP: %s", strerror(errno));
		enable_all(rs[i]);
	}
	ss = socket(AF_INET, SOCK_DGRAM, 0);
	ATF_REQUIRE(ss != -1);
	ifa = mreq.imr_interface;
	ATF_REQUIRE(setsockopt(ss, IPPROTO_IP, IP_MULTICAST_IF, &ifa,
	    sizeof(ifa)) == 0);
	before = now_ns(CLOCK_REALTIME);
	ATF_REQUIRE_MSG(sendto(ss, "mc", 2, 0, (struct sockaddr *)&gss, glen)
	    == 2, "sendto: %s", strerror(errno));
	after = now_ns(CLOCK_REALTIME);
	for (i = 0; i < 2; i++) {
		ATF_REQUIRE_MSG(wait_readable(rs[i], 5000), "member %d", i);
		ATF_REQUIRE(recv_ts(rs[i], 0, &r) == 0);
		check_all(&r, before, after);
		close(rs[i]);
	}
	close(ss);
}

ATF_TC(tstamp_multicast_udp6);
ATF_TC_HEAD(tstamp_multicast_udp6, tc)
{
	atf_tc_set_md_var(tc, "descr", "IPv6 multicast datagrams stamped");
}
ATF_TC_BODY(tstamp_multicast_udp6, tc)
{
	struct sockaddr_storage gss, any;
	struct ipv6_mreq mreq;
	struct tsmsg r;
	socklen_t glen;
	int64_t before, after;
	u_int ifindex;
	int rs, ss, on = 1;
	const int port = 31401;

	ifindex = if_nametoindex("lo0");
	ATF_REQUIRE(ifindex != 0);
	glen = mkaddr(AF_INET6, "ff12::5154", port, &gss);
	((struct sockaddr_in6 *)&gss)->sin6_scope_id = ifindex;
	memset(&mreq, 0, sizeof(mreq));
	mreq.ipv6mr_multiaddr = ((struct sockaddr_in6 *)&gss)->sin6_addr;
	mreq.ipv6mr_interface = ifindex;
	rs = socket(AF_INET6, SOCK_DGRAM, 0);
	ATF_REQUIRE(rs != -1);
	ATF_REQUIRE(setsockopt(rs, SOL_SOCKET, SO_REUSEPORT, &on,
	    sizeof(on)) == 0);
	mkaddr(AF_INET6, "::", port, &any);
	ATF_REQUIRE(bind(rs, (struct sockaddr *)&any,
	    sizeof(struct sockaddr_in6)) == 0);
	ATF_REQUIRE_MSG(setsockopt(rs, IPPROTO_IPV6, IPV6_JOIN_GROUP, &mreq,
	    sizeof(mreq)) == 0, "IPV6_JOIN_GROUP: %s", strerror(errno));
	enable_all(rs);
	ss = socket(AF_INET6, SOCK_DGRAM, 0);
	ATF_REQUIRE(ss != -1);
	ATF_REQUIRE(setsockopt(ss, IPPROTO_IPV6, IPV6_MULTICAST_IF, &ifindex,
	    sizeof(ifindex)) == 0);
	before = now_ns(CLOCK_REALTIME);
	ATF_REQUIRE_MSG(sendto(ss, "mc6", 3, 0, (struct sockaddr *)&gss, glen)
	    == 3, "sendto: %s", strerror(errno));
	after = now_ns(CLOCK_REALTIME);
	ATF_REQUIRE(wait_readable(rs, 5000));
	ATF_REQUIRE(recv_ts(rs, 0, &r) == 0);
	check_all(&r, before, after);
	close(rs);
	close(ss);
}

/* wm0's broadcast is looped back to us (IFF_SIMPLEX). */
ATF_TC(tstamp_broadcast_udp4);
ATF_TC_HEAD(tstamp_broadcast_udp4, tc)
{
	atf_tc_set_md_var(tc, "descr", "IPv4 broadcast datagrams stamped");
}
ATF_TC_BODY(tstamp_broadcast_udp4, tc)
{
	struct sockaddr_storage bss, any;
	struct tsmsg r;
	socklen_t blen;
	int64_t before, after;
	int rs, ss, on = 1;
	const int port = 31402;

	harness_require(tc);

	rs = socket(AF_INET, SOCK_DGRAM, 0);
	ATF_REQUIRE(rs != -1);
	mkaddr(AF_INET, "0.0.0.0", port, &any);
	ATF_REQUIRE(bind(rs, (struct sockaddr *)&any,
	    sizeof(struct sockaddr_in)) == 0);
	enable_all(rs);
	ss = socket(AF_INET, SOCK_DGRAM, 0);
	ATF_REQUIRE(ss != -1);
	ATF_REQUIRE(setsockopt(ss, SOL_SOCKET, SO_BROADCAST, &on,
	    sizeof(on)) == 0);
	blen = mkaddr(AF_INET, "169.254.255.255", port, &bss);
	before = now_ns(CLOCK_REALTIME);
	ATF_REQUIRE_MSG(sendto(ss, "bc", 2, 0, (struct sockaddr *)&bss, blen)
	    == 2, "sendto: %s", strerror(errno));
	after = now_ns(CLOCK_REALTIME);
	ATF_REQUIRE(wait_readable(rs, 5000));
	ATF_REQUIRE(recv_ts(rs, 0, &r) == 0);
	check_all(&r, before, after);
	close(rs);
	close(ss);
}

/*
 * Frames sent by the host to wm0: every one carries all stamps, each
 * between the request and its own delivery, in arrival order.
 */
static void
from_host(int af, int port)
{
	enum { COUNT = 8 };
	struct sockaddr_storage any;
	struct tsmsg r;
	int64_t before, delivered, prev = 0;
	char want[32];
	socklen_t len;
	int rs, i;

	rs = socket(af, SOCK_DGRAM, 0);
	ATF_REQUIRE(rs != -1);
	len = mkaddr(af, af == AF_INET ? "0.0.0.0" : "::", port, &any);
	ATF_REQUIRE(bind(rs, (struct sockaddr *)&any, len) == 0);
	enable_all(rs);
	setint(rs, SOL_SOCKET, SO_TIMESTAMPING,
	    ALLRX | SOF_TIMESTAMPING_RX_HARDWARE |
	    SOF_TIMESTAMPING_RAW_HARDWARE);
	before = now_ns(CLOCK_REALTIME);
	host_request("@@SEND %s %d %d\n", af == AF_INET ? "udp4" : "udp6",
	    port, COUNT);
	for (i = 0; i < COUNT; i++) {
		ATF_REQUIRE_MSG(wait_readable(rs, 60000),
		    "frame %d of %d from the host never came", i, COUNT);
		ATF_REQUIRE(recv_ts(rs, 0, &r) == 0);
		delivered = now_ns(CLOCK_REALTIME);
		snprintf(want, sizeof(want), "sotimestamp %d", i);
		ATF_CHECK_MSG(r.len == (ssize_t)strlen(want) &&
		    memcmp(r.data, want, r.len) == 0, "frame %d payload", i);
		check_all(&r, before, delivered);
		ATF_CHECK(ts_ns(&r.ts.ts[0]) >= prev);
		prev = ts_ns(&r.ts.ts[0]);
	}
	close(rs);
}

ATF_TC(tstamp_wm0_udp4);
ATF_TC_HEAD(tstamp_wm0_udp4, tc)
{
	atf_tc_set_md_var(tc, "descr", "UDPv4 frames from the host on wm0");
}
ATF_TC_BODY(tstamp_wm0_udp4, tc)
{
	harness_require(tc);
	from_host(AF_INET, 31410);
}

ATF_TC(tstamp_wm0_udp6);
ATF_TC_HEAD(tstamp_wm0_udp6, tc)
{
	atf_tc_set_md_var(tc, "descr", "UDPv6 frames from the host on wm0");
}
ATF_TC_BODY(tstamp_wm0_udp6, tc)
{
	harness_require(tc);
	from_host(AF_INET6, 31411);
}

/*
 * recvmsg() into r, the data into buf of len bytes (a shorter one than
 * the datagram truncates it); the control messages' kinds in order
 * into kinds (up to nkinds).  Returns 0 or errno.
 */
static int
recv_kinds(int s, int flags, void *buf, size_t len, struct tsmsg *r,
    int *kinds, int nkinds)
{
	struct cmsghdr *cm;
	struct msghdr msg;
	struct iovec iov;
	union {
		struct cmsghdr	align;
		char		buf[512];
	} cbuf;
	int i = 0;

	memset(r, 0, sizeof(*r));
	memset(kinds, 0, nkinds * sizeof(*kinds));
	msg_setup(&msg, &iov, buf, len, cbuf.buf, sizeof(cbuf.buf));
	r->len = recvmsg(s, &msg, flags);
	if (r->len == -1)
		return errno;
	r->flags = msg.msg_flags;
	sort_cmsgs(&msg, r);
	for (cm = CMSG_FIRSTHDR(&msg); cm != NULL && i < nkinds;
	    cm = CMSG_NXTHDR(&msg, cm))
		kinds[i++] = cm->cmsg_type;
	return 0;
}

/*
 * A datagram's stamps become its control messages when it is read, as
 * on Linux: in the datagram's own mbuf once its data was copied out,
 * or in a new one where that mbuf stays queued (MSG_PEEK) or is not
 * its own (a truncated datagram, a shared cluster).  Every way of
 * reading, for empty, small and cluster-sized datagrams, gives the one
 * stamp taken at reception, the timestamps first and the IP options'
 * messages after them.
 */
ATF_TC(tstamp_rx_read_paths);
ATF_TC_HEAD(tstamp_rx_read_paths, tc)
{
	atf_tc_set_md_var(tc, "descr", "MSG_PEEK, truncated, empty and "
	    "cluster-sized datagrams: the same stamp, first");
}
ATF_TC_BODY(tstamp_rx_read_paths, tc)
{
	static const size_t sizes[] = { 0, 1, 100, 1400, 3000, 8000 };
	static char data[8000];
	struct sockaddr_storage rss, sss;
	socklen_t rlen, slen;
	struct tsmsg r;
	int64_t lo, hi, stamp;
	int kinds[4], rs, ss, pass;
	size_t i, len;

	rs = bound_socket(AF_INET, SOCK_DGRAM, 0, &rss, &rlen);
	ss = bound_socket(AF_INET, SOCK_DGRAM, 0, &sss, &slen);
	setint(rs, SOL_SOCKET, SO_RCVBUF, 65536);
	setint(rs, SOL_SOCKET, SO_TIMESTAMPNS, 1);
	setint(rs, SOL_SOCKET, SO_TIMESTAMPING, ALLRX);
	setint(rs, IPPROTO_IP, IP_RECVDSTADDR, 1);
	memset(data, 'p', sizeof(data));
	for (i = 0; i < __arraycount(sizes); i++) {
		lo = now_ns(CLOCK_REALTIME);
		ATF_REQUIRE_MSG(sendto(ss, data, sizes[i], 0,
		    (struct sockaddr *)&rss, rlen) == (ssize_t)sizes[i],
		    "sendto %zu: %s", sizes[i], strerror(errno));
		hi = now_ns(CLOCK_REALTIME);
		ATF_REQUIRE(wait_readable(rs, 5000));
		/*
		 * Peek, peek truncated, read truncated; an empty datagram
		 * whole each time (an empty buffer reads as MSG_TRUNC).
		 */
		for (pass = 0; pass < 3; pass++) {
			len = pass == 0 || sizes[i] == 0 ? sizeof(data) :
			    sizes[i] / 2;
			ATF_REQUIRE(recv_kinds(rs, pass < 2 ? MSG_PEEK : 0,
			    data, len, &r, kinds, __arraycount(kinds)) == 0);
			check_all(&r, lo, hi);
			if (pass == 0)
				stamp = ts_ns(&r.ns);
			ATF_CHECK_EQ_MSG(ts_ns(&r.ns), stamp, "%zu bytes, "
			    "pass %d: another stamp", sizes[i], pass);
			ATF_CHECK_EQ(ts_ns(&r.ts.ts[0]), stamp);
			ATF_CHECK_EQ_MSG((size_t)r.len, MIN(len, sizes[i]),
			    "%zu bytes, pass %d: read %zd", sizes[i], pass,
			    r.len);
			ATF_CHECK_EQ_MSG((r.flags & MSG_TRUNC) != 0,
			    len < sizes[i], "%zu bytes, pass %d: flags %#x",
			    sizes[i], pass, r.flags);
			ATF_CHECK_MSG(kinds[0] == SCM_TIMESTAMPNS &&
			    kinds[1] == SCM_TIMESTAMPING &&
			    kinds[2] == IP_RECVDSTADDR && r.nother == 1,
			    "%zu bytes, pass %d: messages %d, %d, %d "
			    "(%d other)", sizes[i], pass, kinds[0], kinds[1],
			    kinds[2], r.nother);
		}
		ATF_CHECK_EQ(recv(rs, data, sizeof(data), MSG_DONTWAIT), -1);
	}
	close(rs);
	close(ss);
}

/*
 * Which stamps a datagram gets is decided when it is read, as on
 * Linux: one queued before stamping was enabled gets one (taken at
 * the read if nobody took one at reception), one queued while it was
 * on gets none once it is off, and the format is the one asked for at
 * the read.
 */
ATF_TC(tstamp_rx_options_at_read);
ATF_TC_HEAD(tstamp_rx_options_at_read, tc)
{
	atf_tc_set_md_var(tc, "descr", "the options in force at recvmsg() "
	    "decide a datagram's stamps");
}
ATF_TC_BODY(tstamp_rx_options_at_read, tc)
{
	struct sockaddr_storage rss, sss;
	socklen_t rlen, slen;
	struct tsmsg r;
	int64_t lo, hi;
	int rs, ss;

	rs = bound_socket(AF_INET, SOCK_DGRAM, 0, &rss, &rlen);
	ss = bound_socket(AF_INET, SOCK_DGRAM, 0, &sss, &slen);
	lo = now_ns(CLOCK_REALTIME);
	ATF_REQUIRE(sendto(ss, "a", 1, 0, (struct sockaddr *)&rss, rlen)
	    == 1);
	ATF_REQUIRE(wait_readable(rs, 5000));
	enable_all(rs);
	ATF_REQUIRE(recv_ts(rs, 0, &r) == 0);
	hi = now_ns(CLOCK_REALTIME);
	check_all(&r, lo, hi);

	ATF_REQUIRE(sendto(ss, "b", 1, 0, (struct sockaddr *)&rss, rlen)
	    == 1);
	ATF_REQUIRE(wait_readable(rs, 5000));
	setint(rs, SOL_SOCKET, SO_TIMESTAMPING, 0);
	setint(rs, SOL_SOCKET, SO_TIMESTAMPNS, 0);
	ATF_REQUIRE(recv_ts(rs, 0, &r) == 0);
	ATF_CHECK_MSG(r.ntv + r.nns + r.nts == 0, "stamping off: %d stamps",
	    r.ntv + r.nns + r.nts);

	lo = now_ns(CLOCK_REALTIME);
	setint(rs, SOL_SOCKET, SO_TIMESTAMPNS, 1);
	ATF_REQUIRE(sendto(ss, "c", 1, 0, (struct sockaddr *)&rss, rlen)
	    == 1);
	hi = now_ns(CLOCK_REALTIME);
	ATF_REQUIRE(wait_readable(rs, 5000));
	setint(rs, SOL_SOCKET, SO_TIMESTAMP, 1);
	ATF_REQUIRE(recv_ts(rs, 0, &r) == 0);
	ATF_CHECK_MSG(r.ntv == 1 && r.nns == 0 && r.nts == 0,
	    "SO_TIMESTAMP set last: %d SCM_TIMESTAMP, %d SCM_TIMESTAMPNS",
	    r.ntv, r.nns);
	check_between("SCM_TIMESTAMP", lo, tv_ns(&r.tv), hi);
	close(rs);
	close(ss);
}

/* Datagrams of len bytes a receive buffer of rcvbuf bytes takes. */
static int
queued_datagrams(int stamps, int rcvbuf, size_t len)
{
	static char data[2048];
	struct sockaddr_storage rss, sss;
	socklen_t rlen, slen;
	int i, n, rs, ss;

	rs = bound_socket(AF_INET, SOCK_DGRAM, 0, &rss, &rlen);
	ss = bound_socket(AF_INET, SOCK_DGRAM, 0, &sss, &slen);
	setint(rs, SOL_SOCKET, SO_RCVBUF, rcvbuf);
	if (stamps)
		enable_all(rs);
	for (i = 0; i < 64; i++) {
		ATF_REQUIRE(sendto(ss, data, len, 0, (struct sockaddr *)&rss,
		    rlen) == (ssize_t)len);
		if (i % 8 == 7)
			usleep(20000);	/* lo0's input queue drains */
	}
	usleep(200000);
	for (n = 0; recv(rs, data, sizeof(data), MSG_DONTWAIT) >= 0; n++)
		continue;
	close(rs);
	close(ss);
	return n;
}

/*
 * A stamped datagram costs its receive buffer what an unstamped one
 * does: its stamps wait in its packet header, not in a control mbuf
 * of their own (which took a third more storage per datagram), so
 * asking for stamps does not make a socket drop sooner.
 */
ATF_TC(tstamp_rx_no_buffer_charge);
ATF_TC_HEAD(tstamp_rx_no_buffer_charge, tc)
{
	atf_tc_set_md_var(tc, "descr", "stamped datagrams fill the receive "
	    "buffer no sooner than unstamped ones");
}
ATF_TC_BODY(tstamp_rx_no_buffer_charge, tc)
{
	int off, on;

	off = queued_datagrams(0, 8192, 100);
	on = queued_datagrams(1, 8192, 100);
	printf("8192-byte buffer: %d unstamped, %d stamped datagrams\n",
	    off, on);
	ATF_CHECK_MSG(off > 0 && off < 64, "%d of 64 queued: the buffer "
	    "did not fill", off);
	ATF_CHECK_EQ_MSG(on, off, "%d stamped datagrams queued, %d "
	    "unstamped", on, off);
}

ATF_TP_ADD_TCS(tp)
{

	ATF_TP_ADD_TC(tp, tstamp_rx_at_reception_udp4);
	ATF_TP_ADD_TC(tp, tstamp_rx_at_reception_udp6);
	ATF_TP_ADD_TC(tp, tstamp_monotonic_clock);
	ATF_TP_ADD_TC(tp, tstamp_clock_step);
	ATF_TP_ADD_TC(tp, tstamp_sockopt_roundtrip);
	ATF_TP_ADD_TC(tp, tstamp_einval_unchanged);
	ATF_TP_ADD_TC(tp, tstamp_no_leak);
	ATF_TP_ADD_TC(tp, tstamp_rx_users_refcount);
	ATF_TP_ADD_TC(tp, tstamp_recvmmsg_64);
	ATF_TP_ADD_TC(tp, tstamp_multicast_udp4);
	ATF_TP_ADD_TC(tp, tstamp_multicast_udp6);
	ATF_TP_ADD_TC(tp, tstamp_broadcast_udp4);
	ATF_TP_ADD_TC(tp, tstamp_wm0_udp4);
	ATF_TP_ADD_TC(tp, tstamp_wm0_udp6);
	ATF_TP_ADD_TC(tp, tstamp_rx_read_paths);
	ATF_TP_ADD_TC(tp, tstamp_rx_options_at_read);
	ATF_TP_ADD_TC(tp, tstamp_rx_no_buffer_charge);
	return atf_no_error();
}
