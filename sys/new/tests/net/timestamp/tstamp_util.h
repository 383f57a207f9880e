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
 * Helpers shared by the socket timestamping tests: sockets on the
 * loopback or wm0 address, and a recvmsg() that sorts the control
 * messages it gets.
 */

#ifndef _TSTAMP_UTIL_H_
#define _TSTAMP_UTIL_H_

#include <sys/types.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/sysctl.h>
#include <sys/time.h>

#include <net/errqueue.h>
#include <net/net_tstamp.h>
#include <netinet/in.h>
#include <netinet/icmp6.h>
#include <arpa/inet.h>

#include <atf-c.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* After atf-c.h: <sys/mbuf.h> defines m_type, a field name there. */
#include <sys/param.h>
#include <sys/mbuf.h>
#include <sys/pool.h>

#define	TS_RAWPROTO	253		/* RFC 3692 experimental protocol */
#define	TS_NSEC		1000000000LL
#define	TS_SLACK_NS	2000000LL	/* clock read granularity, TCG */

/* What one recvmsg() returned, control messages sorted by kind. */
struct tsmsg {
	ssize_t			len;
	int			flags;
	int			ntv;		/* SCM_TIMESTAMP */
	int			nns;		/* SCM_TIMESTAMPNS */
	int			nts;		/* SCM_TIMESTAMPING */
	int			nerr;		/* IP_RECVERR, IPV6_RECVERR */
	int			nother;
	struct timeval		tv;
	struct timespec		ns;
	struct scm_timestamping	ts;
	struct sock_extended_err ee;
	int			errlevel;
	char			data[2048];
};

static inline int64_t
ts_ns(const struct timespec *ts)
{

	return (int64_t)ts->tv_sec * TS_NSEC + ts->tv_nsec;
}

static inline int64_t
tv_ns(const struct timeval *tv)
{

	return (int64_t)tv->tv_sec * TS_NSEC + (int64_t)tv->tv_usec * 1000;
}

static inline int64_t
now_ns(clockid_t clk)
{
	struct timespec ts;

	ATF_REQUIRE(clock_gettime(clk, &ts) == 0);
	return ts_ns(&ts);
}

/* lo <= v <= hi, allowing for the coarser clock of SCM_TIMESTAMP. */
static inline void
check_between(const char *what, int64_t lo, int64_t v, int64_t hi)
{

	/* Written so that lo = 0 or hi = INT64_MAX cannot overflow. */
	ATF_CHECK_MSG((v >= lo || lo - v <= TS_SLACK_NS) &&
	    (v <= hi || v - hi <= TS_SLACK_NS),
	    "%s stamp %lld not in [%lld, %lld] (%+lld, %+lld ns)", what,
	    (long long)v, (long long)lo, (long long)hi,
	    (long long)(v - lo), (long long)(hi - v));
}

static inline void
setint(int s, int level, int name, int val)
{

	ATF_REQUIRE_MSG(setsockopt(s, level, name, &val, sizeof(val)) == 0,
	    "setsockopt(%d, %#x, %d): %s", level, name, val, strerror(errno));
}

static inline int
getint(int s, int level, int name)
{
	int val = -12345;
	socklen_t len = sizeof(val);

	ATF_REQUIRE_MSG(getsockopt(s, level, name, &val, &len) == 0,
	    "getsockopt(%d, %#x): %s", level, name, strerror(errno));
	ATF_REQUIRE_EQ(len, sizeof(val));
	return val;
}

/* Fill ss with the loopback (or given) address of af and port. */
static inline socklen_t
mkaddr(int af, const char *addr, int port, struct sockaddr_storage *ss)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (af == AF_INET) {
		sin->sin_len = sizeof(*sin);
		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		ATF_REQUIRE(inet_pton(AF_INET, addr ? addr : "127.0.0.1",
		    &sin->sin_addr) == 1);
		return sizeof(*sin);
	}
	sin6->sin6_len = sizeof(*sin6);
	sin6->sin6_family = AF_INET6;
	sin6->sin6_port = htons(port);
	ATF_REQUIRE(inet_pton(AF_INET6, addr ? addr : "::1",
	    &sin6->sin6_addr) == 1);
	return sizeof(*sin6);
}

/* A datagram socket bound to the loopback address, any port. */
static inline int
bound_socket(int af, int type, int proto, struct sockaddr_storage *ss,
    socklen_t *sslen)
{
	int s;

	s = socket(af, type, proto);
	ATF_REQUIRE_MSG(s != -1, "socket: %s", strerror(errno));
	*sslen = mkaddr(af, NULL, 0, ss);
	ATF_REQUIRE_MSG(bind(s, (struct sockaddr *)ss, *sslen) == 0,
	    "bind: %s", strerror(errno));
	ATF_REQUIRE(getsockname(s, (struct sockaddr *)ss, sslen) == 0);
	return s;
}

static inline void
sort_cmsgs(struct msghdr *msg, struct tsmsg *r)
{
	struct cmsghdr *cm;

	for (cm = CMSG_FIRSTHDR(msg); cm != NULL; cm = CMSG_NXTHDR(msg, cm)) {
		if (cm->cmsg_level == SOL_SOCKET &&
		    cm->cmsg_type == SCM_TIMESTAMP &&
		    cm->cmsg_len == CMSG_LEN(sizeof(r->tv))) {
			memcpy(&r->tv, CMSG_DATA(cm), sizeof(r->tv));
			r->ntv++;
		} else if (cm->cmsg_level == SOL_SOCKET &&
		    cm->cmsg_type == SCM_TIMESTAMPNS &&
		    cm->cmsg_len == CMSG_LEN(sizeof(r->ns))) {
			memcpy(&r->ns, CMSG_DATA(cm), sizeof(r->ns));
			r->nns++;
		} else if (cm->cmsg_level == SOL_SOCKET &&
		    cm->cmsg_type == SCM_TIMESTAMPING &&
		    cm->cmsg_len == CMSG_LEN(sizeof(r->ts))) {
			memcpy(&r->ts, CMSG_DATA(cm), sizeof(r->ts));
			r->nts++;
		} else if (((cm->cmsg_level == IPPROTO_IP &&
		    cm->cmsg_type == IP_RECVERR) ||
		    (cm->cmsg_level == IPPROTO_IPV6 &&
		    cm->cmsg_type == IPV6_RECVERR)) &&
		    cm->cmsg_len == CMSG_LEN(sizeof(r->ee))) {
			memcpy(&r->ee, CMSG_DATA(cm), sizeof(r->ee));
			r->errlevel = cm->cmsg_level;
			r->nerr++;
		} else
			r->nother++;
	}
}

/* msg for one buffer of data and a control buffer. */
static inline void
msg_setup(struct msghdr *msg, struct iovec *iov, void *data, size_t len,
    void *cbuf, size_t cbuflen)
{

	memset(msg, 0, sizeof(*msg));
	iov->iov_base = data;
	iov->iov_len = len;
	msg->msg_iov = iov;
	msg->msg_iovlen = 1;
	msg->msg_control = cbuf;
	msg->msg_controllen = cbuflen;
}

/* recvmsg() into r; returns 0 or errno. */
static inline int
recv_ts(int s, int flags, struct tsmsg *r)
{
	struct msghdr msg;
	struct iovec iov;
	union {
		struct cmsghdr	align;
		char		buf[512];
	} cbuf;

	memset(r, 0, sizeof(*r));
	msg_setup(&msg, &iov, r->data, sizeof(r->data), cbuf.buf,
	    sizeof(cbuf.buf));
	r->len = recvmsg(s, &msg, flags);
	if (r->len == -1)
		return errno;
	r->flags = msg.msg_flags;
	ATF_CHECK_MSG((msg.msg_flags & MSG_CTRUNC) == 0, "MSG_CTRUNC");
	sort_cmsgs(&msg, r);
	return 0;
}

/* Wait up to ms for s to be readable; false on timeout. */
static inline bool
wait_readable(int s, int ms)
{
	struct timeval tv;
	fd_set rfds;

	FD_ZERO(&rfds);
	FD_SET(s, &rfds);
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	return select(s + 1, &rfds, NULL, NULL, &tv) == 1;
}

static inline void
sysctl_get(const char *name, void *v, size_t len)
{
	size_t got = len;

	ATF_REQUIRE_MSG(sysctlbyname(name, v, &got, NULL, 0) == 0 &&
	    got == len, "sysctl %s: %s", name, strerror(errno));
}

static inline u_int
sysctl_uint(const char *name)
{
	u_int v;

	sysctl_get(name, &v, sizeof(v));
	return v;
}

/*
 * The mbuf counts by type of kern.mbuf.stats into mbs->m_mtypes.  A
 * 32-bit program on a 64-bit kernel gets the kernel's struct mbstat,
 * whose u_longs are 8 bytes (7.99.10's COMPAT_NETBSD32 does not
 * convert it): m_mtypes, its last member, is read from the end.
 */
static inline void
mbuf_types(struct mbstat *mbs)
{
	char buf[2 * sizeof(*mbs)];
	size_t len = sizeof(buf);

	ATF_REQUIRE_MSG(sysctlbyname("kern.mbuf.stats", buf, &len, NULL, 0)
	    == 0, "kern.mbuf.stats: %s", strerror(errno));
	ATF_REQUIRE_MSG(len >= sizeof(*mbs), "kern.mbuf.stats: %zu bytes",
	    len);
	memset(mbs, 0, sizeof(*mbs));
	memcpy(mbs->m_mtypes, buf + len - sizeof(mbs->m_mtypes),
	    sizeof(mbs->m_mtypes));
}

/*
 * Pool wchan's statistics from kern.pool (as vmstat -m reads them);
 * false if there is no such pool.
 */
static inline bool
pool_stat(const char *wchan, struct pool_sysctl *ps)
{
	static struct pool_sysctl all[512];
	size_t len = sizeof(all), i;

	ATF_REQUIRE_MSG(sysctlbyname("kern.pool", all, &len, NULL, 0) == 0,
	    "kern.pool: %s", strerror(errno));
	for (i = 0; i < len / sizeof(all[0]); i++) {
		if (strncmp(all[i].pr_wchan, wchan,
		    sizeof(all[i].pr_wchan)) == 0) {
			*ps = all[i];
			return true;
		}
	}
	return false;
}

/* Growth in mbufs of the types a datagram uses; counters wrap. */
static inline int
mbuf_growth(const struct mbstat *a, const struct mbstat *b)
{
	static const int types[] = { MT_DATA, MT_HEADER, MT_SONAME,
	    MT_CONTROL };
	size_t i;
	int n = 0;

	for (i = 0; i < __arraycount(types); i++)
		n += (int16_t)(b->m_mtypes[types[i]] - a->m_mtypes[types[i]]);
	return n;
}

/* The datagram paths under test. */
struct tsproto {
	const char	*name;
	int		af;
	int		type;
	int		proto;
};

#define	TSPROTO_UDP4	{ "udp4", AF_INET, SOCK_DGRAM, 0 }
#define	TSPROTO_UDP6	{ "udp6", AF_INET6, SOCK_DGRAM, 0 }
#define	TSPROTO_RAW4	{ "raw4", AF_INET, SOCK_RAW, TS_RAWPROTO }
#define	TSPROTO_RAW6	{ "raw6", AF_INET6, SOCK_RAW, TS_RAWPROTO }
#define	TSPROTO_ICMP6	{ "icmp6", AF_INET6, SOCK_RAW, IPPROTO_ICMPV6 }
#define	TSPROTO_TCP4	{ "tcp4", AF_INET, SOCK_STREAM, 0 }
#define	TSPROTO_TCP6	{ "tcp6", AF_INET6, SOCK_STREAM, 0 }

/*
 * Send buf from s to "to" as a datagram of p; for ICMPv6 as the
 * payload of an echo request (the kernel fills in the checksum).
 * Returns sendmsg()'s result; control may be NULL.
 */
static inline ssize_t
proto_send(const struct tsproto *p, int s, const struct sockaddr_storage *to,
    socklen_t tolen, const void *buf, size_t len, void *control,
    size_t controllen)
{
	struct msghdr msg;
	struct iovec iov[2];
	struct icmp6_hdr icmp6;

	memset(&msg, 0, sizeof(msg));
	/* A stream socket is connected: no address. */
	if (p->type != SOCK_STREAM) {
		msg.msg_name = __UNCONST(to);
		msg.msg_namelen = tolen;
	}
	msg.msg_iov = iov;
	msg.msg_control = control;
	msg.msg_controllen = controllen;
	if (p->proto == IPPROTO_ICMPV6) {
		memset(&icmp6, 0, sizeof(icmp6));
		icmp6.icmp6_type = ICMP6_ECHO_REQUEST;
		icmp6.icmp6_id = htons(getpid() & 0xffff);
		iov[0].iov_base = &icmp6;
		iov[0].iov_len = sizeof(icmp6);
		iov[1].iov_base = __UNCONST(buf);
		iov[1].iov_len = len;
		msg.msg_iovlen = 2;
	} else {
		iov[0].iov_base = __UNCONST(buf);
		iov[0].iov_len = len;
		msg.msg_iovlen = 1;
	}
	return sendmsg(s, &msg, 0);
}

/* A test case that runs fn on one path; raw sockets need root. */
#define	TSTAMP_PROTO_TC(id, fn, proto)					\
ATF_TC(id);								\
ATF_TC_HEAD(id, tc)							\
{									\
	static const struct tsproto p = proto;				\
									\
	atf_tc_set_md_var(tc, "descr", #fn " on " #proto);		\
	if (p.type == SOCK_RAW)						\
		atf_tc_set_md_var(tc, "require.user", "root");		\
}									\
ATF_TC_BODY(id, tc)							\
{									\
	static const struct tsproto p = proto;				\
									\
	fn(&p);								\
}

static inline int
proto_socket(const struct tsproto *p, struct sockaddr_storage *ss,
    socklen_t *sslen)
{

	return bound_socket(p->af, p->type, p->proto, ss, sslen);
}

#endif /* !_TSTAMP_UTIL_H_ */
