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
 * Every structure the series hands a process comes in that process's
 * layout: built as a 64-bit program these cases check the kernel's own
 * ABI, built with -m32 (`invoke vmtest` runs them as i386/...) they
 * check COMPAT_NETBSD32 (compat/netbsd32/netbsd32_tstamp.c), where a
 * struct timespec is 12 bytes, not 16.  Each case would see the
 * 64-bit layout given to a 32-bit process: a cmsg_len the process's
 * CMSG_LEN() does not give, stamps at the wrong offsets, a
 * SIOCGHWTSOFFSET answer longer than the process's structure, a bpf
 * header of another format.
 */

#include <sys/ioctl.h>

#include <net/bpf.h>
#include <net/if.h>

#include <fcntl.h>
#include <poll.h>

#include "tstamp_util.h"
#include "hwtstamp_util.h"

#define	ALLRX	(SOF_TIMESTAMPING_RX_SOFTWARE | SOF_TIMESTAMPING_SOFTWARE)
#define	PAYLOAD	"sotimestamp abi"

/* Control buffer with a known fill, so bytes written past show. */
union cbuf {
	struct cmsghdr	align;
	unsigned char	buf[512];
};

/*
 * One datagram from a fresh socket to rs, then recvmsg() it (flags)
 * with the control buffer cb; the send's CLOCK_REALTIME bounds in
 * *lo, *hi.
 */
static void
send_recv(int rs, const struct sockaddr_storage *ss, socklen_t sslen,
    struct msghdr *msg, struct iovec *iov, char *data, size_t len,
    union cbuf *cb, int64_t *lo, int64_t *hi)
{
	ssize_t n;
	int s;

	s = socket(ss->ss_family, SOCK_DGRAM, 0);
	ATF_REQUIRE(s != -1);
	*lo = now_ns(CLOCK_REALTIME);
	ATF_REQUIRE(sendto(s, PAYLOAD, sizeof(PAYLOAD), 0,
	    (const struct sockaddr *)ss, sslen) == sizeof(PAYLOAD));
	ATF_REQUIRE(wait_readable(rs, 5000));
	*hi = now_ns(CLOCK_REALTIME);
	close(s);
	memset(cb->buf, 0xa5, sizeof(cb->buf));
	msg_setup(msg, iov, data, len, cb->buf, sizeof(cb->buf));
	n = recvmsg(rs, msg, 0);
	ATF_REQUIRE_MSG(n == sizeof(PAYLOAD), "recvmsg: %zd (%s)", n,
	    strerror(errno));
	ATF_CHECK((msg->msg_flags & MSG_CTRUNC) == 0);
}

/*
 * The one control message of msg: level/type, exactly CMSG_LEN(len)
 * long, and msg_controllen its CMSG_SPACE; its data copied to out.
 */
static void
only_cmsg(struct msghdr *msg, int level, int type, void *out, size_t len)
{
	struct cmsghdr *cm;

	cm = CMSG_FIRSTHDR(msg);
	ATF_REQUIRE_MSG(cm != NULL, "no control message");
	ATF_CHECK_EQ(cm->cmsg_level, level);
	ATF_CHECK_EQ(cm->cmsg_type, type);
	ATF_REQUIRE_EQ_MSG(cm->cmsg_len, CMSG_LEN(len),
	    "cmsg_len %u, want CMSG_LEN(%zu) = %zu", (u_int)cm->cmsg_len,
	    len, (size_t)CMSG_LEN(len));
	ATF_CHECK_EQ_MSG(msg->msg_controllen, CMSG_SPACE(len),
	    "msg_controllen %u, want CMSG_SPACE(%zu) = %zu",
	    (u_int)msg->msg_controllen, len, (size_t)CMSG_SPACE(len));
	memcpy(out, CMSG_DATA(cm), len);
	ATF_CHECK_MSG(CMSG_NXTHDR(msg, cm) == NULL, "more than one message");
}

ATF_TC(abi_scm_timestamping);
ATF_TC_HEAD(abi_scm_timestamping, tc)
{
	atf_tc_set_md_var(tc, "descr", "SCM_TIMESTAMPING is "
	    "CMSG_LEN(sizeof(struct scm_timestamping)) long: ts[0] the "
	    "software stamp, ts[1] and ts[2] zero");
}
ATF_TC_BODY(abi_scm_timestamping, tc)
{
	struct sockaddr_storage ss;
	socklen_t sslen;
	struct msghdr msg;
	struct iovec iov;
	struct scm_timestamping sts;
	union cbuf cb;
	char data[64];
	int64_t lo, hi;
	int rs;

	rs = bound_socket(AF_INET, SOCK_DGRAM, 0, &ss, &sslen);
	setint(rs, SOL_SOCKET, SO_TIMESTAMPING, ALLRX);
	send_recv(rs, &ss, sslen, &msg, &iov, data, sizeof(data), &cb, &lo,
	    &hi);
	only_cmsg(&msg, SOL_SOCKET, SCM_TIMESTAMPING, &sts, sizeof(sts));
	check_between("ts[0]", lo, ts_ns(&sts.ts[0]), hi);
	ATF_CHECK_MSG(sts.ts[0].tv_nsec >= 0 && sts.ts[0].tv_nsec < TS_NSEC,
	    "ts[0].tv_nsec %ld", (long)sts.ts[0].tv_nsec);
	ATF_CHECK_MSG(ts_ns(&sts.ts[1]) == 0 && ts_ns(&sts.ts[2]) == 0,
	    "ts[1] %lld, ts[2] %lld: want 0 (no such stamps)",
	    (long long)ts_ns(&sts.ts[1]), (long long)ts_ns(&sts.ts[2]));
	close(rs);
}

ATF_TC(abi_scm_timestampns);
ATF_TC_HEAD(abi_scm_timestampns, tc)
{
	atf_tc_set_md_var(tc, "descr", "SCM_TIMESTAMPNS is "
	    "CMSG_LEN(sizeof(struct timespec)) long");
}
ATF_TC_BODY(abi_scm_timestampns, tc)
{
	struct sockaddr_storage ss;
	socklen_t sslen;
	struct msghdr msg;
	struct iovec iov;
	struct timespec ts;
	union cbuf cb;
	char data[64];
	int64_t lo, hi;
	int rs;

	rs = bound_socket(AF_INET, SOCK_DGRAM, 0, &ss, &sslen);
	setint(rs, SOL_SOCKET, SO_TIMESTAMPNS, 1);
	send_recv(rs, &ss, sslen, &msg, &iov, data, sizeof(data), &cb, &lo,
	    &hi);
	only_cmsg(&msg, SOL_SOCKET, SCM_TIMESTAMPNS, &ts, sizeof(ts));
	check_between("SCM_TIMESTAMPNS", lo, ts_ns(&ts), hi);
	close(rs);
}

ATF_TC(abi_scm_timestamp);
ATF_TC_HEAD(abi_scm_timestamp, tc)
{
	atf_tc_set_md_var(tc, "descr", "SCM_TIMESTAMP is "
	    "CMSG_LEN(sizeof(struct timeval)) long");
}
ATF_TC_BODY(abi_scm_timestamp, tc)
{
	struct sockaddr_storage ss;
	socklen_t sslen;
	struct msghdr msg;
	struct iovec iov;
	struct timeval tv;
	union cbuf cb;
	char data[64];
	int64_t lo, hi;
	int rs;

	rs = bound_socket(AF_INET, SOCK_DGRAM, 0, &ss, &sslen);
	setint(rs, SOL_SOCKET, SO_TIMESTAMP, 1);
	send_recv(rs, &ss, sslen, &msg, &iov, data, sizeof(data), &cb, &lo,
	    &hi);
	only_cmsg(&msg, SOL_SOCKET, SCM_TIMESTAMP, &tv, sizeof(tv));
	/* microseconds: the lower bound loses up to 1 us */
	check_between("SCM_TIMESTAMP", lo - 1000, tv_ns(&tv), hi);
	close(rs);
}

ATF_TC(abi_rxq_ovfl_after_scm_timestamping);
ATF_TC_HEAD(abi_rxq_ovfl_after_scm_timestamping, tc)
{
	atf_tc_set_md_var(tc, "descr", "SCM_RXQ_OVFL is found by "
	    "CMSG_NXTHDR after SCM_TIMESTAMPING, both of their CMSG_LEN, "
	    "msg_controllen the sum of their CMSG_SPACE");
}
ATF_TC_BODY(abi_rxq_ovfl_after_scm_timestamping, tc)
{
	struct sockaddr_storage ss;
	socklen_t sslen;
	struct msghdr msg;
	struct iovec iov;
	struct cmsghdr *cm;
	struct scm_timestamping sts;
	union cbuf cb;
	char data[1024];
	uint32_t drops = 0;
	int rs, s, i, nts = 0, novfl = 0, nother = 0;

	memset(&sts, 0, sizeof(sts));
	rs = bound_socket(AF_INET, SOCK_DGRAM, 0, &ss, &sslen);
	setint(rs, SOL_SOCKET, SO_RCVBUF, 4096);
	setint(rs, SOL_SOCKET, SO_TIMESTAMPING, ALLRX);
	setint(rs, SOL_SOCKET, SO_RXQ_OVFL, 1);
	s = socket(AF_INET, SOCK_DGRAM, 0);
	ATF_REQUIRE(s != -1);
	memset(data, 'd', sizeof(data));
	/*
	 * More than the receive buffer holds: some are dropped (ENOBUFS:
	 * the stack's input queue was full instead).  The count is read
	 * when a datagram is queued: drain, then the next one carries it.
	 */
	for (i = 0; i < 32; i++)
		ATF_REQUIRE(sendto(s, data, sizeof(data), 0,
		    (struct sockaddr *)&ss, sslen) == sizeof(data) ||
		    errno == ENOBUFS);
	while (recv(rs, data, sizeof(data), MSG_DONTWAIT) > 0)
		continue;
	ATF_REQUIRE(sendto(s, PAYLOAD, sizeof(PAYLOAD), 0,
	    (struct sockaddr *)&ss, sslen) == sizeof(PAYLOAD));
	close(s);
	ATF_REQUIRE(wait_readable(rs, 5000));
	memset(cb.buf, 0xa5, sizeof(cb.buf));
	msg_setup(&msg, &iov, data, sizeof(data), cb.buf, sizeof(cb.buf));
	ATF_REQUIRE(recvmsg(rs, &msg, 0) == sizeof(PAYLOAD));
	for (cm = CMSG_FIRSTHDR(&msg); cm != NULL; cm = CMSG_NXTHDR(&msg, cm)) {
		if (cm->cmsg_level == SOL_SOCKET &&
		    cm->cmsg_type == SCM_TIMESTAMPING) {
			ATF_CHECK_EQ(cm->cmsg_len, CMSG_LEN(sizeof(sts)));
			memcpy(&sts, CMSG_DATA(cm), sizeof(sts));
			nts++;
		} else if (cm->cmsg_level == SOL_SOCKET &&
		    cm->cmsg_type == SCM_RXQ_OVFL) {
			ATF_CHECK_EQ(cm->cmsg_len, CMSG_LEN(sizeof(drops)));
			memcpy(&drops, CMSG_DATA(cm), sizeof(drops));
			novfl++;
		} else
			nother++;
	}
	ATF_CHECK_EQ_MSG(nts, 1, "%d SCM_TIMESTAMPING", nts);
	ATF_CHECK_EQ_MSG(novfl, 1, "%d SCM_RXQ_OVFL", novfl);
	ATF_CHECK_EQ_MSG(nother, 0, "%d other messages", nother);
	ATF_CHECK_MSG(drops > 0 && drops <= 32, "%u drops", drops);
	ATF_CHECK_EQ_MSG(msg.msg_controllen,
	    CMSG_SPACE(sizeof(sts)) + CMSG_SPACE(sizeof(drops)),
	    "msg_controllen %u", (u_int)msg.msg_controllen);
	ATF_CHECK(ts_ns(&sts.ts[0]) != 0 && ts_ns(&sts.ts[2]) == 0);
	close(rs);
}

ATF_TC(abi_errqueue_record);
ATF_TC_HEAD(abi_errqueue_record, tc)
{
	atf_tc_set_md_var(tc, "descr", "An error queue record: "
	    "struct sock_extended_err and struct scm_timestamping each of "
	    "their CMSG_LEN, the fields where the process reads them");
}
ATF_TC_BODY(abi_errqueue_record, tc)
{
	struct sockaddr_storage ss;
	socklen_t sslen;
	struct tsmsg r;
	int64_t lo, hi;
	int rs, s, i, error;

	rs = bound_socket(AF_INET, SOCK_DGRAM, 0, &ss, &sslen);
	s = socket(AF_INET, SOCK_DGRAM, 0);
	ATF_REQUIRE(s != -1);
	setint(s, SOL_SOCKET, SO_TIMESTAMPING, SOF_TIMESTAMPING_TX_SOFTWARE |
	    SOF_TIMESTAMPING_SOFTWARE | SOF_TIMESTAMPING_OPT_ID);
	lo = now_ns(CLOCK_REALTIME);
	ATF_REQUIRE(sendto(s, PAYLOAD, sizeof(PAYLOAD), 0,
	    (struct sockaddr *)&ss, sslen) == sizeof(PAYLOAD));
	hi = now_ns(CLOCK_REALTIME);
	for (i = 0; i < 100; i++) {
		error = recv_ts(s, MSG_ERRQUEUE | MSG_DONTWAIT, &r);
		if (error != EAGAIN)
			break;
		usleep(10000);
	}
	ATF_REQUIRE_MSG(error == 0, "recvmsg(MSG_ERRQUEUE): %s",
	    strerror(error));
	/* recv_ts() counts only messages of exactly CMSG_LEN(size). */
	ATF_CHECK_EQ_MSG(r.nerr, 1, "%d IP_RECVERR of CMSG_LEN(%zu)", r.nerr,
	    sizeof(r.ee));
	ATF_CHECK_EQ_MSG(r.nts, 1, "%d SCM_TIMESTAMPING of CMSG_LEN(%zu)",
	    r.nts, sizeof(r.ts));
	ATF_CHECK_EQ_MSG(r.nother, 0, "%d other messages", r.nother);
	ATF_CHECK_EQ(r.errlevel, IPPROTO_IP);
	ATF_CHECK_EQ(r.ee.ee_errno, ENOMSG);
	ATF_CHECK_EQ(r.ee.ee_origin, SO_EE_ORIGIN_TIMESTAMPING);
	ATF_CHECK_EQ(r.ee.ee_info, SCM_TSTAMP_SND);
	ATF_CHECK_EQ(r.ee.ee_data, 0);
	check_between("ts[0]", lo, ts_ns(&r.ts.ts[0]), hi);
	ATF_CHECK(ts_ns(&r.ts.ts[1]) == 0 && ts_ns(&r.ts.ts[2]) == 0);
	ATF_CHECK_EQ(r.len, (ssize_t)sizeof(PAYLOAD));
	ATF_CHECK(memcmp(r.data, PAYLOAD, sizeof(PAYLOAD)) == 0);
	ATF_CHECK((r.flags & MSG_ERRQUEUE) != 0);
	close(s);
	close(rs);
}

/* SIOCGHWTSOFFSET's structure and what follows it, for overruns. */
struct sysoff_guarded {
	struct hwtstamp_sysoff	hso;
	unsigned char		after[1024];
};

ATF_TC(abi_hwtstamp_sysoff_length);
ATF_TC_HEAD(abi_hwtstamp_sysoff_length, tc)
{
	atf_tc_set_md_var(tc, "descr", "SIOCGHWTSOFFSET writes exactly the "
	    "header and hso_nsamples samples of the process's struct "
	    "hwtstamp_sysoff, nothing past them (needs "
	    HARNESS_VAR "=yes)");
}
ATF_TC_BODY(abi_hwtstamp_sysoff_length, tc)
{
	static const uint32_t counts[] = { 1, 3, HWTSTAMP_SYSOFF_MAX };
	struct sysoff_guarded g;
	const struct hwtstamp_sysoff_sample *hss;
	const unsigned char *p, *end;
	int64_t lo, hi;
	uint32_t i, k, n;

	harness_require(tc);
	for (k = 0; k < __arraycount(counts); k++) {
		n = counts[k];
		memset(&g, 0xa5, sizeof(g));
		memset(&g.hso, 0, offsetof(struct hwtstamp_sysoff, hso_ts));
		g.hso.hso_nsamples = n;
		g.hso.hso_clock = CLOCK_REALTIME;
		lo = now_ns(CLOCK_REALTIME);
		ATF_REQUIRE_MSG(hw_ioctl(HW_IFNAME, SIOCGHWTSOFFSET, &g) == 0,
		    "SIOCGHWTSOFFSET %u: %s", n, strerror(errno));
		hi = now_ns(CLOCK_REALTIME);
		ATF_CHECK_EQ(g.hso.hso_nsamples, n);
		for (i = 0; i < n; i++) {
			hss = &g.hso.hso_ts[i];
			check_between("hss_before", lo, ts_ns(&hss->hss_before),
			    hi);
			check_between("hss_after", ts_ns(&hss->hss_before),
			    ts_ns(&hss->hss_after), hi);
			ATF_CHECK_MSG(ts_ns(&hss->hss_nic) > 0 &&
			    hss->hss_nic.tv_nsec < TS_NSEC,
			    "%u samples: sample %u NIC clock %lld.%09ld", n, i,
			    (long long)hss->hss_nic.tv_sec,
			    (long)hss->hss_nic.tv_nsec);
		}
		p = (const unsigned char *)&g.hso.hso_ts[n];
		end = (const unsigned char *)(&g + 1);
		for (; p < end; p++)
			if (*p != 0xa5)
				break;
		ATF_CHECK_MSG(p == end, "%u samples: byte %zu past the last "
		    "sample (%zu past the structure) was written", n,
		    (size_t)(p - (const unsigned char *)&g.hso.hso_ts[n]),
		    (size_t)(p - g.after));
	}
}

ATF_TC(abi_hwtstamp_ifr_data_only);
ATF_TC_HEAD(abi_hwtstamp_ifr_data_only, tc)
{
	atf_tc_set_md_var(tc, "descr", "SIOCGHWTSTAMP reads ifr_data as "
	    "the process's pointer, whatever the rest of the ifreq union "
	    "holds (needs " HARNESS_VAR "=yes)");
}
ATF_TC_BODY(abi_hwtstamp_ifr_data_only, tc)
{
	struct hwtstamp_config cfg;
	struct ifreq ifr;
	int s;

	harness_require(tc);
	s = socket(AF_INET, SOCK_DGRAM, 0);
	ATF_REQUIRE(s != -1);
	memset(&ifr, 0xff, sizeof(ifr));
	strlcpy(ifr.ifr_name, HW_IFNAME, sizeof(ifr.ifr_name));
	ifr.ifr_data = (void *)&cfg;
	memset(&cfg, 0xa5, sizeof(cfg));
	ATF_REQUIRE_MSG(ioctl(s, SIOCGHWTSTAMP, &ifr) == 0,
	    "SIOCGHWTSTAMP: %s", strerror(errno));
	ATF_CHECK_EQ(cfg.flags, 0);
	ATF_CHECK_MSG(cfg.tx_type >= HWTSTAMP_TX_OFF &&
	    cfg.tx_type <= HWTSTAMP_TX_ONESTEP_P2P, "tx_type %d",
	    cfg.tx_type);
	close(s);
}

ATF_TC(abi_bpf_nanotime_lo0);
ATF_TC_HEAD(abi_bpf_nanotime_lo0, tc)
{
	atf_tc_set_md_var(tc, "descr", "bpf BPF_T_NANOTIME on lo0: a struct "
	    "bpf_xhdr of the process's layout, bh_hdrlen as the process's "
	    "BPF_WORDALIGN computes it, the capture time in bh_tstamp");
	atf_tc_set_md_var(tc, "require.user", "root");
}
ATF_TC_BODY(abi_bpf_nanotime_lo0, tc)
{
	static char buf[65536];
	struct sockaddr_storage ss;
	socklen_t sslen;
	struct ifreq ifr;
	struct bpf_xhdr hx;
	const size_t ll = sizeof(uint32_t);	/* DLT_NULL */
	const size_t xhdrlen = offsetof(struct bpf_xhdr, bh_hdrlen) +
	    sizeof(hx.bh_hdrlen);
	const size_t pktlen = ll + 20 + 8 + sizeof(PAYLOAD);
	u_int one = 1, tstamp = BPF_T_NANOTIME;
	int64_t lo, hi;
	ssize_t n;
	size_t off;
	int fd, rs, s, found = 0;

	fd = open("/dev/bpf", O_RDWR);
	ATF_REQUIRE_MSG(fd != -1, "/dev/bpf: %s", strerror(errno));
	memset(&ifr, 0, sizeof(ifr));
	strlcpy(ifr.ifr_name, "lo0", sizeof(ifr.ifr_name));
	ATF_REQUIRE(ioctl(fd, BIOCSBLEN, &(u_int){ sizeof(buf) }) == 0);
	ATF_REQUIRE(ioctl(fd, BIOCSETIF, &ifr) == 0);
	ATF_REQUIRE(ioctl(fd, BIOCIMMEDIATE, &one) == 0);
	ATF_REQUIRE_MSG(ioctl(fd, BIOCSTSTAMP, &tstamp) == 0,
	    "BIOCSTSTAMP: %s", strerror(errno));
	rs = bound_socket(AF_INET, SOCK_DGRAM, 0, &ss, &sslen);
	s = socket(AF_INET, SOCK_DGRAM, 0);
	ATF_REQUIRE(s != -1);
	lo = now_ns(CLOCK_REALTIME);
	ATF_REQUIRE(sendto(s, PAYLOAD, sizeof(PAYLOAD), 0,
	    (struct sockaddr *)&ss, sslen) == sizeof(PAYLOAD));
	hi = now_ns(CLOCK_REALTIME);
	ATF_REQUIRE(poll(&(struct pollfd){ fd, POLLIN, 0 }, 1, 5000) == 1);
	n = read(fd, buf, sizeof(buf));
	ATF_REQUIRE_MSG(n > 0, "read: %s", strerror(errno));
	for (off = 0; off + sizeof(hx) <= (size_t)n;
	    off += BPF_WORDALIGN(hx.bh_hdrlen + hx.bh_caplen)) {
		memcpy(&hx, buf + off, sizeof(hx));
		/* FreeBSD's SIZEOF_BPF_XHDR: no end padding, so ILP32 = LP64 */
		ATF_REQUIRE_EQ_MSG(hx.bh_hdrlen,
		    BPF_WORDALIGN(ll + xhdrlen) - ll,
		    "bh_hdrlen %u, want BPF_WORDALIGN(%zu + %zu) - %zu = %zu",
		    hx.bh_hdrlen, ll, xhdrlen, ll,
		    (size_t)(BPF_WORDALIGN(ll + xhdrlen) - ll));
		if (hx.bh_caplen != pktlen || off + hx.bh_hdrlen + pktlen >
		    (size_t)n || memcmp(buf + off + hx.bh_hdrlen + ll + 28,
		    PAYLOAD, sizeof(PAYLOAD)) != 0)
			continue;
		found++;
		ATF_CHECK_EQ(hx.bh_datalen, pktlen);
		ATF_CHECK_MSG(hx.bh_tstamp.bt_frac < TS_NSEC,
		    "bt_frac %llu", (unsigned long long)hx.bh_tstamp.bt_frac);
		check_between("bpf", lo, hx.bh_tstamp.bt_sec * TS_NSEC +
		    (int64_t)hx.bh_tstamp.bt_frac, hi);
	}
	ATF_CHECK_EQ_MSG(found, 1, "%d captures of the datagram", found);
	close(s);
	close(rs);
	close(fd);
}

ATF_TP_ADD_TCS(tp)
{

	ATF_TP_ADD_TC(tp, abi_scm_timestamping);
	ATF_TP_ADD_TC(tp, abi_scm_timestampns);
	ATF_TP_ADD_TC(tp, abi_scm_timestamp);
	ATF_TP_ADD_TC(tp, abi_rxq_ovfl_after_scm_timestamping);
	ATF_TP_ADD_TC(tp, abi_errqueue_record);
	ATF_TP_ADD_TC(tp, abi_hwtstamp_sysoff_length);
	ATF_TP_ADD_TC(tp, abi_hwtstamp_ifr_data_only);
	ATF_TP_ADD_TC(tp, abi_bpf_nanotime_lo0);
	return atf_no_error();
}
