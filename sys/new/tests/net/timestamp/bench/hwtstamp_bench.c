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
 * Guest benchmark of wm(4) hardware TX stamps (run by `invoke vmtest
 * --extra <tree>/tests/net/timestamp/bench`; plain program).  Sends K
 * UDP datagrams over wm0 to the host, reading the error queue as it
 * goes, with TX hardware stamping off and on in alternation (ROUNDS
 * each, so TCG noise hits both alike), and reports datagrams/s of each,
 * the ratio, and the distribution of (hardware - software) TX stamp
 * differences (OPT_TX_SWHW: both stamps of each datagram), the
 * hardware stamp moved to CLOCK_REALTIME with SIOCGHWTSOFFSET.
 */

#include <sys/types.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/sockio.h>
#include <sys/time.h>

#include <net/errqueue.h>
#include <net/if.h>
#include <net/if_hwtstamp.h>
#include <net/net_tstamp.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <err.h>
#include <poll.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench_util.h"

#define	K	5000
#define	ROUNDS	5
#define	WINDOW	64

static int
hwioctl(u_long cmd, void *arg)
{
	struct ifreq ifr;
	int s, rv;

	if ((s = socket(AF_INET, SOCK_DGRAM, 0)) == -1)
		err(1, "socket");
	memset(&ifr, 0, sizeof(ifr));
	strlcpy(ifr.ifr_name, "wm0", sizeof(ifr.ifr_name));
	ifr.ifr_data = arg;
	rv = ioctl(s, cmd, &ifr);
	close(s);
	return rv;
}

static void
hwset(int tx)
{
	struct hwtstamp_config cfg = { 0, tx, HWTSTAMP_FILTER_NONE };

	if (hwioctl(SIOCSHWTSTAMP, &cfg) == -1)
		err(1, "SIOCSHWTSTAMP");
}

static int64_t
tsns(const struct timespec *ts)
{
	return (int64_t)ts->tv_sec * 1000000000 + ts->tv_nsec;
}

/* CLOCK_REALTIME - NIC clock, from the narrowest of 25 cross reads */
static int64_t
offset(void)
{
	struct hwtstamp_sysoff hso;
	int64_t best = INT64_MAX, off = 0, w;
	uint32_t i;

	memset(&hso, 0, sizeof(hso));
	hso.hso_nsamples = HWTSTAMP_SYSOFF_MAX;
	hso.hso_clock = CLOCK_REALTIME;
	if (hwioctl(SIOCGHWTSOFFSET, &hso) == -1)
		err(1, "SIOCGHWTSOFFSET");
	for (i = 0; i < hso.hso_nsamples; i++) {
		w = tsns(&hso.hso_ts[i].hss_after) -
		    tsns(&hso.hso_ts[i].hss_before);
		if (w < best) {
			best = w;
			off = (tsns(&hso.hso_ts[i].hss_before) +
			    tsns(&hso.hso_ts[i].hss_after)) / 2 -
			    tsns(&hso.hso_ts[i].hss_nic);
		}
	}
	return off;
}

static int
sock(int flags)
{
	struct sockaddr_in sin;
	int s, rcvbuf = 200000;

	if ((s = socket(AF_INET, SOCK_DGRAM, 0)) == -1)
		err(1, "socket");
	memset(&sin, 0, sizeof(sin));
	sin.sin_len = sizeof(sin);
	sin.sin_family = AF_INET;
	sin.sin_port = htons(9);
	sin.sin_addr.s_addr = inet_addr("169.254.1.1");
	if (connect(s, (struct sockaddr *)&sin, sizeof(sin)) == -1)
		err(1, "connect");
	if (setsockopt(s, SOL_SOCKET, SO_RCVBUF, &rcvbuf,
	    sizeof(rcvbuf)) == -1)
		err(1, "SO_RCVBUF");
	(void)send(s, "arp", 3, 0);
	usleep(100000);
	if (flags && setsockopt(s, SOL_SOCKET, SO_TIMESTAMPING, &flags,
	    sizeof(flags)) == -1)
		err(1, "SO_TIMESTAMPING");
	return s;
}

/* One error queue record: its key and stamps; 0 if none was there. */
static int
errq(int s, uint32_t *key, int64_t *sw, int64_t *hw)
{
	union {
		struct cmsghdr	hdr;
		char		buf[256];
	} cbuf;
	struct msghdr msg;
	struct cmsghdr *cm;
	struct scm_timestamping sts;
	struct sock_extended_err ee;

	memset(&msg, 0, sizeof(msg));
	msg.msg_control = cbuf.buf;
	msg.msg_controllen = sizeof(cbuf.buf);
	if (recvmsg(s, &msg, MSG_ERRQUEUE | MSG_DONTWAIT) == -1)
		return 0;
	*sw = *hw = 0;
	*key = 0;
	for (cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(&msg, cm)) {
		if (cm->cmsg_level == SOL_SOCKET &&
		    cm->cmsg_type == SCM_TIMESTAMPING) {
			memcpy(&sts, CMSG_DATA(cm), sizeof(sts));
			*sw = tsns(&sts.ts[0]);
			*hw = tsns(&sts.ts[2]);
		} else if (cm->cmsg_level == IPPROTO_IP &&
		    cm->cmsg_type == IP_RECVERR) {
			memcpy(&ee, CMSG_DATA(cm), sizeof(ee));
			*key = ee.ee_data;
		}
	}
	return 1;
}

/*
 * Send K datagrams, keeping at most WINDOW unstamped; returns
 * datagrams/s.  With diffs, records (hw + off - sw) per key.
 */
static int nobufs, swrecs;

static double
run(int s, bool stamped, int64_t off, int64_t *diffs, int *ndiffs,
    int *lost)
{
	static int64_t sw[K], hw[K];
	uint32_t key;
	int64_t a, b;
	double t0;
	int sent, got = 0, i, n;
	struct pollfd pfd = { s, POLLERR, 0 };

	memset(sw, 0, sizeof(sw));
	memset(hw, 0, sizeof(hw));
	t0 = now();
	for (sent = 0; sent < K || (stamped && got < K); ) {
		if (sent < K && (!stamped || sent - got < WINDOW)) {
			if (send(s, "b", 1, 0) == -1) {
				if (errno != ENOBUFS)
					err(1, "send");
				nobufs++;
				usleep(1000);	/* interface queue full */
				continue;
			}
			sent++;
		}
		if (!stamped)
			continue;
		n = 0;
		while (errq(s, &key, &a, &b)) {	/* all that is there */
			n++;
			if (key >= K)
				continue;
			if (a != 0) {
				sw[key] = a;
				swrecs++;
			}
			if (b != 0) {
				hw[key] = b;
				got++;
			}
		}
		if (n == 0 && (sent == K || sent - got >= WINDOW) &&
		    poll(&pfd, 1, 2000) != 1)
			break;		/* no stamp for 2 s: count as lost */
	}
	t0 = now() - t0;
	*lost = stamped ? K - got : 0;
	for (i = 0; diffs != NULL && i < K; i++)
		if (sw[i] != 0 && hw[i] != 0)
			diffs[(*ndiffs)++] = hw[i] + off - sw[i];
	return K / t0;
}

int
main(void)
{
	static int64_t diffs[K * ROUNDS];
	double off_rate[ROUNDS], on_rate[ROUNDS], ratio[ROUNDS];
	int64_t off;
	int s_on, s_off, r, nd = 0, lost, lostall = 0;
	const int flags = SOF_TIMESTAMPING_TX_HARDWARE |
	    SOF_TIMESTAMPING_TX_SOFTWARE | SOF_TIMESTAMPING_RAW_HARDWARE |
	    SOF_TIMESTAMPING_SOFTWARE | SOF_TIMESTAMPING_OPT_ID |
	    SOF_TIMESTAMPING_OPT_TSONLY | SOF_TIMESTAMPING_OPT_TX_SWHW;

	s_off = sock(0);
	for (r = 0; r < ROUNDS; r++) {
		hwset(HWTSTAMP_TX_OFF);
		off_rate[r] = run(s_off, false, 0, NULL, NULL, &lost);
		hwset(HWTSTAMP_TX_ON);
		off = offset();
		/* a new socket: OPT_ID keys 0 .. K-1 */
		s_on = sock(flags);
		nobufs = swrecs = 0;
		on_rate[r] = run(s_on, true, off, diffs, &nd, &lost);
		printf("hwtstamp_bench round %d: %d stamps lost, %d ENOBUFS, "
		    "%d software records, %.0f datagrams/s\n", r,
		    lost, nobufs, swrecs, on_rate[r]);
		close(s_on);
		lostall += lost;
		ratio[r] = on_rate[r] / off_rate[r];
	}
	hwset(HWTSTAMP_TX_OFF);
	qsort(off_rate, ROUNDS, sizeof(double), cmpd);
	qsort(on_rate, ROUNDS, sizeof(double), cmpd);
	qsort(ratio, ROUNDS, sizeof(double), cmpd);
	printf("@@BENCH hwtstamp wm0 UDP send, %d x %d datagrams: off %.0f/s, "
	    "on (TX hw+sw stamps, error queue read) %.0f/s (medians), "
	    "median on/off ratio %.3f, %d stamps lost\n", ROUNDS, K,
	    off_rate[ROUNDS / 2], on_rate[ROUNDS / 2], ratio[ROUNDS / 2],
	    lostall);
	if (nd > 0) {
		qsort(diffs, nd, sizeof(int64_t), cmp64);
		printf("@@BENCH hwtstamp hw-sw TX stamp difference over %d "
		    "datagrams, us: min %.1f p10 %.1f median %.1f p90 %.1f "
		    "p99 %.1f max %.1f\n", nd, diffs[0] / 1e3,
		    diffs[nd / 10] / 1e3, diffs[nd / 2] / 1e3,
		    diffs[nd * 9 / 10] / 1e3, diffs[nd * 99 / 100] / 1e3,
		    diffs[nd - 1] / 1e3);
	}
	return 0;
}
