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
 * Guest benchmark of receive timestamping (run by `invoke vmtest
 * --extra <tree>/tests/net/timestamp/bench`; plain program, prints
 * its own lines).  Over lo0, because frames from the host arrive far
 * slower than the guest can receive them under TCG, so they would
 * measure the host.  K datagrams are queued on a socket, then
 * drained; stamping off and on alternate, ROUNDS times each, so TCG
 * noise hits both alike.  Reported: datagrams/s of the drain with
 * recvmmsg (batch 64) and of the whole send+drain, the on/off ratio
 * of the totals and the median of the ratios of adjacent runs, for
 * SO_TIMESTAMPING (RX software), SO_TIMESTAMPNS, SO_TIMESTAMP and
 * SO_TIMESTAMPING with SO_RXQ_OVFL; the cost of a TX stamp record
 * (send + error queue read per datagram, against the send alone);
 * and system calls per datagram for recv+clock_gettime, recvmsg+cmsg
 * and recvmmsg.  The receive figures are taken with the timecounter
 * the kernel chose and again with the TSC when it is not that one.
 *
 * The same program builds on Linux, where `invoke bench` (the host
 * part) runs it for Linux's own figures with the same K, sizes and
 * rounds (no timecounter switch there; the clock is "linux").
 */
#ifdef __linux__
#define	_GNU_SOURCE		/* recvmmsg */
#endif

#include <sys/types.h>
#include <sys/socket.h>
#ifdef __NetBSD__
#include <sys/sysctl.h>
#endif
#include <sys/time.h>

#ifdef __linux__
#include <linux/errqueue.h>
#include <linux/net_tstamp.h>
#else
#include <net/errqueue.h>
#include <net/net_tstamp.h>
#endif
#include <netinet/in.h>
#include <arpa/inet.h>

#include <err.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench_util.h"

#ifdef __linux__
#define	LO	"lo"		/* the loopback interface, in the lines */
#else
#define	LO	"lo0"
#endif

#define	K	4000
#define	ROUNDS	9
#define	BATCH	64

static int
sock(struct sockaddr_in *sin, int rcvbuf)
{
	socklen_t len = sizeof(*sin);
	int s;

	if ((s = socket(AF_INET, SOCK_DGRAM, 0)) == -1)
		err(1, "socket");
	memset(sin, 0, sizeof(*sin));
#ifdef __NetBSD__
	sin->sin_len = sizeof(*sin);
#endif
	sin->sin_family = AF_INET;
	sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(s, (struct sockaddr *)sin, len) == -1 ||
	    getsockname(s, (struct sockaddr *)sin, &len) == -1)
		err(1, "bind");
#ifdef SO_RCVBUFFORCE
	/* Linux: past net.core.rmem_max (root). */
	if (rcvbuf && setsockopt(s, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf,
	    sizeof(rcvbuf)) == 0)
		return s;
#endif
	if (rcvbuf && setsockopt(s, SOL_SOCKET, SO_RCVBUF, &rcvbuf,
	    sizeof(rcvbuf)) == -1)
		err(1, "SO_RCVBUF");
	return s;
}

static size_t payload = 64;

/* Queue K datagrams of payload bytes; returns seconds spent sending. */
static double
fill(int s, const struct sockaddr_in *to)
{
	static char buf[1500];
	double t0;
	int i;

	memset(buf, 'b', sizeof(buf));
	t0 = now();
	for (i = 0; i < K; i++)
		if (sendto(s, buf, payload, 0, (const struct sockaddr *)to,
		    sizeof(*to)) == -1)
			err(1, "sendto");
	return now() - t0;
}

/* The receive buffers of one batch, shared by drain() and batch(). */
static char bt_data[BATCH][1500];
static union {
	struct cmsghdr	hdr;
	char		buf[CMSG_SPACE(sizeof(struct scm_timestamping)) +
			    CMSG_SPACE(sizeof(uint32_t))];
} bt_cbuf[BATCH];
static struct mmsghdr bt_mm[BATCH];
static struct iovec bt_iov[BATCH];

/* Make the batch's message headers ready for a receive. */
static void
batch_reset(void)
{
	int i;

	for (i = 0; i < BATCH; i++) {
		bt_iov[i].iov_base = bt_data[i];
		bt_iov[i].iov_len = sizeof(bt_data[i]);
		memset(&bt_mm[i].msg_hdr, 0, sizeof(bt_mm[i].msg_hdr));
		bt_mm[i].msg_hdr.msg_iov = &bt_iov[i];
		bt_mm[i].msg_hdr.msg_iovlen = 1;
		bt_mm[i].msg_hdr.msg_control = bt_cbuf[i].buf;
		bt_mm[i].msg_hdr.msg_controllen = sizeof(bt_cbuf[i].buf);
	}
}

/* How many of the first n messages of the batch carried control bt_data. */
static int
batch_stamped(int n)
{
	int i, stamped = 0;

	for (i = 0; i < n; i++)
		if (bt_mm[i].msg_hdr.msg_controllen > 0)
			stamped++;
	return stamped;
}

enum mode { RECVMMSG, RECVMSG, RECV_CLOCK };

/* Drain K datagrams; returns seconds, *calls = system calls made. */
static double
drain(int r, enum mode mode, int *calls, int *stamps)
{
	struct timespec ts;
	double t0;
	int got = 0, n;

	*calls = *stamps = 0;
	t0 = now();
	while (got < K) {
		batch_reset();
		switch (mode) {
		case RECVMMSG:
			n = recvmmsg(r, bt_mm, BATCH, MSG_DONTWAIT, NULL);
			break;
		case RECVMSG:
			n = recvmsg(r, &bt_mm[0].msg_hdr, MSG_DONTWAIT) == -1 ?
			    -1 : 1;
			break;
		default:
			n = recv(r, bt_data[0], sizeof(bt_data[0]), MSG_DONTWAIT) ==
			    -1 ? -1 : 1;
			if (n == 1) {
				clock_gettime(CLOCK_REALTIME, &ts);
				(*calls)++;
			}
			break;
		}
		(*calls)++;
		if (n == -1)
			err(1, "receive after %d", got);
		if (mode != RECV_CLOCK)
			*stamps += batch_stamped(n);
		got += n;
	}
	return now() - t0;
}

/*
 * One recvmmsg() batch from r, timed alone (the message set-up is
 * not); returns the datagrams read, *t its cycles, *stamps how many
 * carried control messages.
 */
static int
batch(int r, uint64_t *t, int *stamps)
{
	uint64_t t0;
	int n;

	batch_reset();
	t0 = ticks();
	n = recvmmsg(r, bt_mm, BATCH, MSG_DONTWAIT, NULL);
	*t = ticks() - t0;
	if (n == -1)
		err(1, "recvmmsg");
	*stamps += batch_stamped(n);
	return n;
}

/*
 * Receive cost of stamping, K datagrams queued then drained, the modes
 * alternating: OFF (no socket wants stamps), TAKEN (another socket
 * wants them, so every frame is stamped at reception, but r gets no
 * control message: the clock read alone), and r getting its stamps
 * as SCM_TIMESTAMPING (ON), SCM_TIMESTAMPNS, SCM_TIMESTAMP, and
 * SCM_TIMESTAMPING with SO_RXQ_OVFL on (no drops here, so no count
 * message: the cost of asking).  On lo0 the frame is received, and
 * stamped, inside the sender's send, so the clock read shows in
 * send+drain, not in the drain.  tc names the timecounter the stamps
 * read.
 */
enum rxmode { OFF, TAKEN, ON, ON_NS, ON_TV, ON_OVFL, NMODES };

static const char *const mode_name[NMODES] = { "off", "taken",
    "SO_TIMESTAMPING", "SO_TIMESTAMPNS", "SO_TIMESTAMP",
    "SO_TIMESTAMPING+SO_RXQ_OVFL" };

static void
rx_mode(int r, int other, enum rxmode m)
{
	static const int opts[] = { SO_TIMESTAMPING, SO_TIMESTAMPNS,
	    SO_TIMESTAMP, SO_RXQ_OVFL };
	const int flags = SOF_TIMESTAMPING_SOFTWARE |
	    SOF_TIMESTAMPING_RX_SOFTWARE, zero = 0, one = 1;
	size_t i;

	for (i = 0; i < sizeof(opts) / sizeof(opts[0]); i++)
		if (setsockopt(r, SOL_SOCKET, opts[i], &zero, sizeof(int))
		    == -1)
			err(1, "setsockopt %d off", opts[i]);
	if (setsockopt(other, SOL_SOCKET, SO_TIMESTAMPING,
	    m == TAKEN ? &flags : &zero, sizeof(int)) == -1)
		err(1, "SO_TIMESTAMPING");
	if (((m == ON || m == ON_OVFL) && setsockopt(r, SOL_SOCKET,
	    SO_TIMESTAMPING, &flags, sizeof(int)) == -1) ||
	    (m == ON_NS && setsockopt(r, SOL_SOCKET, SO_TIMESTAMPNS, &one,
	    sizeof(int)) == -1) ||
	    (m == ON_TV && setsockopt(r, SOL_SOCKET, SO_TIMESTAMP, &one,
	    sizeof(int)) == -1) ||
	    (m == ON_OVFL && setsockopt(r, SOL_SOCKET, SO_RXQ_OVFL, &one,
	    sizeof(int)) == -1))
		err(1, "setsockopt mode %d", m);
#ifdef __linux__
	/*
	 * Linux turns stamping at reception on from a work queue after
	 * setsockopt() returns (net_enable_timestamp()); a datagram that
	 * comes first gets no SCM_TIMESTAMPING.
	 */
	usleep(50 * 1000);
#endif
}

static int
rx_cost(int r, int s, int other, const struct sockaddr_in *rsin,
    const char *tc)
{
	double tsend[ON + 1], tdrain[ON + 1], ts1[ON + 1], td1[ON + 1];
	double rdrain[ON + 1][ROUNDS], rall[ROUNDS], rtakenall[ROUNDS];
	int m, round, calls, stamps;

	for (payload = 64; payload <= 1316; payload += 1316 - 64) {
		memset(tsend, 0, sizeof(tsend));
		memset(tdrain, 0, sizeof(tdrain));
		for (round = 0; round < ROUNDS; round++) {
			for (m = 0; m <= ON; m++) {
				rx_mode(r, other, m);
				ts1[m] = fill(s, rsin);
				td1[m] = drain(r, RECVMMSG, &calls, &stamps);
				tsend[m] += ts1[m];
				tdrain[m] += td1[m];
				if (stamps != (m == ON ? K : 0)) {
					printf("FAIL tstamp_bench: %s: %d "
					    "stamps\n", mode_name[m], stamps);
					return -1;
				}
			}
			for (m = 0; m <= ON; m++)
				rdrain[m][round] = td1[m] / td1[OFF];
			rall[round] = (ts1[ON] + td1[ON]) /
			    (ts1[OFF] + td1[OFF]);
			rtakenall[round] = (ts1[TAKEN] + td1[TAKEN]) /
			    (ts1[OFF] + td1[OFF]);
		}
		printf("@@BENCH %s " LO " %zu-byte datagrams, recvmmsg(batch %d) "
		    "drain: off %.0f, taken %.0f, on %.0f dgram/s; on/off "
		    "time %.3f, median %.3f; taken/off median %.3f\n", tc,
		    payload, BATCH, ROUNDS * K / tdrain[OFF],
		    ROUNDS * K / tdrain[TAKEN], ROUNDS * K / tdrain[ON],
		    tdrain[ON] / tdrain[OFF], median(rdrain[ON], ROUNDS),
		    median(rdrain[TAKEN], ROUNDS));
		printf("@@BENCH %s " LO " %zu-byte datagrams, send+drain: off "
		    "%.0f, taken %.0f, on %.0f dgram/s; on/off time %.3f, "
		    "median %.3f; taken/off median %.3f\n", tc, payload,
		    ROUNDS * K / (tsend[OFF] + tdrain[OFF]),
		    ROUNDS * K / (tsend[TAKEN] + tdrain[TAKEN]),
		    ROUNDS * K / (tsend[ON] + tdrain[ON]),
		    (tsend[ON] + tdrain[ON]) / (tsend[OFF] + tdrain[OFF]),
		    median(rall, ROUNDS), median(rtakenall, ROUNDS));
	}
	return 0;
}

#define	NPAIRS	(ROUNDS * (K / BATCH + 1))

/*
 * The drain's on/off ratio batch by batch, for mode m: r holds K
 * datagrams that nobody stamped, r2 K datagrams stamped for m; a
 * recvmmsg() batch is taken from each in turn (which goes first
 * alternates), each timed alone, ROUNDS times.  A host preempting the
 * guest (TCG on a shared machine) spoils one batch, not a drain, and
 * the median of the batch ratios (r2's over r's) leaves it out.
 * Returns the median, and the ratio of the totals in *total; -1 if
 * the stamps were wrong.
 */
static double
rx_pairs(int r, int r2, int s, int other, const struct sockaddr_in *rsin,
    const struct sockaddr_in *r2sin, enum rxmode m, double *total,
    int want)
{
	static double ratio[NPAIRS];
	uint64_t t1, t2, sum1 = 0, sum2 = 0;
	int round, n1, n2, got1, got2, st1, st2, np = 0;

	rx_mode(r, other, OFF);
	for (round = 0; round < ROUNDS; round++) {
		rx_mode(r2, other, OFF);
		(void)fill(s, rsin);
		rx_mode(r2, other, m);
		(void)fill(s, r2sin);
		got1 = got2 = st1 = st2 = 0;
		while (got1 < K || got2 < K) {
			if (np % 2 == 0) {
				n1 = batch(r, &t1, &st1);
				n2 = batch(r2, &t2, &st2);
			} else {
				n2 = batch(r2, &t2, &st2);
				n1 = batch(r, &t1, &st1);
			}
			got1 += n1;
			got2 += n2;
			if (n1 != n2 || np == NPAIRS) {
				printf("FAIL tstamp_bench: %s: batches of %d "
				    "and %d\n", mode_name[m], n1, n2);
				return -1;
			}
			sum1 += t1;
			sum2 += t2;
			ratio[np++] = (double)t2 / t1;
		}
		if (st1 != 0 || st2 != want) {
			printf("FAIL tstamp_bench: %s: %d and %d stamps\n",
			    mode_name[m], st1, st2);
			return -1;
		}
	}
	*total = (double)sum2 / sum1;
	return median(ratio, np);
}

/* The batch-by-batch ratios of every stamping option. */
static int
rx_options(int r, int r2, int s, int other, const struct sockaddr_in *rsin,
    const struct sockaddr_in *r2sin, const char *tc)
{
	double med[NMODES], tot[NMODES];
	int m;

	for (payload = 64; payload <= 1316; payload += 1316 - 64) {
		for (m = ON; m < NMODES; m++)
			if ((med[m] = rx_pairs(r, r2, s, other, rsin, r2sin,
			    m, &tot[m], K)) < 0)
				return -1;
		printf("@@BENCH %s " LO " %zu-byte datagrams, drain on/off batch "
		    "by batch, median (total):", tc, payload);
		for (m = ON; m < NMODES; m++)
			printf(" %s %.3f (%.3f)%s", mode_name[m], med[m],
			    tot[m], m + 1 < NMODES ? "," : "\n");
	}
	rx_mode(r2, other, OFF);
	return 0;
}

#ifdef __NetBSD__
/*
 * A test kernel with options SOTSTAMP_ABLATE (SOTSTEST) has
 * kern.sotstamp.ablate, which leaves parts of a datagram's stamp
 * delivery out (kern/uipc_tstamp.c): the batch-by-batch SO_TIMESTAMPING
 * ratio with each part left out tells what it costs (docs/kernel.md).
 */
static int
rx_ablation(int r, int r2, int s, int other, const struct sockaddr_in *rsin,
    const struct sockaddr_in *r2sin, const char *tc)
{
	static const struct {
		int		bits;
		const char	*what;
	} ab[] = {
		{ 0x00, "everything" },
		{ 0x01, "with MCHTYPE to MT_CONTROL" },
		{ 0x02, "no realtime conversion" },
		{ 0x04, "made, not delivered" },
		{ 0x08, "nothing made" },
	};
	double med, tot;
	size_t i;
	int bits;

	if (sysctlbyname("kern.sotstamp.ablate", NULL, NULL, NULL, 0) == -1)
		return 0;
	payload = 64;
	for (i = 0; i < sizeof(ab) / sizeof(ab[0]); i++) {
		bits = ab[i].bits;
		if (sysctlbyname("kern.sotstamp.ablate", NULL, NULL, &bits,
		    sizeof(bits)) == -1)
			err(1, "kern.sotstamp.ablate");
		/* Not made: no stamps to count (rx_pairs() wants K). */
		med = rx_pairs(r, r2, s, other, rsin, r2sin, ON, &tot,
		    bits & 0x0c ? 0 : K);
		if (med < 0)
			return -1;
		printf("@@BENCH %s ablation, 64-byte datagrams, "
		    "SO_TIMESTAMPING drain on/off batch by batch: %s %.3f "
		    "(total %.3f)\n", tc, ab[i].what, med, tot);
	}
	bits = 0;
	(void)sysctlbyname("kern.sotstamp.ablate", NULL, NULL, &bits,
	    sizeof(bits));
	return 0;
}
#endif

/*
 * What a TX stamp record costs: K 64-byte datagrams sent over lo0
 * with SO_TIMESTAMPING TX_SOFTWARE (OPT_ID, OPT_TSONLY), each followed
 * by reading its SND record from the error queue, against the sends
 * alone, alternating ROUNDS times.  The datagrams go to sink, drained
 * untimed after each run.
 */
static void
tx_cost(int s, int sink, const struct sockaddr_in *to, const char *tc)
{
	static char buf[64], dbuf[64], cbuf[512];
	const int flags = SOF_TIMESTAMPING_TX_SOFTWARE |
	    SOF_TIMESTAMPING_SOFTWARE | SOF_TIMESTAMPING_OPT_ID |
	    SOF_TIMESTAMPING_OPT_TSONLY, zero = 0;
	double t[2][ROUNDS], ratio[ROUNDS], sum[2], t0;
	struct msghdr msg;
	struct iovec iov;
	int round, on, i, calls, stamps, missing = 0;

	memset(sum, 0, sizeof(sum));
	for (round = 0; round < ROUNDS; round++)
		for (on = 0; on < 2; on++) {
			if (setsockopt(s, SOL_SOCKET, SO_TIMESTAMPING,
			    on ? &flags : &zero, sizeof(int)) == -1)
				err(1, "SO_TIMESTAMPING TX");
			t0 = now();
			for (i = 0; i < K; i++) {
				if (sendto(s, buf, sizeof(buf), 0,
				    (const struct sockaddr *)to,
				    sizeof(*to)) == -1)
					err(1, "sendto");
				if (!on)
					continue;
				iov.iov_base = dbuf;
				iov.iov_len = sizeof(dbuf);
				memset(&msg, 0, sizeof(msg));
				msg.msg_iov = &iov;
				msg.msg_iovlen = 1;
				msg.msg_control = cbuf;
				msg.msg_controllen = sizeof(cbuf);
				if (recvmsg(s, &msg, MSG_ERRQUEUE |
				    MSG_DONTWAIT) == -1)
					missing++;
			}
			t[on][round] = now() - t0;
			sum[on] += t[on][round];
			(void)drain(sink, RECVMMSG, &calls, &stamps);
		}
	for (round = 0; round < ROUNDS; round++)
		ratio[round] = t[1][round] / t[0][round];
	printf("@@BENCH %s " LO " 64-byte TX stamp records: send %.2f us, "
	    "send + error queue read %.2f us per datagram; on/off median "
	    "%.3f; %d records missing\n", tc, sum[0] / ROUNDS / K * 1e6,
	    sum[1] / ROUNDS / K * 1e6, median(ratio, ROUNDS), missing);
}

/*
 * What one read of the timecounter costs here: the price of a software
 * stamp, and under TCG most of the on/off difference.
 */
static void
clock_cost(const char *tc)
{
	struct timespec ts;
	double t0;
	int i;

	t0 = now();
	for (i = 0; i < K; i++)
		clock_gettime(CLOCK_REALTIME, &ts);
	printf("@@BENCH timecounter %s: clock_gettime %.2f us\n", tc,
	    (now() - t0) / K * 1e6);
}

#ifdef __NetBSD__
static int
write_timecounter(const char *tc)
{

	return sysctlbyname("kern.timecounter.hardware", NULL, NULL, tc,
	    strlen(tc) + 1);
}

static void
set_timecounter(const char *tc)
{

	if (write_timecounter(tc) == -1)
		err(1, "kern.timecounter.hardware=%s", tc);
	/* The clock changes over at the next tc_windup(): a few ticks. */
	usleep(100 * 1000);
}

/* The timecounter the kernel chose, put back however the bench ends. */
static char chosen_tc[32];

/* At exit: so it must not exit itself (err() would). */
static void
restore_timecounter(void)
{

	if (write_timecounter(chosen_tc) == -1)
		warn("restoring kern.timecounter.hardware=%s", chosen_tc);
}

static void
restore_and_die(int sig)
{

	restore_timecounter();
	_exit(128 + sig);
}

#endif /* __NetBSD__ */

int
main(void)
{
	struct sockaddr_in rsin, r2sin, ssin, osin, tsin, ksin;
	char tc[32];
	int r, r2, s, other, txs, sink, on, c[3], st[3];
#ifdef __NetBSD__
	char choice[512];
	size_t len;
	int sbmax, rc;

	/* Room for K queued datagrams, stamped or not. */
	sbmax = 64 * 1024 * 1024;
	if (sysctlbyname("kern.sbmax", NULL, NULL, &sbmax, sizeof(sbmax))
	    == -1)
		err(1, "kern.sbmax");
#endif
	r = sock(&rsin, K * 4096);
	r2 = sock(&r2sin, K * 4096);
	s = sock(&ssin, 0);
	other = sock(&osin, 0);
	txs = sock(&tsin, 0);
	sink = sock(&ksin, K * 4096);

#ifdef __NetBSD__
	len = sizeof(tc);
	if (sysctlbyname("kern.timecounter.hardware", tc, &len, NULL, 0)
	    == -1)
		err(1, "kern.timecounter.hardware");
	len = sizeof(choice);
	if (sysctlbyname("kern.timecounter.choice", choice, &len, NULL, 0)
	    == -1)
		err(1, "kern.timecounter.choice");
#else
	snprintf(tc, sizeof(tc), "linux");
#endif
	clock_cost(tc);
	if (rx_cost(r, s, other, &rsin, tc) == -1 ||
	    rx_options(r, r2, s, other, &rsin, &r2sin, tc) == -1)
		return 1;
	tx_cost(txs, sink, &ksin, tc);
#ifdef __NetBSD__
	if (rx_ablation(r, r2, s, other, &rsin, &r2sin, tc) == -1)
		return 1;
	/*
	 * Under TCG the kernel picks the emulated HPET, whose every read
	 * is a device emulation; real hardware counts time with the TSC.
	 * Measure again with the TSC when the kernel offers it (it does
	 * not trust its invariance under QEMU), then put the choice back.
	 */
	if (strcmp(tc, "TSC") != 0 && strstr(choice, "TSC(") != NULL) {
		strlcpy(chosen_tc, tc, sizeof(chosen_tc));
		if (atexit(restore_timecounter) != 0)	/* err() exits */
			errx(1, "atexit");
		signal(SIGINT, restore_and_die);
		signal(SIGTERM, restore_and_die);
		set_timecounter("TSC");
		clock_cost("TSC");
		rc = rx_cost(r, s, other, &rsin, "TSC");
		if (rc != -1)
			rc = rx_options(r, r2, s, other, &rsin, &r2sin, "TSC");
		if (rc != -1)
			tx_cost(txs, sink, &ksin, "TSC");
		set_timecounter(tc);
		if (rc == -1)
			return 1;
	}
#endif

	payload = 64;
	rx_mode(r, other, OFF);
	on = SOF_TIMESTAMPING_SOFTWARE | SOF_TIMESTAMPING_RX_SOFTWARE;
	(void)setsockopt(r, SOL_SOCKET, SO_TIMESTAMPING, &on, sizeof(on));
	fill(s, &rsin);
	drain(r, RECV_CLOCK, &c[0], &st[0]);
	fill(s, &rsin);
	drain(r, RECVMSG, &c[1], &st[1]);
	fill(s, &rsin);
	drain(r, RECVMMSG, &c[2], &st[2]);
	printf("@@BENCH syscalls/datagram: recv+clock_gettime %.3f, "
	    "recvmsg+cmsg %.3f, recvmmsg %.4f (1/%.0f)\n", (double)c[0] / K,
	    (double)c[1] / K, (double)c[2] / K, (double)K / c[2]);

	printf("ok tstamp_bench\n");
	return 0;
}
