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
 * How poll(2), select(2) and kqueue(2) signal a record on the error
 * queue, as Linux does with poll and epoll: POLLERR (select: readable
 * and writable), never POLLRDBAND or POLLPRI (select's exceptional
 * condition: TCP's out-of-band data); kqueue's EVFILT_READ fires,
 * as epoll reports EPOLLERR to every waiter, so an event loop
 * (libevent, libuv) wakes up to read it.
 */

#include <sys/event.h>

#include <netinet/tcp.h>
#include <poll.h>

#include "tstamp_util.h"

#define	TXSW	(SOF_TIMESTAMPING_SOFTWARE | SOF_TIMESTAMPING_TX_SOFTWARE)

/* s sends one byte that asks for a TX_SOFTWARE record; peer reads it. */
static void
send_stamped(int s, int peer, bool stream, const struct sockaddr_storage *to,
    socklen_t tolen)
{
	char c;

	if (stream)
		ATF_REQUIRE_EQ(write(s, "e", 1), 1);
	else
		ATF_REQUIRE_EQ(sendto(s, "e", 1, 0,
		    (const struct sockaddr *)to, tolen), 1);
	ATF_REQUIRE(wait_readable(peer, 2000));
	ATF_REQUIRE_EQ(read(peer, &c, 1), 1);
	/* Nothing but the record: the peer read the data. */
}

/* What poll, select and kqueue say about s now. */
struct ready {
	short	revents;	/* poll(), every input event asked for */
	bool	rd, wr, ex;	/* select() */
	int	kev;		/* kevent() EVFILT_READ events */
};

static void
ready_now(int s, int kq, struct ready *r)
{
	struct timespec zero = { 0, 0 };
	struct timeval tv = { 0, 0 };
	struct pollfd pfd;
	struct kevent ev;
	fd_set rfds, wfds, efds;

	pfd.fd = s;
	pfd.events = POLLIN | POLLRDNORM | POLLRDBAND | POLLPRI;
	pfd.revents = 0;
	ATF_REQUIRE(poll(&pfd, 1, 0) != -1);
	r->revents = pfd.revents;
	FD_ZERO(&rfds);
	FD_ZERO(&wfds);
	FD_ZERO(&efds);
	FD_SET(s, &rfds);
	FD_SET(s, &wfds);
	FD_SET(s, &efds);
	ATF_REQUIRE(select(s + 1, &rfds, &wfds, &efds, &tv) != -1);
	r->rd = FD_ISSET(s, &rfds);
	r->wr = FD_ISSET(s, &wfds);
	r->ex = FD_ISSET(s, &efds);
	r->kev = kevent(kq, NULL, 0, &ev, 1, &zero);
	ATF_REQUIRE(r->kev != -1);
	if (r->kev == 1) {
		ATF_CHECK_EQ(ev.ident, (uintptr_t)s);
		ATF_CHECK_EQ(ev.filter, EVFILT_READ);
	}
}

static void
errq_ready(const struct tsproto *p)
{
	struct sockaddr_storage ss;
	socklen_t sslen;
	struct ready r;
	struct tsmsg m;
	struct kevent ev;
	struct pollfd pfd;
	int ls = -1, s, peer, kq;
	bool stream = p->type == SOCK_STREAM;

	if (stream) {
		ls = bound_socket(p->af, SOCK_STREAM, 0, &ss, &sslen);
		ATF_REQUIRE(listen(ls, 1) == 0);
		s = socket(p->af, SOCK_STREAM, 0);
		ATF_REQUIRE(s != -1);
		ATF_REQUIRE(connect(s, (struct sockaddr *)&ss, sslen) == 0);
		peer = accept(ls, NULL, NULL);
		ATF_REQUIRE(peer != -1);
		setint(s, IPPROTO_TCP, TCP_NODELAY, 1);
	} else {
		peer = proto_socket(p, &ss, &sslen);
		s = socket(p->af, SOCK_DGRAM, 0);
		ATF_REQUIRE(s != -1);
	}
	setint(s, SOL_SOCKET, SO_TIMESTAMPING, TXSW);
	kq = kqueue();
	ATF_REQUIRE(kq != -1);
	EV_SET(&ev, s, EVFILT_READ, EV_ADD, 0, 0, 0);
	ATF_REQUIRE(kevent(kq, &ev, 1, NULL, 0, NULL) == 0);

	ready_now(s, kq, &r);
	ATF_CHECK_EQ_MSG(r.revents, 0, "%s: poll %#x with nothing queued",
	    p->name, r.revents);
	ATF_CHECK(!r.rd && !r.ex);
	ATF_CHECK_EQ(r.kev, 0);

	/* kevent() waits for the record like poll() does. */
	send_stamped(s, peer, stream, &ss, sslen);
	{
		struct timespec two = { 2, 0 };

		ATF_CHECK_EQ_MSG(kevent(kq, NULL, 0, &ev, 1, &two), 1,
		    "%s: EVFILT_READ did not fire for the error queue",
		    p->name);
	}
	pfd.fd = s;
	pfd.events = 0;
	ATF_REQUIRE_EQ_MSG(poll(&pfd, 1, 2000), 1, "%s: no record", p->name);

	ready_now(s, kq, &r);
	ATF_CHECK_EQ_MSG(r.revents, POLLERR, "%s: poll %#x with a record "
	    "queued, want POLLERR (%#x) alone", p->name, r.revents, POLLERR);
	ATF_CHECK_MSG(r.rd && r.wr, "%s: select: readable %d, writable %d, "
	    "want both (POLLERR)", p->name, r.rd, r.wr);
	ATF_CHECK_MSG(!r.ex, "%s: select reports an exceptional condition "
	    "(out-of-band data) for the error queue", p->name);
	ATF_CHECK_EQ_MSG(r.kev, 1, "%s: EVFILT_READ not active", p->name);

	ATF_REQUIRE_EQ(recv_ts(s, MSG_ERRQUEUE, &m), 0);
	ATF_CHECK_EQ(m.nerr, 1);
	ready_now(s, kq, &r);
	ATF_CHECK_EQ_MSG(r.revents, 0, "%s: poll %#x after the record was "
	    "read", p->name, r.revents);
	ATF_CHECK(!r.rd && !r.ex);
	ATF_CHECK_EQ_MSG(r.kev, 0, "%s: EVFILT_READ still active after the "
	    "record was read", p->name);
	close(kq);
	close(s);
	close(peer);
	if (ls != -1)
		close(ls);
}

TSTAMP_PROTO_TC(tstamp_errq_ready_udp4, errq_ready, TSPROTO_UDP4)
TSTAMP_PROTO_TC(tstamp_errq_ready_udp6, errq_ready, TSPROTO_UDP6)
TSTAMP_PROTO_TC(tstamp_errq_ready_tcp4, errq_ready, TSPROTO_TCP4)
TSTAMP_PROTO_TC(tstamp_errq_ready_tcp6, errq_ready, TSPROTO_TCP6)

ATF_TP_ADD_TCS(tp)
{

	ATF_TP_ADD_TC(tp, tstamp_errq_ready_udp4);
	ATF_TP_ADD_TC(tp, tstamp_errq_ready_udp6);
	ATF_TP_ADD_TC(tp, tstamp_errq_ready_tcp4);
	ATF_TP_ADD_TC(tp, tstamp_errq_ready_tcp6);
	return atf_no_error();
}
