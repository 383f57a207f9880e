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
 * Hardware time stamping configuration and the NIC clock on wm0 (an
 * 82576 under QEMU's igb emulation): SIOCSHWTSTAMP/SIOCGHWTSTAMP,
 * privilege and range checks, the capability query SIOCGHWTSINFO and
 * the NIC/system clock cross read SIOCGHWTSOFFSET.
 */

#include <sys/uio.h>
#include <sys/wait.h>

#include <poll.h>
#include <stdio.h>
#include <time.h>

#include "tstamp_util.h"
#include "hwtstamp_util.h"

#define	IFNAME	HW_IFNAME

static struct hwtstamp_config
hw_get(void)
{
	struct hwtstamp_config cfg;

	memset(&cfg, 0xa5, sizeof(cfg));
	ATF_REQUIRE_MSG(hw_ioctl(IFNAME, SIOCGHWTSTAMP, &cfg) == 0,
	    "SIOCGHWTSTAMP: %s", strerror(errno));
	return cfg;
}

/*
 * Issue 18, item 6: TX stamps asked for by control message alone, as
 * Linux's txtimestamp -C does, on a kernel where nobody has set TX
 * flags with setsockopt() yet.  The request table must be there from
 * boot: the SND record comes when wm0 takes the packet (held in its
 * send queue by link1 until then), not when sendmsg() returns, and
 * TX_HARDWARE by control message gives a hardware stamp.  This is the
 * first case of the first test program the guest runs (programs run in
 * name order, cases in the order listed at the end of this file), so
 * no earlier case has set TX flags on any socket.
 */
static void
send_cmsg_flags(int s, const char *data, int flags)
{
	union {
		struct cmsghdr	align;
		char		buf[CMSG_SPACE(sizeof(int))];
	} cbuf;
	struct cmsghdr *cm;
	struct msghdr msg;
	struct iovec iov;

	memset(&msg, 0, sizeof(msg));
	memset(&cbuf, 0, sizeof(cbuf));
	iov.iov_base = __UNCONST(data);
	iov.iov_len = strlen(data);
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = cbuf.buf;
	msg.msg_controllen = sizeof(cbuf.buf);
	cm = CMSG_FIRSTHDR(&msg);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SO_TIMESTAMPING;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &flags, sizeof(flags));
	ATF_REQUIRE_MSG(sendmsg(s, &msg, 0) == (ssize_t)iov.iov_len,
	    "sendmsg: %s", strerror(errno));
}

/* The next error queue record of s, waiting up to ms for it. */
static int
errq_wait(int s, struct tsmsg *r, int ms)
{
	struct pollfd pfd = { s, POLLERR, 0 };

	if (recv_ts(s, MSG_ERRQUEUE | MSG_DONTWAIT, r) == 0)
		return 0;
	if (poll(&pfd, 1, ms) != 1)
		return EAGAIN;
	return recv_ts(s, MSG_ERRQUEUE | MSG_DONTWAIT, r);
}

ATF_TC(tx_by_cmsg_alone_first_on_boot);
ATF_TC_HEAD(tx_by_cmsg_alone_first_on_boot, tc)
{
	atf_tc_set_md_var(tc, "descr", "before any socket set TX flags: "
	    "TX_SOFTWARE by control message gives SND when wm0 takes the "
	    "packet, TX_HARDWARE by control message a hardware stamp");
	atf_tc_set_md_var(tc, "require.user", "root");
}
ATF_TC_BODY(tx_by_cmsg_alone_first_on_boot, tc)
{
	struct sockaddr_storage ss;
	struct tsmsg r;
	socklen_t len;
	int64_t t2, t3;
	int s;

	wm_loopback_require(tc);
	hw_set(HWTSTAMP_TX_ON, HWTSTAMP_FILTER_NONE, NULL);
	s = socket(AF_INET, SOCK_DGRAM, 0);
	ATF_REQUIRE(s != -1);
	len = mkaddr(AF_INET, "169.254.1.1", 9, &ss);
	ATF_REQUIRE(connect(s, (struct sockaddr *)&ss, len) == 0);
	ATF_REQUIRE(send(s, "arp", 3, 0) == 3);
	usleep(200000);
	/* What to report, as txtimestamp -C; no TX bits. */
	setint(s, SOL_SOCKET, SO_TIMESTAMPING, SOF_TIMESTAMPING_SOFTWARE |
	    SOF_TIMESTAMPING_RAW_HARDWARE | SOF_TIMESTAMPING_OPT_TSONLY);

	hw_ifflag(IFF_LINK1, true);
	send_cmsg_flags(s, "held", SOF_TIMESTAMPING_TX_SOFTWARE);
	usleep(300000);
	ATF_CHECK_EQ_MSG(errq_wait(s, &r, 0), EAGAIN,
	    "an SND record while wm0 holds the packet in its send queue");
	t2 = now_ns(CLOCK_REALTIME);
	hw_ifflag(IFF_LINK1, false);
	t3 = now_ns(CLOCK_REALTIME);
	if (errq_wait(s, &r, 2000) != 0)
		atf_tc_fail("no SND record after wm0 took the packet");
	ATF_CHECK_EQ(r.ee.ee_info, SCM_TSTAMP_SND);
	check_between("SND", t2, ts_ns(&r.ts.ts[0]), t3);
	ATF_CHECK_EQ(ts_ns(&r.ts.ts[2]), 0);
	while (errq_wait(s, &r, 0) == 0)
		continue;

	send_cmsg_flags(s, "hw", SOF_TIMESTAMPING_TX_HARDWARE);
	if (errq_wait(s, &r, 2000) != 0)
		atf_tc_fail("no record for TX_HARDWARE by control message");
	ATF_CHECK_EQ(r.ee.ee_info, SCM_TSTAMP_SND);
	ATF_CHECK_MSG(ts_ns(&r.ts.ts[2]) != 0, "no hardware stamp");
	ATF_CHECK_EQ(ts_ns(&r.ts.ts[0]), 0);
	close(s);
	hw_set(HWTSTAMP_TX_OFF, HWTSTAMP_FILTER_NONE, NULL);
}

ATF_TC(hwtstamp_config_roundtrip);
ATF_TC_HEAD(hwtstamp_config_roundtrip, tc)
{
	atf_tc_set_md_var(tc, "descr",
	    "SIOCSHWTSTAMP writes back what it applied, SIOCGHWTSTAMP "
	    "returns it, for every TX type and RX filter wm0 offers");
	atf_tc_set_md_var(tc, "require.user", "root");
}
ATF_TC_BODY(hwtstamp_config_roundtrip, tc)
{
	/* What is asked for, what the 82576 applies (as Linux's igb). */
	static const struct {
		int want, got;
	} rx[] = {
		{ HWTSTAMP_FILTER_PTP_V2_L2_EVENT,
		    HWTSTAMP_FILTER_PTP_V2_L2_EVENT },
		{ HWTSTAMP_FILTER_PTP_V2_L2_SYNC,
		    HWTSTAMP_FILTER_PTP_V2_L2_SYNC },
		{ HWTSTAMP_FILTER_PTP_V2_L2_DELAY_REQ,
		    HWTSTAMP_FILTER_PTP_V2_L2_DELAY_REQ },
		{ HWTSTAMP_FILTER_PTP_V1_L4_SYNC,
		    HWTSTAMP_FILTER_PTP_V1_L4_SYNC },
		{ HWTSTAMP_FILTER_PTP_V1_L4_DELAY_REQ,
		    HWTSTAMP_FILTER_PTP_V1_L4_DELAY_REQ },
		/* V2 over UDP: all V2 event messages, layer 2 and 4 */
		{ HWTSTAMP_FILTER_PTP_V2_L4_EVENT,
		    HWTSTAMP_FILTER_PTP_V2_EVENT },
		{ HWTSTAMP_FILTER_PTP_V2_L4_SYNC,
		    HWTSTAMP_FILTER_PTP_V2_EVENT },
		{ HWTSTAMP_FILTER_PTP_V2_L4_DELAY_REQ,
		    HWTSTAMP_FILTER_PTP_V2_EVENT },
		{ HWTSTAMP_FILTER_PTP_V2_EVENT,
		    HWTSTAMP_FILTER_PTP_V2_EVENT },
		{ HWTSTAMP_FILTER_PTP_V2_SYNC,
		    HWTSTAMP_FILTER_PTP_V2_EVENT },
		{ HWTSTAMP_FILTER_PTP_V2_DELAY_REQ,
		    HWTSTAMP_FILTER_PTP_V2_EVENT },
		{ HWTSTAMP_FILTER_NONE, HWTSTAMP_FILTER_NONE },
	};
	struct hwtstamp_config set, got;
	size_t i;
	int tx;

	harness_require(tc);
	for (tx = HWTSTAMP_TX_ON; tx >= HWTSTAMP_TX_OFF; tx--) {
		for (i = 0; i < __arraycount(rx); i++) {
			hw_set(tx, rx[i].want, &set);
			ATF_CHECK_EQ(set.flags, 0);
			ATF_CHECK_EQ(set.tx_type, tx);
			ATF_CHECK_EQ_MSG(set.rx_filter, rx[i].got,
			    "filter %d applied as %d, want %d", rx[i].want,
			    set.rx_filter, rx[i].got);
			got = hw_get();
			ATF_CHECK_EQ(got.flags, set.flags);
			ATF_CHECK_EQ(got.tx_type, set.tx_type);
			ATF_CHECK_EQ(got.rx_filter, set.rx_filter);
		}
	}
	got = hw_get();
	ATF_CHECK_EQ(got.tx_type, HWTSTAMP_TX_OFF);
	ATF_CHECK_EQ(got.rx_filter, HWTSTAMP_FILTER_NONE);
}

ATF_TC(hwtstamp_set_eperm_unprivileged);
ATF_TC_HEAD(hwtstamp_set_eperm_unprivileged, tc)
{
	atf_tc_set_md_var(tc, "descr",
	    "an unprivileged SIOCSHWTSTAMP fails with EPERM and changes "
	    "nothing; SIOCGHWTSTAMP and SIOCGHWTSINFO need no privilege");
	atf_tc_set_md_var(tc, "require.user", "root");
}
ATF_TC_BODY(hwtstamp_set_eperm_unprivileged, tc)
{
	struct hwtstamp_config cfg;
	struct hwtstamp_info hti;
	pid_t pid;
	int status;

	harness_require(tc);
	hw_set(HWTSTAMP_TX_OFF, HWTSTAMP_FILTER_NONE, NULL);
	pid = fork();
	ATF_REQUIRE(pid != -1);
	if (pid == 0) {
		if (setgid(32767) == -1 || setuid(32767) == -1)
			_exit(10);
		cfg.flags = 0;
		cfg.tx_type = HWTSTAMP_TX_ON;
		cfg.rx_filter = HWTSTAMP_FILTER_PTP_V2_L2_EVENT;
		if (hw_ioctl(IFNAME, SIOCSHWTSTAMP, &cfg) != -1)
			_exit(11);
		if (errno != EPERM)
			_exit(12);
		if (hw_ioctl(IFNAME, SIOCGHWTSTAMP, &cfg) != 0)
			_exit(13);
		if (hw_ioctl(IFNAME, SIOCGHWTSINFO, &hti) != 0)
			_exit(14);
		_exit(0);
	}
	ATF_REQUIRE(waitpid(pid, &status, 0) == pid);
	ATF_REQUIRE(WIFEXITED(status));
	ATF_CHECK_EQ_MSG(WEXITSTATUS(status), 0,
	    "child failed at step %d", WEXITSTATUS(status));
	cfg = hw_get();
	ATF_CHECK_EQ(cfg.tx_type, HWTSTAMP_TX_OFF);
	ATF_CHECK_EQ(cfg.rx_filter, HWTSTAMP_FILTER_NONE);
}

ATF_TC(hwtstamp_set_erange_bad_values);
ATF_TC_HEAD(hwtstamp_set_erange_bad_values, tc)
{
	atf_tc_set_md_var(tc, "descr",
	    "unsupported TX types and RX filters fail with ERANGE, unknown "
	    "flags with EINVAL, and leave the setting alone");
	atf_tc_set_md_var(tc, "require.user", "root");
}
ATF_TC_BODY(hwtstamp_set_erange_bad_values, tc)
{
	static const struct {
		int flags, tx, rx, err;
	} bad[] = {
		{ 0, HWTSTAMP_TX_ONESTEP_SYNC, HWTSTAMP_FILTER_NONE, ERANGE },
		{ 0, HWTSTAMP_TX_ONESTEP_P2P, HWTSTAMP_FILTER_NONE, ERANGE },
		{ 0, 99, HWTSTAMP_FILTER_NONE, ERANGE },
		{ 0, -1, HWTSTAMP_FILTER_NONE, ERANGE },
		/*
		 * 82576: no "all" (which PTPv1 Sync plus Delay_Req would
		 * need), no NTP
		 */
		{ 0, HWTSTAMP_TX_ON, HWTSTAMP_FILTER_ALL, ERANGE },
		{ 0, HWTSTAMP_TX_ON, HWTSTAMP_FILTER_SOME, ERANGE },
		{ 0, HWTSTAMP_TX_ON, HWTSTAMP_FILTER_NTP_ALL, ERANGE },
		{ 0, HWTSTAMP_TX_ON, HWTSTAMP_FILTER_PTP_V1_L4_EVENT, ERANGE },
		{ 0, HWTSTAMP_TX_ON, 16, ERANGE },
		{ 0, HWTSTAMP_TX_ON, -1, ERANGE },
		{ 1, HWTSTAMP_TX_ON, HWTSTAMP_FILTER_NONE, EINVAL },
	};
	struct hwtstamp_config cfg;
	size_t i;

	harness_require(tc);
	hw_set(HWTSTAMP_TX_ON, HWTSTAMP_FILTER_PTP_V2_L2_SYNC, NULL);
	for (i = 0; i < __arraycount(bad); i++) {
		cfg.flags = bad[i].flags;
		cfg.tx_type = bad[i].tx;
		cfg.rx_filter = bad[i].rx;
		ATF_CHECK_MSG(hw_ioctl(IFNAME, SIOCSHWTSTAMP, &cfg) == -1 &&
		    errno == bad[i].err,
		    "flags %d tx %d rx %d: want errno %d, got %s",
		    bad[i].flags, bad[i].tx, bad[i].rx, bad[i].err,
		    strerror(errno));
		cfg = hw_get();
		ATF_CHECK_EQ(cfg.tx_type, HWTSTAMP_TX_ON);
		ATF_CHECK_EQ(cfg.rx_filter, HWTSTAMP_FILTER_PTP_V2_L2_SYNC);
	}
	hw_set(HWTSTAMP_TX_OFF, HWTSTAMP_FILTER_NONE, NULL);
}

ATF_TC(hwtstamp_eopnotsupp_without_hw);
ATF_TC_HEAD(hwtstamp_eopnotsupp_without_hw, tc)
{
	atf_tc_set_md_var(tc, "descr",
	    "an interface without hardware time stamping (lo0) fails all "
	    "four ioctls with EOPNOTSUPP");
	atf_tc_set_md_var(tc, "require.user", "root");
}
ATF_TC_BODY(hwtstamp_eopnotsupp_without_hw, tc)
{
	struct hwtstamp_config cfg = { 0, HWTSTAMP_TX_OFF,
	    HWTSTAMP_FILTER_NONE };
	struct hwtstamp_info hti;
	struct hwtstamp_sysoff hso;

	memset(&hso, 0, sizeof(hso));
	hso.hso_nsamples = 1;
	ATF_CHECK_ERRNO(EOPNOTSUPP, hw_ioctl("lo0", SIOCSHWTSTAMP, &cfg));
	ATF_CHECK_ERRNO(EOPNOTSUPP, hw_ioctl("lo0", SIOCGHWTSTAMP, &cfg));
	ATF_CHECK_ERRNO(EOPNOTSUPP, hw_ioctl("lo0", SIOCGHWTSINFO, &hti));
	ATF_CHECK_ERRNO(EOPNOTSUPP, hw_ioctl("lo0", SIOCGHWTSOFFSET, &hso));
}

ATF_TC(hwtstamp_info_capabilities);
ATF_TC_HEAD(hwtstamp_info_capabilities, tc)
{
	atf_tc_set_md_var(tc, "descr",
	    "SIOCGHWTSINFO on wm0 reports the 82576's abilities and the "
	    "current setting");
	atf_tc_set_md_var(tc, "require.user", "root");
}
ATF_TC_BODY(hwtstamp_info_capabilities, tc)
{
	struct hwtstamp_info hti;
	const uint32_t want = SOF_TIMESTAMPING_TX_HARDWARE |
	    SOF_TIMESTAMPING_RX_HARDWARE | SOF_TIMESTAMPING_RAW_HARDWARE;

	harness_require(tc);
	hw_set(HWTSTAMP_TX_ON, HWTSTAMP_FILTER_PTP_V2_L2_EVENT, NULL);
	memset(&hti, 0xa5, sizeof(hti));
	ATF_REQUIRE_MSG(hw_ioctl(IFNAME, SIOCGHWTSINFO, &hti) == 0,
	    "SIOCGHWTSINFO: %s", strerror(errno));
	printf("chip %.16s so_timestamping %#x tx_types %#x rx_filters %#x "
	    "flags %#x clock_bits %u\n", hti.hti_chip,
	    hti.hti_so_timestamping, hti.hti_tx_types, hti.hti_rx_filters,
	    hti.hti_flags, hti.hti_clock_bits);
	ATF_CHECK_STREQ(hti.hti_chip, "82576");
	ATF_CHECK_EQ(hti.hti_so_timestamping & want, want);
	ATF_CHECK_EQ(hti.hti_phc_index, -1);
	ATF_CHECK_EQ(hti.hti_tx_types,
	    (1U << HWTSTAMP_TX_OFF) | (1U << HWTSTAMP_TX_ON));
	ATF_CHECK(hti.hti_rx_filters & (1U << HWTSTAMP_FILTER_NONE));
	ATF_CHECK(hti.hti_rx_filters &
	    (1U << HWTSTAMP_FILTER_PTP_V2_L2_EVENT));
	ATF_CHECK(hti.hti_rx_filters &
	    (1U << HWTSTAMP_FILTER_PTP_V2_L4_EVENT));
	ATF_CHECK(hti.hti_rx_filters & (1U << HWTSTAMP_FILTER_PTP_V2_EVENT));
	ATF_CHECK(hti.hti_rx_filters &
	    (1U << HWTSTAMP_FILTER_PTP_V1_L4_SYNC));
	ATF_CHECK((hti.hti_rx_filters &
	    (1U << HWTSTAMP_FILTER_PTP_V1_L4_EVENT)) == 0);
	ATF_CHECK((hti.hti_rx_filters & (1U << HWTSTAMP_FILTER_ALL)) == 0);
	ATF_CHECK(hti.hti_flags & HWTSTAMP_INFO_CLOCK);
	ATF_CHECK(hti.hti_flags & HWTSTAMP_INFO_TX_ONE);
	ATF_CHECK((hti.hti_flags & HWTSTAMP_INFO_UNTESTED) == 0);
	ATF_CHECK_EQ(hti.hti_clock_bits, 45);
	ATF_CHECK_EQ(hti.hti_config.tx_type, HWTSTAMP_TX_ON);
	ATF_CHECK_EQ(hti.hti_config.rx_filter,
	    HWTSTAMP_FILTER_PTP_V2_L2_EVENT);
	hw_set(HWTSTAMP_TX_OFF, HWTSTAMP_FILTER_NONE, NULL);
}

ATF_TC(hw_clock_advances_at_system_rate);
ATF_TC_HEAD(hw_clock_advances_at_system_rate, tc)
{
	atf_tc_set_md_var(tc, "descr",
	    "SIOCGHWTSOFFSET: the NIC clock lies between the system clock "
	    "reads, advances, and runs within 0.1%% of the system clock's "
	    "rate over 2 s");
}
ATF_TC_BODY(hw_clock_advances_at_system_rate, tc)
{
	static struct hwtstamp_sysoff a, b, r;
	int64_t dnic, dsys, prev;
	double ppm;
	uint32_t i;

	harness_require(tc);
	hw_sysoff(CLOCK_MONOTONIC, HWTSTAMP_SYSOFF_MAX, &a);
	prev = 0;
	for (i = 0; i < a.hso_nsamples; i++) {
		const struct hwtstamp_sysoff_sample *s = &a.hso_ts[i];

		ATF_CHECK(hw_ts2ns(&s->hss_before) <= hw_ts2ns(&s->hss_after));
		ATF_CHECK_MSG(hw_ts2ns(&s->hss_nic) > prev,
		    "NIC clock went back at sample %u", i);
		prev = hw_ts2ns(&s->hss_nic);
	}
	sleep(2);
	hw_sysoff(CLOCK_MONOTONIC, 1, &b);
	dnic = hw_ts2ns(&b.hso_ts[0].hss_nic) - hw_ts2ns(&a.hso_ts[0].hss_nic);
	dsys = (hw_ts2ns(&b.hso_ts[0].hss_before) +
	    hw_ts2ns(&b.hso_ts[0].hss_after)) / 2 -
	    (hw_ts2ns(&a.hso_ts[0].hss_before) +
	    hw_ts2ns(&a.hso_ts[0].hss_after)) / 2;
	ppm = ((double)dnic / (double)dsys - 1) * 1e6;
	printf("NIC %lld ns, system %lld ns over the interval: %+.1f ppm; "
	    "read window %lld ns\n", (long long)dnic, (long long)dsys, ppm,
	    (long long)(hw_ts2ns(&b.hso_ts[0].hss_after) -
	    hw_ts2ns(&b.hso_ts[0].hss_before)));
	ATF_CHECK_MSG(dsys > 1900000000, "slept only %lld ns",
	    (long long)dsys);
	ATF_CHECK_MSG(ppm > -1000 && ppm < 1000,
	    "NIC clock rate off by %.1f ppm", ppm);

	/* CLOCK_REALTIME (the default) works as well. */
	hw_sysoff(CLOCK_REALTIME, 2, &r);
	ATF_CHECK(r.hso_ts[0].hss_before.tv_sec > 1000000000);
	ATF_CHECK(hw_ts2ns(&r.hso_ts[1].hss_nic) >
	    hw_ts2ns(&b.hso_ts[0].hss_nic));

	/* Bad requests */
	memset(&r, 0, sizeof(r));
	ATF_CHECK_ERRNO(EINVAL, hw_ioctl(IFNAME, SIOCGHWTSOFFSET, &r));
	r.hso_nsamples = HWTSTAMP_SYSOFF_MAX + 1;
	ATF_CHECK_ERRNO(EINVAL, hw_ioctl(IFNAME, SIOCGHWTSOFFSET, &r));
	r.hso_nsamples = 1;
	r.hso_clock = 99;	/* no such clock */
	ATF_CHECK_ERRNO(EINVAL, hw_ioctl(IFNAME, SIOCGHWTSOFFSET, &r));
}

ATF_TP_ADD_TCS(tp)
{
	/* First: see tx_by_cmsg_alone_first_on_boot. */
	ATF_TP_ADD_TC(tp, tx_by_cmsg_alone_first_on_boot);
	ATF_TP_ADD_TC(tp, hwtstamp_config_roundtrip);
	ATF_TP_ADD_TC(tp, hwtstamp_set_eperm_unprivileged);
	ATF_TP_ADD_TC(tp, hwtstamp_set_erange_bad_values);
	ATF_TP_ADD_TC(tp, hwtstamp_eopnotsupp_without_hw);
	ATF_TP_ADD_TC(tp, hwtstamp_info_capabilities);
	ATF_TP_ADD_TC(tp, hw_clock_advances_at_system_rate);
	return atf_no_error();
}
