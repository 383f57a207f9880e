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
 * of the totals and the median of the ratios of adjacent runs,
 * and system calls per datagram for recv+clock_gettime, recvmsg+cmsg
 * and recvmmsg.  The receive figures are taken with the timecounter
 * the kernel chose and again with the TSC when it is not that one.
 */

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/sysctl.h>
#include <sys/time.h>

#include <net/net_tstamp.h>
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
	sin->sin_len = sizeof(*sin);
	sin->sin_family = AF_INET;
	sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(s, (struct sockaddr *)sin, len) == -1 ||
	    getsockname(s, (struct sockaddr *)sin, &len) == -1)
		err(1, "bind");
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

enum mode { RECVMMSG, RECVMSG, RECV_CLOCK };

/* Drain K datagrams; returns seconds, *calls = system calls made. */
static double
drain(int r, enum mode mode, int *calls, int *stamps)
{
	static char data[BATCH][1500];
	static union {
		struct cmsghdr	hdr;
		char		buf[CMSG_SPACE(sizeof(struct scm_timestamping))];
	} cbuf[BATCH];
	static struct mmsghdr mm[BATCH];
	static struct iovec iov[BATCH];
	struct timespec ts;
	double t0;
	int got = 0, n, i;

	*calls = *stamps = 0;
	t0 = now();
	while (got < K) {
		for (i = 0; i < BATCH; i++) {
			iov[i].iov_base = data[i];
			iov[i].iov_len = sizeof(data[i]);
			memset(&mm[i].msg_hdr, 0, sizeof(mm[i].msg_hdr));
			mm[i].msg_hdr.msg_iov = &iov[i];
			mm[i].msg_hdr.msg_iovlen = 1;
			mm[i].msg_hdr.msg_control = cbuf[i].buf;
			mm[i].msg_hdr.msg_controllen = sizeof(cbuf[i].buf);
		}
		switch (mode) {
		case RECVMMSG:
			n = recvmmsg(r, mm, BATCH, MSG_DONTWAIT, NULL);
			break;
		case RECVMSG:
			n = recvmsg(r, &mm[0].msg_hdr, MSG_DONTWAIT) == -1 ?
			    -1 : 1;
			break;
		default:
			n = recv(r, data[0], sizeof(data[0]), MSG_DONTWAIT) ==
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
			for (i = 0; i < n; i++)
				if (mm[i].msg_hdr.msg_controllen > 0)
					(*stamps)++;
		got += n;
	}
	return now() - t0;
}

/*
 * Receive cost of stamping, K datagrams queued then drained, in three
 * modes alternating: OFF (no socket wants stamps), TAKEN (another
 * socket wants them, so every frame is stamped at reception, but r
 * gets no control message: the clock read alone) and ON (r gets
 * SCM_TIMESTAMPING: clock read plus control message).  On lo0 the
 * frame is received, and stamped, inside the sender's send, so the
 * clock read shows in send+drain, not in the drain.  tc names the
 * timecounter the stamps read.
 */
enum rxmode { OFF, TAKEN, ON, NMODES };

static int
rx_cost(int r, int s, int other, const struct sockaddr_in *rsin,
    const char *tc)
{
	static const char *const name[NMODES] = { "off", "taken", "on" };
	const int flags = SOF_TIMESTAMPING_SOFTWARE |
	    SOF_TIMESTAMPING_RX_SOFTWARE, zero = 0;
	double tsend[NMODES], tdrain[NMODES], ts1[NMODES], td1[NMODES];
	double rdrain[ROUNDS], rall[ROUNDS], rtaken[ROUNDS];
	double rtakenall[ROUNDS];
	int m, round, calls, stamps;

	for (payload = 64; payload <= 1316; payload += 1316 - 64) {
		memset(tsend, 0, sizeof(tsend));
		memset(tdrain, 0, sizeof(tdrain));
		for (round = 0; round < ROUNDS; round++) {
			for (m = 0; m < NMODES; m++) {
				if (setsockopt(r, SOL_SOCKET, SO_TIMESTAMPING,
				    m == ON ? &flags : &zero, sizeof(int))
				    == -1 ||
				    setsockopt(other, SOL_SOCKET,
				    SO_TIMESTAMPING, m == TAKEN ? &flags :
				    &zero, sizeof(int)) == -1)
					err(1, "SO_TIMESTAMPING");
				ts1[m] = fill(s, rsin);
				td1[m] = drain(r, RECVMMSG, &calls, &stamps);
				tsend[m] += ts1[m];
				tdrain[m] += td1[m];
				if (stamps != (m == ON ? K : 0)) {
					printf("FAIL tstamp_bench: %s: %d "
					    "stamps\n", name[m], stamps);
					return -1;
				}
			}
			rdrain[round] = td1[ON] / td1[OFF];
			rtaken[round] = td1[TAKEN] / td1[OFF];
			rall[round] = (ts1[ON] + td1[ON]) /
			    (ts1[OFF] + td1[OFF]);
			rtakenall[round] = (ts1[TAKEN] + td1[TAKEN]) /
			    (ts1[OFF] + td1[OFF]);
		}
		printf("@@BENCH %s lo0 %zu-byte datagrams, recvmmsg(batch %d) "
		    "drain: off %.0f, taken %.0f, on %.0f dgram/s; on/off "
		    "time %.3f, median %.3f; taken/off median %.3f\n", tc,
		    payload, BATCH, ROUNDS * K / tdrain[OFF],
		    ROUNDS * K / tdrain[TAKEN], ROUNDS * K / tdrain[ON],
		    tdrain[ON] / tdrain[OFF], median(rdrain, ROUNDS),
		    median(rtaken, ROUNDS));
		printf("@@BENCH %s lo0 %zu-byte datagrams, send+drain: off "
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

int
main(void)
{
	struct sockaddr_in rsin, ssin, osin;
	char tc[32], choice[512];
	size_t len;
	int sbmax;
	int r, s, other, on, rc, c[3], st[3];

	/* Room for K queued datagrams, stamped or not. */
	sbmax = 64 * 1024 * 1024;
	if (sysctlbyname("kern.sbmax", NULL, NULL, &sbmax, sizeof(sbmax))
	    == -1)
		err(1, "kern.sbmax");
	r = sock(&rsin, K * 4096);
	s = sock(&ssin, 0);
	other = sock(&osin, 0);

	len = sizeof(tc);
	if (sysctlbyname("kern.timecounter.hardware", tc, &len, NULL, 0)
	    == -1)
		err(1, "kern.timecounter.hardware");
	len = sizeof(choice);
	if (sysctlbyname("kern.timecounter.choice", choice, &len, NULL, 0)
	    == -1)
		err(1, "kern.timecounter.choice");
	clock_cost(tc);
	if (rx_cost(r, s, other, &rsin, tc) == -1)
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
		set_timecounter(tc);
		if (rc == -1)
			return 1;
	}

	payload = 64;
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
