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
 * Hardware TX stamps of UDP datagrams sent over wm0 (82576 under
 * QEMU's igb), delivered on the socket error queue as ts[2] of
 * SCM_TIMESTAMPING; the 82576 latches one TX stamp at a time and the
 * driver must lose none.  Destination: the host end (169.254.1.1,
 * which answers ARP and ignores the datagrams).
 */

#include <sys/wait.h>

#include <net/bpf.h>
#include <net/if_ether.h>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>

#include "tstamp_util.h"
#include "hwtstamp_util.h"

#define	HOST4		"169.254.1.1"
#define	DISCARD		9
#define	NSENDS		100000
#define	WINDOW		64	/* datagrams sent ahead of their stamps */
/*
 * Bound on |hardware stamp - software stamp| once the hardware stamp
 * is moved to CLOCK_REALTIME through SIOCGHWTSOFFSET.  Both are taken
 * within the same send under QEMU (TX is emulated synchronously), so
 * the difference is the emulated path between ifq_enqueue and the
 * descriptor write plus clock read granularity; generous for TCG.
 */
#define	HW_SW_BOUND_NS	5000000LL

/* CLOCK_REALTIME minus NIC clock, from the tightest of 10 cross reads */
static int64_t
nic_to_realtime(void)
{
	struct hwtstamp_sysoff hso;
	int64_t best = INT64_MAX, off = 0;
	uint32_t i;

	hw_sysoff(CLOCK_REALTIME, 10, &hso);
	for (i = 0; i < hso.hso_nsamples; i++) {
		const struct hwtstamp_sysoff_sample *s = &hso.hso_ts[i];
		int64_t w = ts_ns(&s->hss_after) - ts_ns(&s->hss_before);

		if (w < best) {
			best = w;
			off = (ts_ns(&s->hss_before) + ts_ns(&s->hss_after)) / 2
			    - ts_ns(&s->hss_nic);
		}
	}
	return off;
}

/* A UDP socket connected to the host's discard port with flags set. */
static int
tx_socket(int flags)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int s;

	s = socket(AF_INET, SOCK_DGRAM, 0);
	ATF_REQUIRE(s != -1);
	len = mkaddr(AF_INET, HOST4, DISCARD, &ss);
	ATF_REQUIRE_MSG(connect(s, (struct sockaddr *)&ss, len) == 0,
	    "connect: %s", strerror(errno));
	setint(s, SOL_SOCKET, SO_RCVBUF, 200000);	/* < sb_max */
	/* Resolve the host's address before stamping starts. */
	ATF_REQUIRE(send(s, "arp", 3, 0) == 3);
	usleep(200000);
	if (flags != 0)
		setint(s, SOL_SOCKET, SO_TIMESTAMPING, flags);
	return s;
}

/* Read error queue records until none is left (or wait ms for one). */
static int
drain(int s, struct tsmsg *out, int max, int ms)
{
	struct tsmsg r;
	int n = 0;

	while (n < max) {
		if (recv_ts(s, MSG_ERRQUEUE | MSG_DONTWAIT, &r) != 0) {
			struct pollfd pfd = { s, POLLERR, 0 };

			if (ms <= 0 || n > 0 || poll(&pfd, 1, ms) != 1)
				break;
			continue;
		}
		out[n++] = r;
	}
	return n;
}

static void
check_record(const struct tsmsg *r)
{
	ATF_REQUIRE_EQ(r->nerr, 1);
	ATF_CHECK_EQ(r->ee.ee_errno, ENOMSG);
	ATF_CHECK_EQ(r->ee.ee_origin, SO_EE_ORIGIN_TIMESTAMPING);
	ATF_CHECK_EQ(r->ee.ee_info, SCM_TSTAMP_SND);
	ATF_REQUIRE_EQ(r->nts, 1);
	ATF_CHECK_EQ(ts_ns(&r->ts.ts[1]), 0);
}

ATF_TC(hw_tx_udp4_100000_stamps_none_lost);
ATF_TC_HEAD(hw_tx_udp4_100000_stamps_none_lost, tc)
{
	atf_tc_set_md_var(tc, "descr",
	    "100000 UDP datagrams sent over wm0 with TX hardware stamping "
	    "give 100000 hardware stamps, OPT_ID keys in order, none lost");
	atf_tc_set_md_var(tc, "timeout", "600");
	atf_tc_set_md_var(tc, "require.user", "root");
}
ATF_TC_BODY(hw_tx_udp4_100000_stamps_none_lost, tc)
{
	static struct tsmsg recs[WINDOW * 2];
	struct timespec t0, t1;
	int64_t prev = 0, off;
	uint32_t expect = 0;
	int s, sent, got, i, n, late = 0;

	harness_require(tc);
	hw_set(HWTSTAMP_TX_ON, HWTSTAMP_FILTER_NONE, NULL);
	s = tx_socket(SOF_TIMESTAMPING_TX_HARDWARE |
	    SOF_TIMESTAMPING_RAW_HARDWARE | SOF_TIMESTAMPING_OPT_ID |
	    SOF_TIMESTAMPING_OPT_TSONLY);
	off = nic_to_realtime();
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (sent = got = 0; got < NSENDS; ) {
		if (sent < NSENDS && sent - got < WINDOW) {
			ATF_REQUIRE_MSG(send(s, "x", 1, 0) == 1,
			    "send %d: %s", sent, strerror(errno));
			sent++;
		}
		n = drain(s, recs, __arraycount(recs),
		    sent == NSENDS || sent - got >= WINDOW ? 2000 : 0);
		if (n == 0 && (sent == NSENDS || sent - got >= WINDOW)) {
			late++;
			break;
		}
		for (i = 0; i < n; i++, got++) {
			const struct tsmsg *r = &recs[i];
			int64_t hw = ts_ns(&r->ts.ts[2]);

			check_record(r);
			if (r->ee.ee_data != expect) {
				ATF_CHECK_EQ_MSG(r->ee.ee_data, expect,
				    "record %d: key %u, expected %u", got,
				    r->ee.ee_data, expect);
				expect = r->ee.ee_data;
			}
			expect++;
			ATF_CHECK_MSG(hw > prev, "key %u: hardware stamp "
			    "%lld not after the previous %lld",
			    r->ee.ee_data, (long long)hw, (long long)prev);
			ATF_CHECK_EQ(ts_ns(&r->ts.ts[0]), 0);
			prev = hw;
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	printf("%d sent, %d hardware stamps, %d lost, %.0f datagrams/s; "
	    "last stamp %lld ns after the NIC/realtime offset %lld\n",
	    sent, got, sent - got, sent / ((ts_ns(&t1) - ts_ns(&t0)) / 1e9),
	    (long long)prev, (long long)off);
	ATF_CHECK_EQ_MSG(sent - got, 0, "%d stamps lost (%d waits)",
	    sent - got, late);
	ATF_CHECK_EQ(sent, NSENDS);
	close(s);
	hw_set(HWTSTAMP_TX_OFF, HWTSTAMP_FILTER_NONE, NULL);
}

ATF_TC(hw_tx_opt_tx_swhw_gives_both);
ATF_TC_HEAD(hw_tx_opt_tx_swhw_gives_both, tc)
{
	atf_tc_set_md_var(tc, "descr",
	    "TX_HARDWARE|TX_SOFTWARE with OPT_TX_SWHW: a software and a "
	    "hardware record per datagram with the same key, the hardware "
	    "stamp within HW_SW_BOUND_NS of the software one once moved to "
	    "CLOCK_REALTIME with SIOCGHWTSOFFSET; without OPT_TX_SWHW only "
	    "the hardware record");
	atf_tc_set_md_var(tc, "require.user", "root");
}
ATF_TC_BODY(hw_tx_opt_tx_swhw_gives_both, tc)
{
	static struct tsmsg recs[64];
	int64_t off, sw[10], hw[10], d, maxd = 0;
	int s, i, n, k;
	const int base = SOF_TIMESTAMPING_TX_HARDWARE |
	    SOF_TIMESTAMPING_TX_SOFTWARE | SOF_TIMESTAMPING_RAW_HARDWARE |
	    SOF_TIMESTAMPING_SOFTWARE | SOF_TIMESTAMPING_OPT_ID |
	    SOF_TIMESTAMPING_OPT_TSONLY;

	harness_require(tc);
	hw_set(HWTSTAMP_TX_ON, HWTSTAMP_FILTER_NONE, NULL);
	s = tx_socket(base | SOF_TIMESTAMPING_OPT_TX_SWHW);
	off = nic_to_realtime();
	memset(sw, 0, sizeof(sw));
	memset(hw, 0, sizeof(hw));
	for (i = 0; i < 10; i++)
		ATF_REQUIRE(send(s, "y", 1, 0) == 1);
	for (k = 0; k < 20; k += n) {
		n = drain(s, recs + k, 20 - k, 2000);
		if (n == 0)
			break;
	}
	ATF_REQUIRE_EQ_MSG(k, 20, "%d records for 10 datagrams", k);
	for (i = 0; i < k; i++) {
		const struct tsmsg *r = &recs[i];
		uint32_t key = r->ee.ee_data;

		check_record(r);
		ATF_REQUIRE(key < 10);
		if (ts_ns(&r->ts.ts[2]) != 0) {
			ATF_CHECK_EQ(ts_ns(&r->ts.ts[0]), 0);
			ATF_CHECK_EQ_MSG(hw[key], 0, "two hw records, key %u",
			    key);
			hw[key] = ts_ns(&r->ts.ts[2]);
		} else {
			ATF_CHECK(ts_ns(&r->ts.ts[0]) != 0);
			ATF_CHECK_EQ_MSG(sw[key], 0, "two sw records, key %u",
			    key);
			sw[key] = ts_ns(&r->ts.ts[0]);
		}
	}
	for (i = 0; i < 10; i++) {
		ATF_CHECK_MSG(sw[i] != 0 && hw[i] != 0, "key %d: sw %lld hw "
		    "%lld", i, (long long)sw[i], (long long)hw[i]);
		d = hw[i] + off - sw[i];
		if (llabs(d) > maxd)
			maxd = llabs(d);
		ATF_CHECK_MSG(llabs(d) <= HW_SW_BOUND_NS, "key %d: hardware "
		    "- software = %lld ns", i, (long long)d);
	}
	printf("max |hardware - software| %lld ns\n", (long long)maxd);
	close(s);

	/* Without OPT_TX_SWHW the hardware record replaces the other. */
	s = tx_socket(base);
	for (i = 0; i < 5; i++)
		ATF_REQUIRE(send(s, "z", 1, 0) == 1);
	n = drain(s, recs, 64, 2000);
	usleep(100000);
	n += drain(s, recs + n, 64 - n, 0);
	ATF_CHECK_EQ_MSG(n, 5, "%d records for 5 datagrams", n);
	for (i = 0; i < n; i++)
		ATF_CHECK_MSG(ts_ns(&recs[i].ts.ts[2]) != 0 &&
		    ts_ns(&recs[i].ts.ts[0]) == 0, "record %d not hardware",
		    i);
	close(s);
	hw_set(HWTSTAMP_TX_OFF, HWTSTAMP_FILTER_NONE, NULL);
}

ATF_TC(hw_tx_disabled_stops_ts2);
ATF_TC_HEAD(hw_tx_disabled_stops_ts2, tc)
{
	atf_tc_set_md_var(tc, "descr",
	    "with hardware TX stamping off on wm0 no hardware record "
	    "comes; software records still do");
	atf_tc_set_md_var(tc, "require.user", "root");
}
ATF_TC_BODY(hw_tx_disabled_stops_ts2, tc)
{
	static struct tsmsg recs[16];
	int s, i, n;

	harness_require(tc);
	hw_set(HWTSTAMP_TX_ON, HWTSTAMP_FILTER_NONE, NULL);
	hw_set(HWTSTAMP_TX_OFF, HWTSTAMP_FILTER_NONE, NULL);
	s = tx_socket(SOF_TIMESTAMPING_TX_HARDWARE |
	    SOF_TIMESTAMPING_TX_SOFTWARE | SOF_TIMESTAMPING_RAW_HARDWARE |
	    SOF_TIMESTAMPING_SOFTWARE | SOF_TIMESTAMPING_OPT_ID |
	    SOF_TIMESTAMPING_OPT_TSONLY);
	for (i = 0; i < 5; i++)
		ATF_REQUIRE(send(s, "w", 1, 0) == 1);
	n = drain(s, recs, 16, 1000);
	usleep(300000);
	n += drain(s, recs + n, 16 - n, 0);
	ATF_CHECK_EQ_MSG(n, 5, "%d records for 5 datagrams", n);
	for (i = 0; i < n; i++) {
		check_record(&recs[i]);
		ATF_CHECK_EQ_MSG(ts_ns(&recs[i].ts.ts[2]), 0,
		    "record %d has a hardware stamp", i);
		ATF_CHECK(ts_ns(&recs[i].ts.ts[0]) != 0);
	}
	close(s);
}

/* A child sending stamped datagrams until killed. */
static pid_t
sender(void)
{
	pid_t pid = fork();
	int s;

	ATF_REQUIRE(pid != -1);
	if (pid != 0)
		return pid;
	s = tx_socket(SOF_TIMESTAMPING_TX_HARDWARE |
	    SOF_TIMESTAMPING_RAW_HARDWARE | SOF_TIMESTAMPING_OPT_ID |
	    SOF_TIMESTAMPING_OPT_TSONLY);
	for (;;) {
		struct tsmsg r;

		(void)send(s, "v", 1, 0);
		while (recv_ts(s, MSG_ERRQUEUE | MSG_DONTWAIT, &r) == 0)
			continue;
	}
}

static void
stamps_still_work(void)
{
	static struct tsmsg recs[16];
	int s, i, n;

	hw_set(HWTSTAMP_TX_ON, HWTSTAMP_FILTER_NONE, NULL);
	s = tx_socket(SOF_TIMESTAMPING_TX_HARDWARE |
	    SOF_TIMESTAMPING_RAW_HARDWARE | SOF_TIMESTAMPING_OPT_ID |
	    SOF_TIMESTAMPING_OPT_TSONLY);
	for (i = 0; i < 10; i++)
		ATF_REQUIRE(send(s, "u", 1, 0) == 1);
	for (n = 0; n < 10; ) {
		int k = drain(s, recs + n, 16 - n, 2000);

		if (k == 0)
			break;
		n += k;
	}
	ATF_CHECK_EQ_MSG(n, 10, "%d stamps for 10 datagrams afterwards", n);
	for (i = 0; i < n; i++)
		ATF_CHECK(ts_ns(&recs[i].ts.ts[2]) != 0);
	close(s);
	hw_set(HWTSTAMP_TX_OFF, HWTSTAMP_FILTER_NONE, NULL);
}

ATF_TC(hw_tx_ifdown_with_stamps_pending);
ATF_TC_HEAD(hw_tx_ifdown_with_stamps_pending, tc)
{
	atf_tc_set_md_var(tc, "descr",
	    "ifconfig wm0 down and up while stamped datagrams are in "
	    "flight, 20 times: no panic, stamping works afterwards");
	atf_tc_set_md_var(tc, "require.user", "root");
}
ATF_TC_BODY(hw_tx_ifdown_with_stamps_pending, tc)
{
	pid_t pid;
	int i, status;

	harness_require(tc);
	hw_set(HWTSTAMP_TX_ON, HWTSTAMP_FILTER_PTP_V2_L2_EVENT, NULL);
	pid = sender();
	for (i = 0; i < 20; i++) {
		usleep(20000);
		hw_ifflag(IFF_UP, false);
		usleep(5000);
		hw_ifflag(IFF_UP, true);
	}
	kill(pid, SIGKILL);
	ATF_REQUIRE(waitpid(pid, &status, 0) == pid);
	sleep(2);	/* link up again */
	stamps_still_work();
}

ATF_TC(hw_tx_toggle_under_traffic);
ATF_TC_HEAD(hw_tx_toggle_under_traffic, tc)
{
	atf_tc_set_md_var(tc, "descr",
	    "hardware TX stamping switched on and off 200 times while "
	    "stamped datagrams flow: no panic, stamping works afterwards");
	atf_tc_set_md_var(tc, "require.user", "root");
}
ATF_TC_BODY(hw_tx_toggle_under_traffic, tc)
{
	pid_t pid;
	int i, status;

	harness_require(tc);
	pid = sender();
	for (i = 0; i < 200; i++) {
		hw_set(i % 2 == 0 ? HWTSTAMP_TX_ON : HWTSTAMP_TX_OFF,
		    i % 3 == 0 ? HWTSTAMP_FILTER_PTP_V2_L2_SYNC :
		    HWTSTAMP_FILTER_NONE, NULL);
		usleep(2000);
	}
	kill(pid, SIGKILL);
	ATF_REQUIRE(waitpid(pid, &status, 0) == pid);
	stamps_still_work();
}

/*
 * Issue 18, item 1: hardware TX requests are charged to their sockets.
 * FLOOD_PROCS processes of an unprivileged user flood 127.0.0.1 (lo0,
 * no hardware stamps) from FLOOD_SOCKS UDP sockets each, 65000-byte
 * datagrams asking for TX_HARDWARE; meanwhile a root socket on wm0
 * sends FLOOD_WM datagrams one at a time and must get every hardware
 * stamp.  Mbuf clusters out of their pool (mclpl, in use or cached,
 * so its peak) must stay within what the flooding sockets' buffers
 * allow, no cluster allocation may fail, and afterwards the request
 * pool, the pending counts and the mbufs are back where they started.
 * On the code with one global table of 1024 requests, each holding a
 * copy of its datagram for 2 s, the flood pinned every cluster of the
 * system and the wm0 socket lost stamps.
 */
#define	FLOOD_PROCS	16
#define	FLOOD_SOCKS	2
#define	FLOOD_DGRAM	65000
#define	FLOOD_SNDBUF	65536
#define	FLOOD_WM	100
#define	FLOOD_UID	32767
#define	LOMTU		(32768 + MHLEN + MLEN)	/* lo0's, if_loop.c */

static void
flood_child(void)
{
	static char buf[FLOOD_DGRAM];
	struct sockaddr_storage ss;
	socklen_t len;
	int s[FLOOD_SOCKS], i;

	if (setgid(FLOOD_UID) == -1 || setuid(FLOOD_UID) == -1)
		_exit(10);
	len = mkaddr(AF_INET, "127.0.0.1", DISCARD, &ss);
	for (i = 0; i < FLOOD_SOCKS; i++) {
		const int f = SOF_TIMESTAMPING_TX_HARDWARE |
		    SOF_TIMESTAMPING_RAW_HARDWARE |
		    SOF_TIMESTAMPING_SOFTWARE | SOF_TIMESTAMPING_OPT_ID;
		int sz = FLOOD_SNDBUF;

		if ((s[i] = socket(AF_INET, SOCK_DGRAM, 0)) == -1 ||
		    setsockopt(s[i], SOL_SOCKET, SO_SNDBUF, &sz,
		    sizeof(sz)) == -1 ||
		    setsockopt(s[i], SOL_SOCKET, SO_TIMESTAMPING, &f,
		    sizeof(f)) == -1)
			_exit(11);
	}
	for (;;)
		for (i = 0; i < FLOOD_SOCKS; i++)
			(void)sendto(s[i], buf, sizeof(buf), 0,
			    (struct sockaddr *)&ss, len);
}

ATF_TC(hw_tx_flood_lo0_unprivileged);
ATF_TC_HEAD(hw_tx_flood_lo0_unprivileged, tc)
{
	atf_tc_set_md_var(tc, "descr", "an unprivileged flood of "
	    "TX_HARDWARE datagrams over lo0 pins no more clusters than its "
	    "sockets' buffers allow and costs a wm0 socket no stamp");
	atf_tc_set_md_var(tc, "require.user", "root");
	atf_tc_set_md_var(tc, "timeout", "300");
}
ATF_TC_BODY(hw_tx_flood_lo0_unprivileged, tc)
{
	static struct tsmsg recs[4];
	struct pool_sysctl mcl0, mcl1, rq0, rq1;
	struct mbstat mb0, mb1;
	pid_t pids[FLOOD_PROCS];
	u_int hw0, hw1, tx0, tx1;
	int64_t bound;
	int s, i, n, got = 0, rcvbuf, status, grew;
	bool haverq;

	harness_require(tc);
	ATF_REQUIRE(pool_stat("mclpl", &mcl0));
	haverq = pool_stat("tsreq", &rq0);
	hw0 = sysctl_uint("kern.sotstamp.hw_pending");
	tx0 = sysctl_uint("kern.sotstamp.tx_pending");
	mbuf_types(&mb0);
	rcvbuf = (int)sysctl_uint("net.inet.udp.recvspace");
	/*
	 * What a flooding socket may hold: its send buffer, and twice
	 * its receive buffer (storage, sb_mbmax) for requests and
	 * records; in clusters.  Plus what is on its way: a datagram
	 * per process, and lo0's input queue full of fragments.
	 */
	bound = (int64_t)FLOOD_PROCS * FLOOD_SOCKS *
	    (FLOOD_SNDBUF + 2 * rcvbuf) / MCLBYTES +
	    FLOOD_PROCS * (FLOOD_DGRAM / MCLBYTES + 1) +
	    IFQ_MAXLEN * (LOMTU / MCLBYTES + 1);

	hw_set(HWTSTAMP_TX_ON, HWTSTAMP_FILTER_NONE, NULL);
	s = tx_socket(SOF_TIMESTAMPING_TX_HARDWARE |
	    SOF_TIMESTAMPING_RAW_HARDWARE | SOF_TIMESTAMPING_OPT_ID |
	    SOF_TIMESTAMPING_OPT_TSONLY);
	for (i = 0; i < FLOOD_PROCS; i++) {
		pids[i] = fork();
		ATF_REQUIRE(pids[i] != -1);
		if (pids[i] == 0)
			flood_child();
	}
	sleep(3);	/* the flood is on */
	for (i = 0; i < FLOOD_WM; i++) {
		ATF_REQUIRE_MSG(send(s, "f", 1, 0) == 1, "send %d: %s", i,
		    strerror(errno));
		n = drain(s, recs, __arraycount(recs), 2000);
		got += n;
		if (n > 0)
			ATF_CHECK(ts_ns(&recs[0].ts.ts[2]) != 0);
	}
	ATF_REQUIRE(pool_stat("mclpl", &mcl1));
	for (i = 0; i < FLOOD_PROCS; i++) {
		kill(pids[i], SIGKILL);
		ATF_REQUIRE(waitpid(pids[i], &status, 0) == pids[i]);
		ATF_CHECK_MSG(WIFSIGNALED(status), "flooder %d exited %d", i,
		    WEXITSTATUS(status));
	}
	close(s);
	hw_set(HWTSTAMP_TX_OFF, HWTSTAMP_FILTER_NONE, NULL);
	/*
	 * Past any request timeout; a fragment whose partner lo0's full
	 * input queue dropped waits in IP reassembly for up to
	 * ip_fragttl (30 s) before its mbufs come back.
	 */
	for (i = 0; i < 40; i++) {
		sleep(1);
		mbuf_types(&mb1);
		grew = mbuf_growth(&mb0, &mb1);
		if (i >= 3 && grew <= 0)
			break;
	}
	hw1 = sysctl_uint("kern.sotstamp.hw_pending");
	tx1 = sysctl_uint("kern.sotstamp.tx_pending");
	printf("wm0: %d stamps for %d datagrams; mclpl out %ju -> %ju "
	    "(bound +%jd), failed allocations %ju -> %ju, hardlimit %ju; "
	    "hw_pending %u -> %u, tx_pending %u -> %u; mbufs %+d after "
	    "%d s\n",
	    got, FLOOD_WM, (uintmax_t)mcl0.pr_nout, (uintmax_t)mcl1.pr_nout,
	    (intmax_t)bound, (uintmax_t)mcl0.pr_nfail,
	    (uintmax_t)mcl1.pr_nfail, (uintmax_t)mcl1.pr_hardlimit,
	    hw0, hw1, tx0, tx1, grew, i + 1);
	ATF_CHECK_EQ_MSG(got, FLOOD_WM, "wm0: %d hardware stamps for %d "
	    "datagrams during the flood", got, FLOOD_WM);
	ATF_CHECK_MSG((int64_t)(mcl1.pr_nout - mcl0.pr_nout) <= bound,
	    "%jd clusters more out during the flood, bound %jd",
	    (intmax_t)(mcl1.pr_nout - mcl0.pr_nout), (intmax_t)bound);
	ATF_CHECK_EQ_MSG(mcl1.pr_nfail, mcl0.pr_nfail,
	    "%ju cluster allocations failed during the flood",
	    (uintmax_t)(mcl1.pr_nfail - mcl0.pr_nfail));
	ATF_CHECK_EQ(hw1, hw0);
	ATF_CHECK_EQ(tx1, tx0);
	ATF_CHECK_MSG(grew <= 0, "%d mbufs more than before", grew);
	if (haverq) {
		ATF_REQUIRE(pool_stat("tsreq", &rq1));
		printf("tsreq pool: out %ju -> %ju\n",
		    (uintmax_t)rq0.pr_nout, (uintmax_t)rq1.pr_nout);
		ATF_CHECK_EQ(rq1.pr_nout, rq0.pr_nout);
	}
}

/*
 * Head of line: datagrams of a socket that wants no stamp must not wait
 * behind stamp-wanting ones while a stamp is due (the 82576 latches one
 * at a time).  bpf sees an outgoing frame when wm(4) hands it to the
 * chip; each datagram carries its send time.
 */
#define	HOL_PORT	7777
#define	HOL_N		1000
#define	HOL_BOUND_NS	250000000LL	/* well under the 1 s stamp timeout */

static int
bpf_outgoing(void)
{
	static struct bpf_insn prog[] = {
		BPF_STMT(BPF_LD + BPF_H + BPF_ABS, 12),
		BPF_JUMP(BPF_JMP + BPF_JEQ + BPF_K, ETHERTYPE_IP, 0, 5),
		BPF_STMT(BPF_LD + BPF_B + BPF_ABS, ETHER_HDR_LEN + 9),
		BPF_JUMP(BPF_JMP + BPF_JEQ + BPF_K, IPPROTO_UDP, 0, 3),
		BPF_STMT(BPF_LD + BPF_H + BPF_ABS, ETHER_HDR_LEN + 20 + 2),
		BPF_JUMP(BPF_JMP + BPF_JEQ + BPF_K, HOL_PORT, 0, 1),
		BPF_STMT(BPF_RET + BPF_K, 0xffff),
		BPF_STMT(BPF_RET + BPF_K, 0),
	};
	struct bpf_program bp = { __arraycount(prog), prog };
	struct ifreq ifr;
	struct timeval tmo = { 2, 0 };
	u_int one = 1, blen = 512 * 1024, tstamp = BPF_T_NANOTIME;
	int fd;

	fd = open("/dev/bpf", O_RDWR);
	ATF_REQUIRE_MSG(fd != -1, "/dev/bpf: %s", strerror(errno));
	ATF_REQUIRE(ioctl(fd, BIOCSBLEN, &blen) == 0);
	memset(&ifr, 0, sizeof(ifr));
	strlcpy(ifr.ifr_name, HW_IFNAME, sizeof(ifr.ifr_name));
	ATF_REQUIRE(ioctl(fd, BIOCSETIF, &ifr) == 0);
	ATF_REQUIRE(ioctl(fd, BIOCIMMEDIATE, &one) == 0);
	ATF_REQUIRE(ioctl(fd, BIOCSSEESENT, &one) == 0);
	ATF_REQUIRE(ioctl(fd, BIOCSETF, &bp) == 0);
	ATF_REQUIRE(ioctl(fd, BIOCSRTIMEOUT, &tmo) == 0);
	ATF_REQUIRE(ioctl(fd, BIOCSTSTAMP, &tstamp) == 0);
	return fd;
}

static int
cmp_i64(const void *a, const void *b)
{
	const int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

ATF_TC(hw_tx_unstamped_not_held);
ATF_TC_HEAD(hw_tx_unstamped_not_held, tc)
{
	atf_tc_set_md_var(tc, "descr",
	    "while another socket sends datagrams with TX hardware stamps, "
	    "datagrams without a stamp request reach wm0's chip (seen by "
	    "bpf) within HOL_BOUND_NS of their send; prints the figures");
	atf_tc_set_md_var(tc, "require.user", "root");
	atf_tc_set_md_var(tc, "timeout", "300");
}
ATF_TC_BODY(hw_tx_unstamped_not_held, tc)
{
	static int64_t held[HOL_N];
	static char buf[512 * 1024];
	struct sockaddr_storage ss;
	struct timespec now;
	socklen_t len;
	int64_t t;
	pid_t pid;
	ssize_t n;
	int fd, s, i, got, status;

	harness_require(tc);
	hw_set(HWTSTAMP_TX_ON, HWTSTAMP_FILTER_NONE, NULL);
	s = socket(AF_INET, SOCK_DGRAM, 0);
	ATF_REQUIRE(s != -1);
	len = mkaddr(AF_INET, HOST4, HOL_PORT, &ss);
	ATF_REQUIRE(connect(s, (struct sockaddr *)&ss, len) == 0);
	/* Resolve the host's address before bpf looks. */
	ATF_REQUIRE(send(s, "arp", 3, 0) == 3);
	usleep(200000);
	fd = bpf_outgoing();
	pid = sender();
	usleep(500000);		/* the sender is running */
	for (i = 0; i < HOL_N; i++) {
		clock_gettime(CLOCK_REALTIME, &now);
		t = ts_ns(&now);
		if (send(s, &t, sizeof(t), 0) != sizeof(t)) {
			/* if_snd full (ENOBUFS): try again */
			usleep(1000);
			i--;
			continue;
		}
	}
	usleep(200000);
	kill(pid, SIGKILL);
	(void)waitpid(pid, &status, 0);
	for (got = 0; got < HOL_N; ) {
		char *p;

		n = read(fd, buf, sizeof(buf));
		if (n <= 0)
			break;
		for (p = buf; p < buf + n; ) {
			struct bpf_xhdr *bh = (struct bpf_xhdr *)p;
			const char *f = p + bh->bh_hdrlen;

			if (bh->bh_caplen >= ETHER_HDR_LEN + 28 + sizeof(t) &&
			    got < HOL_N) {
				memcpy(&t, f + ETHER_HDR_LEN + 28, sizeof(t));
				held[got++] = (int64_t)bh->bh_tstamp.bt_sec *
				    1000000000 +
				    (int64_t)bh->bh_tstamp.bt_frac - t;
			}
			p += BPF_WORDALIGN(bh->bh_hdrlen + bh->bh_caplen);
		}
	}
	close(fd);
	close(s);
	hw_set(HWTSTAMP_TX_OFF, HWTSTAMP_FILTER_NONE, NULL);
	ATF_REQUIRE_EQ_MSG(got, HOL_N, "bpf saw %d of %d datagrams", got,
	    HOL_N);
	qsort(held, got, sizeof(held[0]), cmp_i64);
	printf("unstamped datagrams, send to chip while another socket "
	    "sends stamped ones (%d): median %lld us, p99 %lld us, max "
	    "%lld us\n", got, (long long)held[got / 2] / 1000,
	    (long long)held[got * 99 / 100] / 1000,
	    (long long)held[got - 1] / 1000);
	ATF_CHECK_MSG(held[got - 1] < HOL_BOUND_NS, "a datagram was held "
	    "%lld ms", (long long)held[got - 1] / 1000000);
}

/*
 * The NIC clock across a chip reset: stamps and clock reads after
 * ifconfig wm0 down; up are later than all before, and the clock keeps
 * pace with the system clock across the reset.
 */
#define	DOWNUP_DRIFT_NS	20000000LL

static int64_t
max_tx_stamp(int n)
{
	static struct tsmsg recs[16];
	int64_t prev = 0;
	int s, i, k, got;

	ATF_REQUIRE(n <= 16);
	s = tx_socket(SOF_TIMESTAMPING_TX_HARDWARE |
	    SOF_TIMESTAMPING_RAW_HARDWARE | SOF_TIMESTAMPING_OPT_ID |
	    SOF_TIMESTAMPING_OPT_TSONLY);
	for (i = 0; i < n; i++)
		ATF_REQUIRE(send(s, "t", 1, 0) == 1);
	for (got = 0; got < n; got += k) {
		k = drain(s, recs + got, n - got, 2000);
		if (k == 0)
			break;
	}
	ATF_REQUIRE_EQ_MSG(got, n, "%d stamps for %d datagrams", got, n);
	for (i = 0; i < got; i++) {
		ATF_CHECK_MSG(ts_ns(&recs[i].ts.ts[2]) > prev,
		    "stamp %d not after the one before", i);
		prev = ts_ns(&recs[i].ts.ts[2]);
	}
	close(s);
	return prev;
}

static int64_t
mid(const struct hwtstamp_sysoff_sample *ss)
{

	return (hw_ts2ns(&ss->hss_before) + hw_ts2ns(&ss->hss_after)) / 2;
}

ATF_TC(hw_clock_monotonic_across_down_up);
ATF_TC_HEAD(hw_clock_monotonic_across_down_up, tc)
{
	atf_tc_set_md_var(tc, "descr",
	    "3 times: TX hardware stamps and NIC clock reads before "
	    "ifconfig wm0 down; up are earlier than all after it, and the "
	    "NIC clock advances with the system clock across it (within "
	    "DOWNUP_DRIFT_NS)");
	atf_tc_set_md_var(tc, "require.user", "root");
}
ATF_TC_BODY(hw_clock_monotonic_across_down_up, tc)
{
	struct hwtstamp_sysoff a, b;
	int64_t last, drift, t;
	int round;

	harness_require(tc);
	hw_set(HWTSTAMP_TX_ON, HWTSTAMP_FILTER_NONE, NULL);
	last = max_tx_stamp(5);
	for (round = 0; round < 3; round++) {
		hw_sysoff(CLOCK_MONOTONIC, 1, &a);
		ATF_CHECK_MSG(hw_ts2ns(&a.hso_ts[0].hss_nic) > last,
		    "round %d: NIC clock %lld not after the last stamp %lld",
		    round, (long long)hw_ts2ns(&a.hso_ts[0].hss_nic),
		    (long long)last);
		hw_ifflag(IFF_UP, false);
		usleep(300000);
		hw_ifflag(IFF_UP, true);
		hw_sysoff(CLOCK_MONOTONIC, 1, &b);
		drift = (hw_ts2ns(&b.hso_ts[0].hss_nic) -
		    hw_ts2ns(&a.hso_ts[0].hss_nic)) -
		    (mid(&b.hso_ts[0]) - mid(&a.hso_ts[0]));
		printf("round %d: NIC clock minus system clock moved %lld us "
		    "across down/up\n", round, (long long)drift / 1000);
		ATF_CHECK_MSG(hw_ts2ns(&b.hso_ts[0].hss_nic) >
		    hw_ts2ns(&a.hso_ts[0].hss_nic), "round %d: NIC clock "
		    "went back across down/up", round);
		ATF_CHECK_MSG(drift > -DOWNUP_DRIFT_NS &&
		    drift < DOWNUP_DRIFT_NS, "round %d: NIC clock moved %lld "
		    "ms against the system clock", round,
		    (long long)drift / 1000000);
		sleep(2);	/* link up again */
		t = max_tx_stamp(5);
		ATF_CHECK_MSG(t > hw_ts2ns(&b.hso_ts[0].hss_nic), "round %d: "
		    "stamps after down/up not after the clock read", round);
		last = t;
	}
	hw_set(HWTSTAMP_TX_OFF, HWTSTAMP_FILTER_NONE, NULL);
}

ATF_TP_ADD_TCS(tp)
{
	ATF_TP_ADD_TC(tp, hw_tx_udp4_100000_stamps_none_lost);
	ATF_TP_ADD_TC(tp, hw_tx_opt_tx_swhw_gives_both);
	ATF_TP_ADD_TC(tp, hw_tx_disabled_stops_ts2);
	ATF_TP_ADD_TC(tp, hw_tx_ifdown_with_stamps_pending);
	ATF_TP_ADD_TC(tp, hw_tx_toggle_under_traffic);
	ATF_TP_ADD_TC(tp, hw_tx_unstamped_not_held);
	ATF_TP_ADD_TC(tp, hw_tx_flood_lo0_unprivileged);
	ATF_TP_ADD_TC(tp, hw_clock_monotonic_across_down_up);
	return atf_no_error();
}
