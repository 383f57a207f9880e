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
 * SO_TIMESTAMP as the 2015 kernel already has it, on UDP over lo0 and over
 * wm0 (datagrams sent by the host), IPv4 and IPv6: the SCM_TIMESTAMP stamp
 * must lie between a time read before the datagram was sent (or requested
 * from the host) and a time read after recvmsg() returned.
 *
 * Frames from the host: the test prints "@@SEND udp4|udp6 PORT COUNT" on
 * the console and the harness on the host (invoke vmtest, invoke anita)
 * sends COUNT datagrams to wm0; those cases skip unless the ATF
 * configuration variable sotimestamp.harness is "yes" (harness.h).
 */

#include <sys/param.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <atf-c.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "host_request.h"

static int
udp_socket(int family, const char *addr, in_port_t *port)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
	struct timeval tmo = { 10, 0 };
	socklen_t len;
	int s, on = 1;

	s = socket(family, SOCK_DGRAM, 0);
	ATF_REQUIRE_MSG(s != -1, "socket: %s", strerror(errno));
	memset(&ss, 0, sizeof(ss));
	if (family == AF_INET) {
		sin->sin_len = sizeof(*sin);
		sin->sin_family = AF_INET;
		ATF_REQUIRE(inet_pton(AF_INET, addr, &sin->sin_addr) == 1);
	} else {
		sin6->sin6_len = sizeof(*sin6);
		sin6->sin6_family = AF_INET6;
		ATF_REQUIRE(inet_pton(AF_INET6, addr, &sin6->sin6_addr) == 1);
	}
	ATF_REQUIRE_MSG(bind(s, (struct sockaddr *)&ss, ss.ss_len) == 0,
	    "bind %s: %s", addr, strerror(errno));
	len = sizeof(ss);
	ATF_REQUIRE(getsockname(s, (struct sockaddr *)&ss, &len) == 0);
	*port = family == AF_INET ? ntohs(sin->sin_port) :
	    ntohs(sin6->sin6_port);
	ATF_REQUIRE(setsockopt(s, SOL_SOCKET, SO_TIMESTAMP, &on,
	    sizeof(on)) == 0);
	ATF_REQUIRE(setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tmo,
	    sizeof(tmo)) == 0);
	return s;
}

/* recvmsg() one datagram and return its SCM_TIMESTAMP. */
static struct timeval
recv_stamp(int s)
{
	union {
		struct cmsghdr hdr;
		char buf[CMSG_SPACE(sizeof(struct timeval)) + 256];
	} cbuf;
	char data[2048];
	struct iovec iov = { data, sizeof(data) };
	struct msghdr msg;
	struct cmsghdr *cm;
	struct timeval tv;
	int found = 0;

	memset(&msg, 0, sizeof(msg));
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = &cbuf;
	msg.msg_controllen = sizeof(cbuf);
	ATF_REQUIRE_MSG(recvmsg(s, &msg, 0) != -1, "recvmsg: %s",
	    strerror(errno));
	ATF_REQUIRE_MSG((msg.msg_flags & MSG_CTRUNC) == 0, "MSG_CTRUNC");
	for (cm = CMSG_FIRSTHDR(&msg); cm != NULL; cm = CMSG_NXTHDR(&msg, cm)) {
		if (cm->cmsg_level == SOL_SOCKET &&
		    cm->cmsg_type == SCM_TIMESTAMP) {
			ATF_REQUIRE_EQ(cm->cmsg_len,
			    CMSG_LEN(sizeof(struct timeval)));
			memcpy(&tv, CMSG_DATA(cm), sizeof(tv));
			found++;
		}
	}
	ATF_REQUIRE_EQ_MSG(found, 1, "%d SCM_TIMESTAMP messages", found);
	return tv;
}

static void
check_between(const struct timeval *before, const struct timeval *stamp,
    const struct timeval *after)
{
	ATF_CHECK_MSG(!timercmp(stamp, before, <),
	    "stamp %lld.%06ld before the send time %lld.%06ld",
	    (long long)stamp->tv_sec, (long)stamp->tv_usec,
	    (long long)before->tv_sec, (long)before->tv_usec);
	ATF_CHECK_MSG(!timercmp(stamp, after, >),
	    "stamp %lld.%06ld after recvmsg returned at %lld.%06ld",
	    (long long)stamp->tv_sec, (long)stamp->tv_usec,
	    (long long)after->tv_sec, (long)after->tv_usec);
}

static void
loopback_case(int family, const char *addr)
{
	struct sockaddr_storage to;
	struct timeval before, after, stamp;
	socklen_t len = sizeof(to);
	in_port_t port;
	int s;

	s = udp_socket(family, addr, &port);
	ATF_REQUIRE(getsockname(s, (struct sockaddr *)&to, &len) == 0);
	gettimeofday(&before, NULL);
	ATF_REQUIRE(sendto(s, "x", 1, 0, (struct sockaddr *)&to, len) == 1);
	stamp = recv_stamp(s);
	gettimeofday(&after, NULL);
	check_between(&before, &stamp, &after);
	close(s);
}

static void
host_case(int family, const char *proto)
{
	struct timeval before, after, stamp;
	in_port_t port;
	int s;

	s = udp_socket(family, family == AF_INET ? "0.0.0.0" : "::", &port);
	gettimeofday(&before, NULL);
	host_request("@@SEND %s %u 1\n", proto, (unsigned)port);
	stamp = recv_stamp(s);
	gettimeofday(&after, NULL);
	check_between(&before, &stamp, &after);
	close(s);
}

ATF_TC(so_timestamp_udp4_lo0);
ATF_TC_HEAD(so_timestamp_udp4_lo0, tc)
{
	atf_tc_set_md_var(tc, "descr", "SO_TIMESTAMP, UDP/IPv4 over lo0");
}
ATF_TC_BODY(so_timestamp_udp4_lo0, tc)
{
	loopback_case(AF_INET, "127.0.0.1");
}

ATF_TC(so_timestamp_udp6_lo0);
ATF_TC_HEAD(so_timestamp_udp6_lo0, tc)
{
	atf_tc_set_md_var(tc, "descr", "SO_TIMESTAMP, UDP/IPv6 over lo0");
}
ATF_TC_BODY(so_timestamp_udp6_lo0, tc)
{
	loopback_case(AF_INET6, "::1");
}

ATF_TC(so_timestamp_udp4_wm0);
ATF_TC_HEAD(so_timestamp_udp4_wm0, tc)
{
	atf_tc_set_md_var(tc, "descr",
	    "SO_TIMESTAMP, UDP/IPv4 from the host over wm0");
	/* the request goes to the console */
	atf_tc_set_md_var(tc, "require.user", "root");
}
ATF_TC_BODY(so_timestamp_udp4_wm0, tc)
{
	harness_require(tc);
	host_case(AF_INET, "udp4");
}

ATF_TC(so_timestamp_udp6_wm0);
ATF_TC_HEAD(so_timestamp_udp6_wm0, tc)
{
	atf_tc_set_md_var(tc, "descr",
	    "SO_TIMESTAMP, UDP/IPv6 from the host over wm0");
	/* the request goes to the console */
	atf_tc_set_md_var(tc, "require.user", "root");
}
ATF_TC_BODY(so_timestamp_udp6_wm0, tc)
{
	harness_require(tc);
	host_case(AF_INET6, "udp6");
}

ATF_TP_ADD_TCS(tp)
{
	ATF_TP_ADD_TC(tp, so_timestamp_udp4_lo0);
	ATF_TP_ADD_TC(tp, so_timestamp_udp6_lo0);
	ATF_TP_ADD_TC(tp, so_timestamp_udp4_wm0);
	ATF_TP_ADD_TC(tp, so_timestamp_udp6_wm0);
	return atf_no_error();
}
