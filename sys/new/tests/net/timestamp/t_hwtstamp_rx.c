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
 * Hardware receive stamps of layer 2 PTPv2 frames on wm0 (82576 under
 * QEMU's igb), read through bpf(4) with BIOCSTSTAMP: frames sent by
 * the host ("@@SEND ptp2 SEQ COUNT") and frames looped back inside
 * the NIC (ifconfig wm0 link0: MAC loopback, in kernels with options
 * WM_MAC_LOOPBACK).  QEMU stamps only PTPv2 frames whose messageType
 * is TSYNCRXCFG's (Sync here), and only layer 2 ones: it does not
 * emulate the UDP (port 319) filter.
 */

#include <net/bpf.h>
#include <net/if_dl.h>
#include <net/if_ether.h>

#include <fcntl.h>
#include <ifaddrs.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "hwtstamp_util.h"
#include "host_request.h"

#define	IFNAME		HW_IFNAME
#define	ETHERTYPE_PTP	0x88f7
#define	NFRAMES		20

/* The NIC clock now (middle of one cross read), ns */
static int64_t
nic_now(void)
{
	struct hwtstamp_sysoff hso;

	hw_sysoff(CLOCK_REALTIME, 1, &hso);
	return hw_ts2ns(&hso.hso_ts[0].hss_nic);
}

static void
own_mac(uint8_t mac[ETHER_ADDR_LEN])
{
	struct ifaddrs *ifa, *p;
	bool found = false;

	ATF_REQUIRE(getifaddrs(&ifa) == 0);
	for (p = ifa; p != NULL; p = p->ifa_next) {
		if (strcmp(p->ifa_name, IFNAME) == 0 && p->ifa_addr != NULL &&
		    p->ifa_addr->sa_family == AF_LINK) {
			memcpy(mac, CLLADDR((struct sockaddr_dl *)p->ifa_addr),
			    ETHER_ADDR_LEN);
			found = true;
		}
	}
	freeifaddrs(ifa);
	ATF_REQUIRE(found);
}

/* A bpf descriptor on ifname that sees received PTP frames only. */
static int
bpf_open(const char *ifname, u_int tstamp)
{
	static struct bpf_insn prog[] = {
		BPF_STMT(BPF_LD + BPF_H + BPF_ABS, 12),
		BPF_JUMP(BPF_JMP + BPF_JEQ + BPF_K, ETHERTYPE_PTP, 0, 1),
		BPF_STMT(BPF_RET + BPF_K, 0xffff),
		BPF_STMT(BPF_RET + BPF_K, 0),
	};
	struct bpf_program bp = { __arraycount(prog), prog };
	struct ifreq ifr;
	struct timeval tmo = { 5, 0 };
	u_int one = 1, zero = 0, got;
	int fd;

	fd = open("/dev/bpf", O_RDWR);
	ATF_REQUIRE_MSG(fd != -1, "/dev/bpf: %s", strerror(errno));
	memset(&ifr, 0, sizeof(ifr));
	strlcpy(ifr.ifr_name, ifname, sizeof(ifr.ifr_name));
	ATF_REQUIRE(ioctl(fd, BIOCSETIF, &ifr) == 0);
	ATF_REQUIRE(ioctl(fd, BIOCIMMEDIATE, &one) == 0);
	ATF_REQUIRE(ioctl(fd, BIOCSSEESENT, &zero) == 0);
	ATF_REQUIRE(ioctl(fd, BIOCSETF, &bp) == 0);
	ATF_REQUIRE(ioctl(fd, BIOCSRTIMEOUT, &tmo) == 0);
	ATF_REQUIRE_MSG(ioctl(fd, BIOCSTSTAMP, &tstamp) == 0,
	    "BIOCSTSTAMP %#x: %s", tstamp, strerror(errno));
	ATF_REQUIRE(ioctl(fd, BIOCGTSTAMP, &got) == 0);
	ATF_REQUIRE_EQ(got, tstamp);
	return fd;
}

struct cap {
	int64_t		ns;		/* bpf time stamp */
	uint16_t	seq;		/* PTP sequenceId */
};

/* Read n PTP frames (struct bpf_xhdr records). */
static int
bpf_collect(int fd, struct cap *caps, int n)
{
	static char buf[65536];
	u_int blen;
	int got = 0;

	/* bpf reads exactly its buffer size */
	ATF_REQUIRE(ioctl(fd, BIOCGBLEN, &blen) == 0);
	ATF_REQUIRE(blen <= sizeof(buf));
	while (got < n) {
		ssize_t len = read(fd, buf, blen);
		char *p = buf;

		if (len == -1)
			ATF_REQUIRE_MSG(errno == EINTR || errno == EAGAIN ||
			    errno == EWOULDBLOCK, "bpf read: %s",
			    strerror(errno));
		if (len <= 0)
			break;
		while (p < buf + len && got < n) {
			struct bpf_xhdr *bh = (struct bpf_xhdr *)p;
			const uint8_t *f = (const uint8_t *)p + bh->bh_hdrlen;

			if (bh->bh_caplen >= 14 + 32) {
				caps[got].ns = bh->bh_tstamp.bt_sec *
				    1000000000LL +
				    (int64_t)bh->bh_tstamp.bt_frac;
				caps[got].seq = (f[14 + 30] << 8) | f[14 + 31];
				got++;
			}
			p += BPF_WORDALIGN(bh->bh_hdrlen + bh->bh_caplen);
		}
	}
	return got;
}

static void
ptp_sync_frame(uint8_t *f, const uint8_t dst[6], const uint8_t src[6],
    uint16_t seq)
{
	memset(f, 0, 14 + 44);
	memcpy(f, dst, 6);
	memcpy(f + 6, src, 6);
	f[12] = ETHERTYPE_PTP >> 8;
	f[13] = ETHERTYPE_PTP & 0xff;
	f[14 + 0] = 0x00;		/* transportSpecific 0, Sync */
	f[14 + 1] = 0x02;		/* versionPTP */
	f[14 + 3] = 44;			/* messageLength */
	f[14 + 29] = 1;			/* sourcePortIdentity.portNumber */
	f[14 + 30] = seq >> 8;
	f[14 + 31] = seq & 0xff;
}

static void
check_stamps(const struct cap *caps, int n, int64_t lo, int64_t hi,
    uint16_t seq0)
{
	int i;

	for (i = 0; i < n; i++) {
		ATF_CHECK_EQ_MSG(caps[i].seq, (uint16_t)(seq0 + i),
		    "frame %d: sequenceId %u", i, caps[i].seq);
		ATF_CHECK_MSG(caps[i].ns != 0, "frame %d has no hardware "
		    "stamp", i);
		ATF_CHECK_MSG(caps[i].ns >= lo && caps[i].ns <= hi,
		    "frame %d: stamp %lld outside NIC clock reads "
		    "[%lld, %lld]", i, (long long)caps[i].ns, (long long)lo,
		    (long long)hi);
		if (i > 0)
			ATF_CHECK_MSG(caps[i].ns > caps[i - 1].ns,
			    "frame %d: stamp not after frame %d's", i, i - 1);
	}
}

/*
 * PTPv2 Sync frames from the host, one at a time (the 82576 latches
 * one RX stamp; a frame arriving before the driver has read it gets
 * none), with RX filter "filter" (applied as "applied"): each has a
 * hardware stamp between NIC clock reads before the request and after
 * the last frame.
 */
static void
from_host(int filter, int applied, uint16_t seq0)
{
	struct cap caps[NFRAMES];
	struct hwtstamp_config cfg;
	int64_t lo, hi;
	int fd, n;

	hw_set(HWTSTAMP_TX_OFF, filter, &cfg);
	ATF_REQUIRE_EQ_MSG(cfg.rx_filter, applied, "filter %d applied as %d",
	    filter, cfg.rx_filter);
	fd = bpf_open(IFNAME, BPF_T_NANOTIME | BPF_T_HWSTAMP);
	lo = nic_now();
	for (n = 0; n < NFRAMES; n++) {
		host_request("@@SEND ptp2 %u 1\n", seq0 + n);
		if (bpf_collect(fd, caps + n, 1) != 1)
			break;
	}
	hi = nic_now();
	ATF_REQUIRE_EQ_MSG(n, NFRAMES, "got %d of %d frames", n, NFRAMES);
	check_stamps(caps, n, lo, hi, seq0);
	printf("first stamp %lld ns after the first clock read, last %lld "
	    "ns before the second\n", (long long)(caps[0].ns - lo),
	    (long long)(hi - caps[n - 1].ns));
	close(fd);
	hw_set(HWTSTAMP_TX_OFF, HWTSTAMP_FILTER_NONE, NULL);
}

ATF_TC(hw_rx_ptp2_from_host_bpf);
ATF_TC_HEAD(hw_rx_ptp2_from_host_bpf, tc)
{
	atf_tc_set_md_var(tc, "descr",
	    "PTPv2 Sync frames from the host come through bpf "
	    "(BPF_T_NANOTIME|BPF_T_HWSTAMP) with hardware stamps between "
	    "NIC clock reads before the request and after the reads");
	atf_tc_set_md_var(tc, "require.user", "root");
}
ATF_TC_BODY(hw_rx_ptp2_from_host_bpf, tc)
{

	harness_require(tc);
	from_host(HWTSTAMP_FILTER_PTP_V2_L2_SYNC,
	    HWTSTAMP_FILTER_PTP_V2_L2_SYNC, 1000);
}

ATF_TC(hw_rx_ptp2_l4_filter_stamps_l2);
ATF_TC_HEAD(hw_rx_ptp2_l4_filter_stamps_l2, tc)
{
	atf_tc_set_md_var(tc, "descr",
	    "HWTSTAMP_FILTER_PTP_V2_L4_EVENT is applied as PTP_V2_EVENT "
	    "(layer 4 filter for UDP port 319 plus the layer 2 one, as "
	    "Linux's igb does) and stamps layer 2 PTPv2 frames from the "
	    "host; QEMU does not emulate the UDP filter, so stamps of PTP "
	    "over UDP are not tested here");
	atf_tc_set_md_var(tc, "require.user", "root");
}
ATF_TC_BODY(hw_rx_ptp2_l4_filter_stamps_l2, tc)
{

	harness_require(tc);
	from_host(HWTSTAMP_FILTER_PTP_V2_L4_EVENT,
	    HWTSTAMP_FILTER_PTP_V2_EVENT, 4000);
}

ATF_TC(hw_rx_ptp2_mac_loopback_bpf);
ATF_TC_HEAD(hw_rx_ptp2_mac_loopback_bpf, tc)
{
	atf_tc_set_md_var(tc, "descr",
	    "PTPv2 Sync frames written to bpf come back through the NIC's "
	    "MAC loopback (link0 with options WM_MAC_LOOPBACK) with "
	    "hardware RX stamps");
	atf_tc_set_md_var(tc, "require.user", "root");
}
ATF_TC_BODY(hw_rx_ptp2_mac_loopback_bpf, tc)
{
	struct cap caps[NFRAMES];
	uint8_t mac[ETHER_ADDR_LEN], f[14 + 44];
	int64_t lo, hi;
	int fd, i, n;

	wm_loopback_require(tc);
	own_mac(mac);
	hw_set(HWTSTAMP_TX_ON, HWTSTAMP_FILTER_PTP_V2_L2_EVENT, NULL);
	hw_ifflag(IFF_LINK0, true);
	fd = bpf_open(IFNAME, BPF_T_NANOTIME | BPF_T_HWSTAMP);
	lo = nic_now();
	for (i = 0; i < NFRAMES; i++) {
		ptp_sync_frame(f, mac, mac, 2000 + i);
		ATF_REQUIRE_MSG(write(fd, f, sizeof(f)) == sizeof(f),
		    "bpf write: %s", strerror(errno));
	}
	n = bpf_collect(fd, caps, NFRAMES);
	hi = nic_now();
	hw_ifflag(IFF_LINK0, false);
	ATF_REQUIRE_EQ_MSG(n, NFRAMES, "got %d of %d frames", n, NFRAMES);
	check_stamps(caps, n, lo, hi, 2000);
	close(fd);
	hw_set(HWTSTAMP_TX_OFF, HWTSTAMP_FILTER_NONE, NULL);
}

ATF_TC(hw_rx_filter_none_gives_no_stamp);
ATF_TC_HEAD(hw_rx_filter_none_gives_no_stamp, tc)
{
	atf_tc_set_md_var(tc, "descr",
	    "with hardware RX stamping off, PTP frames reach bpf with a "
	    "zero hardware stamp, and BPF_T_NANOTIME alone gives the "
	    "realtime capture time");
	atf_tc_set_md_var(tc, "require.user", "root");
}
ATF_TC_BODY(hw_rx_filter_none_gives_no_stamp, tc)
{
	struct cap caps[4];
	struct timespec t0, t1;
	int fd, fd2, n, i;

	harness_require(tc);
	hw_set(HWTSTAMP_TX_OFF, HWTSTAMP_FILTER_NONE, NULL);
	fd = bpf_open(IFNAME, BPF_T_NANOTIME | BPF_T_HWSTAMP);
	fd2 = bpf_open(IFNAME, BPF_T_NANOTIME);
	clock_gettime(CLOCK_REALTIME, &t0);
	host_request("@@SEND ptp2 %u %d\n", 3000, 4);
	n = bpf_collect(fd, caps, 4);
	ATF_REQUIRE_EQ(n, 4);
	for (i = 0; i < n; i++)
		ATF_CHECK_EQ_MSG(caps[i].ns, 0, "frame %d: stamp %lld", i,
		    (long long)caps[i].ns);
	n = bpf_collect(fd2, caps, 4);
	clock_gettime(CLOCK_REALTIME, &t1);
	ATF_REQUIRE_EQ(n, 4);
	for (i = 0; i < n; i++)
		ATF_CHECK_MSG(caps[i].ns >= hw_ts2ns(&t0) &&
		    caps[i].ns <= hw_ts2ns(&t1), "frame %d: %lld not in "
		    "[%lld, %lld]", i, (long long)caps[i].ns,
		    (long long)hw_ts2ns(&t0), (long long)hw_ts2ns(&t1));
	close(fd);
	close(fd2);
}

ATF_TC(hw_bpf_tstamp_bad_values);
ATF_TC_HEAD(hw_bpf_tstamp_bad_values, tc)
{
	atf_tc_set_md_var(tc, "descr",
	    "BIOCSTSTAMP refuses BPF_T_HWSTAMP with anything but "
	    "BPF_T_NANOTIME (t_bpf_tstamp: the other formats)");
	atf_tc_set_md_var(tc, "require.user", "root");
}
ATF_TC_BODY(hw_bpf_tstamp_bad_values, tc)
{
	u_int v;
	int fd;

	fd = bpf_open("lo0", BPF_T_MICROTIME);
	v = BPF_T_HWSTAMP;
	ATF_CHECK_ERRNO(EINVAL, ioctl(fd, BIOCSTSTAMP, &v) == -1);
	v = BPF_T_HWSTAMP | BPF_T_BINTIME;
	ATF_CHECK_ERRNO(EINVAL, ioctl(fd, BIOCSTSTAMP, &v) == -1);
	v = BPF_T_HWSTAMP | BPF_T_NANOTIME_FAST;
	ATF_CHECK_ERRNO(EINVAL, ioctl(fd, BIOCSTSTAMP, &v) == -1);
	ATF_CHECK(ioctl(fd, BIOCGTSTAMP, &v) == 0 && v == BPF_T_MICROTIME);
	close(fd);
}

ATF_TP_ADD_TCS(tp)
{
	ATF_TP_ADD_TC(tp, hw_rx_ptp2_from_host_bpf);
	ATF_TP_ADD_TC(tp, hw_rx_ptp2_l4_filter_stamps_l2);
	ATF_TP_ADD_TC(tp, hw_rx_ptp2_mac_loopback_bpf);
	ATF_TP_ADD_TC(tp, hw_rx_filter_none_gives_no_stamp);
	ATF_TP_ADD_TC(tp, hw_bpf_tstamp_bad_values);
	return atf_no_error();
}
