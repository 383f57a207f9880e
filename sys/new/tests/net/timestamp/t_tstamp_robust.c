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
 * Robustness of socket timestamping: every way a socket with
 * timestamping state ends (close, RST, FIN from the peer, listen queue
 * drop, process exit, from process or soft interrupt context), the
 * error queue's accounting at the default receive buffer, the Linux
 * rules for OPT_ID keys and option checks, and a random stress run
 * after which the kernel's mbuf counts and timestamping states are
 * back where they started.  Under DIAGNOSTIC (and LOCKDEBUG) a wrong
 * context or lock is a panic, which ends the run.
 */

#include <sys/resource.h>
#include <sys/wait.h>
#include <netinet/tcp.h>
#include <err.h>
#include <fcntl.h>
#include <stdlib.h>

#include "tstamp_util.h"

#define	TXSW	(SOF_TIMESTAMPING_SOFTWARE | SOF_TIMESTAMPING_TX_SOFTWARE)

/* A connected loopback TCP pair and its listening socket. */
struct tcppair {
	int	ls;		/* listening */
	int	cs;		/* connecting end */
	int	as;		/* accepted end */
};

static void
tcp_pair(struct tcppair *t, int af)
{
	struct sockaddr_storage ss;
	socklen_t sslen;

	t->ls = bound_socket(af, SOCK_STREAM, 0, &ss, &sslen);
	ATF_REQUIRE_MSG(listen(t->ls, 8) == 0, "listen: %s",
	    strerror(errno));
	t->cs = socket(af, SOCK_STREAM, 0);
	ATF_REQUIRE(t->cs != -1);
	ATF_REQUIRE_MSG(connect(t->cs, (struct sockaddr *)&ss, sslen) == 0,
	    "connect: %s", strerror(errno));
	t->as = accept(t->ls, NULL, NULL);
	ATF_REQUIRE_MSG(t->as != -1, "accept: %s", strerror(errno));
}

static void
tcp_exchange(const struct tcppair *t, size_t len)
{
	char buf[2048];
	size_t got = 0;
	ssize_t n;

	ATF_REQUIRE(len <= sizeof(buf));
	memset(buf, 'x', len);
	ATF_REQUIRE((size_t)write(t->cs, buf, len) == len);
	while (got < len) {
		n = read(t->as, buf, len - got);
		ATF_REQUIRE_MSG(n > 0, "read: %s", strerror(errno));
		got += (size_t)n;
	}
}

static void
set_linger0(int s)
{
	struct linger l = { .l_onoff = 1, .l_linger = 0 };

	ATF_REQUIRE(setsockopt(s, SOL_SOCKET, SO_LINGER, &l, sizeof(l)) == 0);
}

/* Run fn in a child that exits without closing anything. */
static void
in_child(void (*fn)(int), int arg)
{
	pid_t pid;
	int status;

	pid = fork();
	ATF_REQUIRE(pid != -1);
	if (pid == 0) {
		fn(arg);
		_exit(0);
	}
	ATF_REQUIRE(waitpid(pid, &status, 0) == pid);
	ATF_REQUIRE_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	    "child status %#x (its failure went to stderr)", status);
}

/*
 * The reported panic: SO_TIMESTAMP on the accepted socket, 512 bytes
 * across, then exit with all three sockets open.  The connection ends
 * in tcp_input() (a soft interrupt), which freed the stamping state
 * with kmem_free(): "!cpu_softintr_p()" failed in subr_kmem.c.
 */
static void
exit_with_tcp_open(int variant)
{
	struct tcppair t;
	int af = (variant & 1) ? AF_INET6 : AF_INET;

	tcp_pair(&t, af);
	switch (variant >> 1) {
	case 0:
		setint(t.as, SOL_SOCKET, SO_TIMESTAMP, 1);
		break;
	case 1:
		setint(t.as, SOL_SOCKET, SO_TIMESTAMPING,
		    TXSW | SOF_TIMESTAMPING_RX_SOFTWARE);
		setint(t.cs, SOL_SOCKET, SO_TIMESTAMPNS, 1);
		break;
	default:
		setint(t.ls, SOL_SOCKET, SO_TIMESTAMPNS, 1);
		setint(t.as, SOL_SOCKET, SO_TIMESTAMP, 1);
		setint(t.cs, SOL_SOCKET, SO_TIMESTAMP, 1);
		break;
	}
	tcp_exchange(&t, 512);
}

ATF_TC(tstamp_tcp_exit_softint_free);
ATF_TC_HEAD(tstamp_tcp_exit_softint_free, tc)
{
	atf_tc_set_md_var(tc, "descr", "a process exits with a stamping "
	    "TCP connection open: the state is freed in a soft interrupt");
}
ATF_TC_BODY(tstamp_tcp_exit_softint_free, tc)
{
	int round, variant;

	for (round = 0; round < 10; round++)
		for (variant = 0; variant < 6; variant++)
			in_child(exit_with_tcp_open, variant);
	/* Let the last connections finish closing in tcp_input(). */
	sleep(1);
}

/* Every way a stamping TCP socket can end, in process and softint. */
ATF_TC(tstamp_tcp_close_paths);
ATF_TC_HEAD(tstamp_tcp_close_paths, tc)
{
	atf_tc_set_md_var(tc, "descr", "stamping TCP sockets ended by "
	    "close, RST, FIN from the peer and listen queue drop");
}
ATF_TC_BODY(tstamp_tcp_close_paths, tc)
{
	struct sockaddr_storage ss;
	socklen_t sslen;
	struct tcppair t;
	int af, path, ls, c[4];
	size_t i;

	for (af = 0; af < 2; af++) {
		for (path = 0; path < 4; path++) {
			tcp_pair(&t, af ? AF_INET6 : AF_INET);
			setint(t.as, SOL_SOCKET, SO_TIMESTAMP, 1);
			setint(t.cs, SOL_SOCKET, SO_TIMESTAMPING,
			    TXSW | SOF_TIMESTAMPING_RX_SOFTWARE);
			tcp_exchange(&t, 100);
			switch (path) {
			case 0:		/* accepted end first */
				close(t.as);
				close(t.cs);
				break;
			case 1:		/* connecting end first: FIN */
				close(t.cs);
				usleep(10000);
				close(t.as);
				break;
			case 2:		/* RST from the peer */
				set_linger0(t.cs);
				close(t.cs);
				usleep(10000);
				close(t.as);
				break;
			default:	/* RST from us */
				set_linger0(t.as);
				close(t.as);
				usleep(10000);
				close(t.cs);
				break;
			}
			close(t.ls);
		}
		/* Connections dropped from the listen queue. */
		ls = bound_socket(af ? AF_INET6 : AF_INET, SOCK_STREAM, 0,
		    &ss, &sslen);
		setint(ls, SOL_SOCKET, SO_TIMESTAMP, 1);
		setint(ls, SOL_SOCKET, SO_TIMESTAMPNS, 1);
		ATF_REQUIRE(listen(ls, 2) == 0);
		for (i = 0; i < __arraycount(c); i++) {
			c[i] = socket(af ? AF_INET6 : AF_INET, SOCK_STREAM, 0);
			ATF_REQUIRE(c[i] != -1);
			setint(c[i], SOL_SOCKET, SO_TIMESTAMP, 1);
			ATF_REQUIRE(fcntl(c[i], F_SETFL, O_NONBLOCK) == 0);
			(void)connect(c[i], (struct sockaddr *)&ss, sslen);
		}
		usleep(50000);
		close(ls);
		for (i = 0; i < __arraycount(c); i++)
			close(c[i]);
	}
	sleep(1);
}

/*
 * sendmsg(MSG_DONTROUTE) with a SO_TIMESTAMPING control message the
 * kernel refuses: the socket must not keep SO_DONTROUTE.
 */
ATF_TC(tstamp_sendctl_dontroute);
ATF_TC_HEAD(tstamp_sendctl_dontroute, tc)
{
	atf_tc_set_md_var(tc, "descr", "a refused SO_TIMESTAMPING control "
	    "message leaves SO_DONTROUTE as it was");
}
ATF_TC_BODY(tstamp_sendctl_dontroute, tc)
{
	struct sockaddr_storage ss;
	socklen_t sslen;
	struct msghdr msg;
	struct iovec iov;
	struct cmsghdr *cm;
	union {
		struct cmsghdr	align;
		char		buf[CMSG_SPACE(sizeof(int))];
	} cbuf;
	int s, rs, bad = SOF_TIMESTAMPING_RX_SOFTWARE;

	rs = bound_socket(AF_INET, SOCK_DGRAM, 0, &ss, &sslen);
	s = socket(AF_INET, SOCK_DGRAM, 0);
	ATF_REQUIRE(s != -1);
	memset(&msg, 0, sizeof(msg));
	memset(&cbuf, 0, sizeof(cbuf));
	iov.iov_base = __UNCONST("d");
	iov.iov_len = 1;
	msg.msg_name = &ss;
	msg.msg_namelen = sslen;
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = cbuf.buf;
	msg.msg_controllen = sizeof(cbuf.buf);
	cm = CMSG_FIRSTHDR(&msg);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SO_TIMESTAMPING;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	/* Only TX record bits may be given per message. */
	memcpy(CMSG_DATA(cm), &bad, sizeof(bad));
	errno = 0;
	ATF_CHECK_MSG(sendmsg(s, &msg, MSG_DONTROUTE) == -1 &&
	    errno == EINVAL, "sendmsg: %s", strerror(errno));
	ATF_CHECK_EQ_MSG(getint(s, SOL_SOCKET, SO_DONTROUTE), 0,
	    "SO_DONTROUTE left on by a refused sendmsg(MSG_DONTROUTE)");
	close(s);
	close(rs);
}

/* Read the error queue of s; return the records, check keys follow. */
static int
drain_keys(int s, uint32_t *nextkey, int *gaps)
{
	struct tsmsg r;
	int n = 0;

	while (recv_ts(s, MSG_ERRQUEUE, &r) == 0) {
		ATF_REQUIRE_EQ(r.nerr, 1);
		if (r.ee.ee_data != *nextkey)
			(*gaps)++;
		*nextkey = r.ee.ee_data + 1;
		n++;
	}
	return n;
}

/*
 * Bursts of TX stamps at the default SO_RCVBUF: records are charged
 * like datagrams (bytes against SO_RCVBUF, storage against twice it),
 * so a burst of 64 records (the 32 sends with a software and a
 * hardware record each) loses nothing; charging storage against
 * SO_RCVBUF kept 40 (a record is two 512-byte mbufs on amd64).
 */
ATF_TC(tstamp_errq_default_rcvbuf);
ATF_TC_HEAD(tstamp_errq_default_rcvbuf, tc)
{
	atf_tc_set_md_var(tc, "descr", "bursts of 64 TX stamps fit the "
	    "default SO_RCVBUF; SO_ERRQUEUE_DROPS counts what does not");
}
ATF_TC_BODY(tstamp_errq_default_rcvbuf, tc)
{
	enum { BURST = 64, BURSTS = 40 };
	struct sockaddr_storage ss;
	socklen_t sslen;
	uint32_t nextkey = 0;
	int s, rs, i, b, n = 0, gaps = 0, buf, drops0;

	rs = bound_socket(AF_INET, SOCK_DGRAM, 0, &ss, &sslen);
	buf = 1 << 20;
	(void)setsockopt(rs, SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf));
	s = socket(AF_INET, SOCK_DGRAM, 0);
	ATF_REQUIRE(s != -1);
	setint(s, SOL_SOCKET, SO_TIMESTAMPING, TXSW |
	    SOF_TIMESTAMPING_OPT_ID | SOF_TIMESTAMPING_OPT_TSONLY);
	for (b = 0; b < BURSTS; b++) {
		for (i = 0; i < BURST; i++)
			ATF_REQUIRE(sendto(s, "burst", 5, 0,
			    (struct sockaddr *)&ss, sslen) == 5);
		n += drain_keys(s, &nextkey, &gaps);
		/* The receiver drains too. */
		while (recv(rs, &buf, sizeof(buf), MSG_DONTWAIT) > 0)
			continue;
	}
	printf("%d of %d records, %d gaps, SO_ERRQUEUE_DROPS %d\n", n,
	    BURST * BURSTS, gaps, getint(s, SOL_SOCKET, SO_ERRQUEUE_DROPS));
	ATF_CHECK_EQ(n, BURST * BURSTS);
	ATF_CHECK_EQ(gaps, 0);
	ATF_CHECK_EQ(getint(s, SOL_SOCKET, SO_ERRQUEUE_DROPS), 0);

	/* A tiny buffer drops, and the socket learns how many. */
	buf = 2048;
	ATF_REQUIRE(setsockopt(s, SOL_SOCKET, SO_RCVBUF, &buf,
	    sizeof(buf)) == 0);
	drops0 = getint(s, SOL_SOCKET, SO_ERRQUEUE_DROPS);
	for (i = 0; i < BURST; i++)
		ATF_REQUIRE(sendto(s, "small", 5, 0, (struct sockaddr *)&ss,
		    sslen) == 5);
	gaps = 0;
	i = drain_keys(s, &nextkey, &gaps);
	printf("tiny buffer: %d queued, %d dropped\n", i,
	    getint(s, SOL_SOCKET, SO_ERRQUEUE_DROPS) - drops0);
	ATF_CHECK(i > 0 && i < BURST);
	ATF_CHECK_EQ(i + getint(s, SOL_SOCKET, SO_ERRQUEUE_DROPS) - drops0,
	    BURST);
	close(s);
	close(rs);
}

/*
 * Linux gives an OPT_ID key back when the send fails, so keys count
 * the datagrams that left.  A broadcast without SO_BROADCAST fails in
 * ip_output() on any host.
 */
ATF_TC(tstamp_optid_failed_send);
ATF_TC_HEAD(tstamp_optid_failed_send, tc)
{
	atf_tc_set_md_var(tc, "descr", "a failed send does not use up an "
	    "OPT_ID key");
}
ATF_TC_BODY(tstamp_optid_failed_send, tc)
{
	struct sockaddr_storage ss, bc;
	socklen_t sslen, bclen;
	struct tsmsg r;
	int s, rs, i;

	rs = bound_socket(AF_INET, SOCK_DGRAM, 0, &ss, &sslen);
	s = socket(AF_INET, SOCK_DGRAM, 0);
	ATF_REQUIRE(s != -1);
	setint(s, SOL_SOCKET, SO_TIMESTAMPING, TXSW |
	    SOF_TIMESTAMPING_OPT_ID | SOF_TIMESTAMPING_OPT_TSONLY);
	bclen = mkaddr(AF_INET, "255.255.255.255", 9, &bc);
	ATF_REQUIRE(sendto(s, "a", 1, 0, (struct sockaddr *)&ss, sslen) == 1);
	for (i = 0; i < 3; i++)
		ATF_REQUIRE_MSG(sendto(s, "b", 1, 0, (struct sockaddr *)&bc,
		    bclen) == -1, "broadcast without SO_BROADCAST was sent");
	ATF_REQUIRE(sendto(s, "c", 1, 0, (struct sockaddr *)&ss, sslen) == 1);
	ATF_REQUIRE_EQ(recv_ts(s, MSG_ERRQUEUE, &r), 0);
	ATF_CHECK_EQ(r.ee.ee_data, 0);
	ATF_REQUIRE_EQ(recv_ts(s, MSG_ERRQUEUE, &r), 0);
	ATF_CHECK_EQ_MSG(r.ee.ee_data, 1, "key %u after 3 failed sends",
	    r.ee.ee_data);
	ATF_CHECK_EQ(recv_ts(s, MSG_ERRQUEUE, &r), EAGAIN);
	close(s);
	close(rs);
}

/*
 * Hardware RX stamps alone need no software stamp from the link
 * layers: the global count that turns those on stays as it was.
 */
ATF_TC(tstamp_hwrx_no_swcount);
ATF_TC_HEAD(tstamp_hwrx_no_swcount, tc)
{
	atf_tc_set_md_var(tc, "descr", "asking for hardware RX stamps only "
	    "does not turn software stamping on");
}
ATF_TC_BODY(tstamp_hwrx_no_swcount, tc)
{
	u_int before, hw, sw;
	int s;

	s = socket(AF_INET, SOCK_DGRAM, 0);
	ATF_REQUIRE(s != -1);
	/* Other sockets (ntpd) may change the count: take the least. */
	before = sysctl_uint("kern.sotstamp.rx_users");
	setint(s, SOL_SOCKET, SO_TIMESTAMPING,
	    SOF_TIMESTAMPING_RX_HARDWARE | SOF_TIMESTAMPING_RAW_HARDWARE);
	hw = sysctl_uint("kern.sotstamp.rx_users");
	setint(s, SOL_SOCKET, SO_TIMESTAMPING,
	    SOF_TIMESTAMPING_RX_SOFTWARE | SOF_TIMESTAMPING_SOFTWARE);
	sw = sysctl_uint("kern.sotstamp.rx_users");
	ATF_CHECK_EQ_MSG(hw, before, "hardware only: %u -> %u", before, hw);
	ATF_CHECK_EQ_MSG(sw, before + 1, "software: %u -> %u", before, sw);
	close(s);
	ATF_CHECK_EQ(sysctl_uint("kern.sotstamp.rx_users"), before);
}

/*
 * A socket flooding hardware TX requests where nothing stamps them (lo0)
 * holds at most its own bound (HWTS_REQ_PER_SOCKET, 64) and evicts only
 * its own: another socket's requests stay.  The global table used to
 * fill to 1024 and evict the oldest request of any socket.
 */
ATF_TC(tstamp_hwreq_none_past_lo0);
ATF_TC_HEAD(tstamp_hwreq_none_past_lo0, tc)
{
	atf_tc_set_md_var(tc, "descr", "a hardware TX request dies at "
	    "lo0, which cannot stamp: none is pending once sendto() "
	    "returned, from any number of datagrams");
}
ATF_TC_BODY(tstamp_hwreq_none_past_lo0, tc)
{
	enum { N = 2000 };
	struct sockaddr_storage ss;
	socklen_t sslen;
	int hw0, tx0, hwmax = 0, txmax = 0;
	int rs, a, i, buf = 1 << 20;

	rs = bound_socket(AF_INET, SOCK_DGRAM, 0, &ss, &sslen);
	(void)setsockopt(rs, SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf));
	a = socket(AF_INET, SOCK_DGRAM, 0);
	ATF_REQUIRE(a != -1);
	setint(a, SOL_SOCKET, SO_TIMESTAMPING, SOF_TIMESTAMPING_TX_HARDWARE |
	    SOF_TIMESTAMPING_TX_SOFTWARE | SOF_TIMESTAMPING_SOFTWARE |
	    SOF_TIMESTAMPING_RAW_HARDWARE);
	hw0 = (int)sysctl_uint("kern.sotstamp.hw_pending");
	tx0 = (int)sysctl_uint("kern.sotstamp.tx_pending");
	for (i = 0; i < N; i++) {
		ATF_REQUIRE(sendto(a, "a", 1, 0, (struct sockaddr *)&ss,
		    sslen) == 1);
		hwmax = MAX(hwmax,
		    (int)sysctl_uint("kern.sotstamp.hw_pending") - hw0);
		txmax = MAX(txmax,
		    (int)sysctl_uint("kern.sotstamp.tx_pending") - tx0);
		if (i % 256 == 255) {
			while (recv(rs, &buf, sizeof(buf), MSG_DONTWAIT) > 0)
				continue;
			while (recv(a, &buf, sizeof(buf),
			    MSG_ERRQUEUE | MSG_DONTWAIT) >= 0)
				continue;
		}
	}
	printf("after %d datagrams over lo0: at most %d hardware and %d "
	    "requests in all pending after a sendto()\n", N, hwmax, txmax);
	ATF_CHECK_EQ_MSG(hwmax, 0, "%d hardware requests held for lo0",
	    hwmax);
	ATF_CHECK_EQ_MSG(txmax, 0, "%d requests held after lo0 took the "
	    "datagram", txmax);
	close(a);
	close(rs);
}

/*
 * Stress: rounds of random sockets (UDP, raw, TCP over v4 and v6;
 * local) with random stamping options, data in flight, unread error
 * queue records, ended by random paths.  Afterwards the mbufs of the
 * types a socket uses and the timestamping states are back to where
 * they started.
 */
static int
stress_socket(int *peer, int *lsp)
{
	static const int fams[] = { AF_INET, AF_INET6, AF_LOCAL };
	static const int types[] = { SOCK_DGRAM, SOCK_RAW, SOCK_STREAM };
	struct sockaddr_storage ss;
	socklen_t sslen;
	struct tcppair t;
	int af, type, s, opt, v, sv[2];

	af = fams[arc4random_uniform(3)];
	type = types[arc4random_uniform(3)];
	*peer = *lsp = -1;
	if (af == AF_LOCAL) {
		/* Local sockets: no stamps, but the state is allocated. */
		ATF_REQUIRE(socketpair(AF_LOCAL, type == SOCK_STREAM ?
		    SOCK_STREAM : SOCK_DGRAM, 0, sv) == 0);
		s = sv[0];
		*peer = sv[1];
	} else if (type == SOCK_STREAM) {
		tcp_pair(&t, af);
		s = t.cs;
		*peer = t.as;
		*lsp = t.ls;
	} else {
		*peer = bound_socket(af, type,
		    type == SOCK_RAW ? TS_RAWPROTO : 0, &ss, &sslen);
		s = socket(af, type, type == SOCK_RAW ? TS_RAWPROTO : 0);
		ATF_REQUIRE(s != -1);
		ATF_REQUIRE(connect(s, (struct sockaddr *)&ss, sslen) == 0);
	}
	for (opt = 0; opt < 3; opt++) {
		v = (int)(arc4random() & SOF_TIMESTAMPING_MASK &
		    ~SOF_TIMESTAMPING_BIND_PHC);
		if (v & SOF_TIMESTAMPING_OPT_STATS)
			v |= SOF_TIMESTAMPING_OPT_TSONLY;
		if (v & SOF_TIMESTAMPING_OPT_ID_TCP)
			v |= SOF_TIMESTAMPING_OPT_ID;
		setint(arc4random_uniform(2) ? s : *peer, SOL_SOCKET,
		    SO_TIMESTAMPING, v);
	}
	setint(*peer, SOL_SOCKET, SO_TIMESTAMP, (int)arc4random_uniform(2));
	setint(s, SOL_SOCKET, SO_TIMESTAMPNS, (int)arc4random_uniform(2));
	return s;
}

static int stress_left;		/* sockets left open for exit */
static int stress_budget;	/* how many may be */

static void
stress_end(int s, int how)
{

	if (how == 2 && stress_left < stress_budget) {
		stress_left++;
		return;
	}
	/*
	 * An RST close; it may fail (ECONNRESET) when the peer's RST
	 * already took the connection, which is a path of its own.
	 */
	if (how == 1) {
		struct linger l = { .l_onoff = 1, .l_linger = 0 };

		(void)setsockopt(s, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
	}
	close(s);
}

static void
stress_rounds(int rounds)
{
	char buf[600];
	int r, i, s, peer, ls, n;

	memset(buf, 's', sizeof(buf));
	for (r = 0; r < rounds; r++) {
		s = stress_socket(&peer, &ls);
		n = (int)arc4random_uniform(8);
		for (i = 0; i < n; i++)
			(void)send(s, buf, 1 + arc4random_uniform(sizeof(buf)),
			    MSG_DONTWAIT);
		if (arc4random_uniform(2))
			(void)recv(peer, buf, sizeof(buf), MSG_DONTWAIT);
		/* Closed in a random order and way; 2 leaves it to exit. */
		if (arc4random_uniform(2)) {
			stress_end(peer, (int)arc4random_uniform(3));
			stress_end(s, (int)arc4random_uniform(3));
		} else {
			stress_end(s, (int)arc4random_uniform(3));
			stress_end(peer, (int)arc4random_uniform(3));
		}
		if (ls != -1)
			stress_end(ls, (int)arc4random_uniform(3));
	}
}

static void
stress_child(int rounds)
{
	struct rlimit rl;

	/* Sockets left for exit to close stay open until then. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
		err(1, "getrlimit");
	rl.rlim_cur = rl.rlim_max;
	(void)setrlimit(RLIMIT_NOFILE, &rl);
	if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
		err(1, "getrlimit");
	stress_budget = (int)MIN(rl.rlim_cur, 4096) - 32;
	stress_left = 0;
	stress_rounds(rounds);
}

ATF_TC(tstamp_stress_counts);
ATF_TC_HEAD(tstamp_stress_counts, tc)
{
	atf_tc_set_md_var(tc, "descr", "random stamping sockets ended by "
	    "random paths; mbufs and stamping states return to start");
	atf_tc_set_md_var(tc, "require.user", "root");
	atf_tc_set_md_var(tc, "timeout", "900");
}
ATF_TC_BODY(tstamp_stress_counts, tc)
{
	struct mbstat mb0, mb1;
	u_int states0, states1;
	int msl0, msl, grew = 0, tries, batch;
	size_t len = sizeof(msl0);

	/* TIME_WAIT keeps a socket (and its state) for 2 MSL: shorten. */
	ATF_REQUIRE(sysctlbyname("net.inet.tcp.msl", &msl0, &len, NULL, 0)
	    == 0);
	msl = 1;
	ATF_REQUIRE(sysctlbyname("net.inet.tcp.msl", NULL, NULL, &msl,
	    sizeof(msl)) == 0);
	states0 = sysctl_uint("kern.sotstamp.states");
	mbuf_types(&mb0);
	for (batch = 0; batch < 20; batch++)
		in_child(stress_child, 150);
	for (tries = 0; tries < 30; tries++) {
		sleep(1);
		mbuf_types(&mb1);
		grew = mbuf_growth(&mb0, &mb1);
		states1 = sysctl_uint("kern.sotstamp.states");
		if (grew <= 0 && states1 <= states0)
			break;
	}
	(void)sysctlbyname("net.inet.tcp.msl", NULL, NULL, &msl0,
	    sizeof(msl0));
	printf("after %d s: mbufs %+d (data %u header %u soname %u "
	    "control %u -> %u %u %u %u), stamping states %u -> %u\n",
	    tries + 1, grew,
	    mb0.m_mtypes[MT_DATA], mb0.m_mtypes[MT_HEADER],
	    mb0.m_mtypes[MT_SONAME], mb0.m_mtypes[MT_CONTROL],
	    mb1.m_mtypes[MT_DATA], mb1.m_mtypes[MT_HEADER],
	    mb1.m_mtypes[MT_SONAME], mb1.m_mtypes[MT_CONTROL],
	    states0, states1);
	ATF_CHECK_MSG(grew <= 0, "%d mbufs more than before", grew);
	ATF_CHECK_MSG(states1 <= states0, "stamping states %u -> %u",
	    states0, states1);
	/* No software TX request outlives its socket or its packet. */
	ATF_CHECK_EQ(sysctl_uint("kern.sotstamp.tx_pending"), 0);
}

ATF_TP_ADD_TCS(tp)
{

	ATF_TP_ADD_TC(tp, tstamp_tcp_exit_softint_free);
	ATF_TP_ADD_TC(tp, tstamp_tcp_close_paths);
	ATF_TP_ADD_TC(tp, tstamp_sendctl_dontroute);
	ATF_TP_ADD_TC(tp, tstamp_errq_default_rcvbuf);
	ATF_TP_ADD_TC(tp, tstamp_optid_failed_send);
	ATF_TP_ADD_TC(tp, tstamp_hwrx_no_swcount);
	ATF_TP_ADD_TC(tp, tstamp_hwreq_none_past_lo0);
	ATF_TP_ADD_TC(tp, tstamp_stress_counts);
	return atf_no_error();
}
