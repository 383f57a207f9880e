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
 * Socket timestamping: SO_TIMESTAMP, SO_TIMESTAMPNS, SO_TIMESTAMPING
 * (Linux flag bits and records, software stamps) and SO_TIMESTAMP_CLOCK.
 *
 * RX: link layers stamp a frame as it enters the stack (SO_TSTAMP_RX
 * in ether_input and looutput) into m_pkthdr.tstamp_sw, but only
 * while some socket wants software stamps (so_tstamp_rx_users), so a
 * system where nobody asks pays a load and a branch per frame.  The
 * count is raised before setsockopt() returns: the first frame to
 * arrive afterwards is stamped.  The stamp waits in the packet header
 * until soreceive() reads the datagram, which makes its control
 * message then, in the datagram's own mbuf (so_tstamp_dgram_end()), as
 * Linux does at recvmsg(); a datagram that entered the stack before
 * stamping was enabled, or by a path without the hook, gets the time
 * of the read instead.  TCP keeps marks (so_tstamp_stream_rx()).
 *
 * Stamps are kept as nanouptime() (it never steps) and converted to
 * the socket's clock at delivery; a realtime value is the one the
 * clock had when the stamp was taken, whatever steps came since (see
 * tstamp_step_check()).  The hardware stamp (tstamp_hw, valid with
 * M_TSTAMP_HW) is for drivers and is reported raw.
 *
 * TX: a datagram asking for TX_SOFTWARE or TX_SCHED gets a request
 * (kern/uipc_tstamp_req.c, with the hardware ones) and a packet tag
 * naming it.  SCHED is stamped when the packet is handed to the interface's
 * send queue (SO_TSTAMP_TX_SCHED in ifq_enqueue), SND when the driver
 * hands it to the device (SO_TSTAMP_TX_SND: wm(4), and looutput for
 * lo0); for an interface whose driver has no SND hook both are taken
 * at the send queue.  If the driver took the packet before the
 * protocol's output returned, both records are queued by
 * so_tstamp_tx_end(); if the packet waits in the send queue, SCHED is
 * queued there and SND by a soft interrupt once the driver took it.
 * Records go on the socket's error queue, read with
 * recvmsg(MSG_ERRQUEUE), and are charged to the receive buffer the
 * way sbappendaddr() charges a datagram (bytes against sb_hiwat,
 * storage against sb_mbmax).
 *
 * Contexts.  The per-socket state is allocated in process context
 * (setsockopt, sendmsg) and freed by soput(), which runs in a soft
 * interrupt when TCP tears a connection down from tcp_input(): it
 * comes from a pool cache at IPL_SOFTNET, not kmem(9), which must not
 * be used from soft interrupts.  Error queue records are mbufs.
 */

#include <sys/cdefs.h>
__KERNEL_RCSID(0, "$NetBSD$");

#ifdef _KERNEL_OPT
#include "opt_compat_netbsd.h"
#endif

#include <sys/param.h>
#include <sys/systm.h>
#include <sys/atomic.h>
#include <sys/domain.h>
#include <sys/errno.h>
#include <sys/mbuf.h>
#include <sys/mutex.h>
#include <sys/pool.h>
#include <sys/poll.h>
#include <sys/protosw.h>
#include <sys/so_tstamp.h>
#include <sys/socket.h>
#include <sys/socketvar.h>
#include <sys/sysctl.h>
#include <sys/time.h>
#include <sys/timevar.h>
#include <sys/uio.h>

#include <net/errqueue.h>
#include <net/if.h>
#include <net/net_tstamp.h>
#include <netinet/in.h>
#include <netinet/in_systm.h>
#include <netinet/ip.h>
#include <netinet/tcp.h>
#include <netinet/tcp_seq.h>

#ifdef COMPAT_50
#include <compat/sys/time.h>
#include <compat/sys/socket.h>
#endif

#define	NS_PER_SEC	1000000000ULL

/* Flags under which a socket reports RX stamps (OPT_RX_FILTER is ours). */
#define	SOF_RX_SW	(SOF_TIMESTAMPING_SOFTWARE | \
			 SOF_TIMESTAMPING_RX_SOFTWARE)
#define	SOF_RX_HW	(SOF_TIMESTAMPING_RAW_HARDWARE | \
			 SOF_TIMESTAMPING_RX_HARDWARE)

#ifdef SO_OTIMESTAMP
#define	SO_TSTAMP_OPTIONS	(SO_TIMESTAMP | SO_OTIMESTAMP)
#else
#define	SO_TSTAMP_OPTIONS	SO_TIMESTAMP
#endif

volatile u_int	so_tstamp_rx_users;

static pool_cache_t	so_tstamp_cache;	/* of struct so_tstamp */
static u_int		so_tstamp_nstates;	/* allocated */

/* Error queue records dropped because SO_RCVBUF was exhausted. */
static uint64_t	so_tstamp_errq_drops;

/*
 * Clock steps.  A stamp's realtime value is its uptime plus the
 * realtime offset (getbintime() - getbinuptime(), boot time) in force
 * when it was taken: Linux fixes the realtime value when it takes a
 * stamp, so a step between the stamp and its delivery (settimeofday(2),
 * clock_settime(2), a leap second) must not move it.  The offset
 * changes only at a step.  tstamp_step_check(), run before every stamp
 * is taken, notices a change and logs the old offset with the uptime
 * up to which it held; a conversion (tstamp_offset_at(), no clock
 * read) then takes the offset of the stamp's own time.  A stamp is only
 * taken after the check, so every stamp older than a logged step was
 * taken under the offset logged with it.  Steps are rare: the log
 * keeps the last TSTAMP_STEPS, and a stamp older than all of them
 * takes the oldest.  Writers, from any context up to IPL_NET (drivers
 * take SND stamps), serialise on a spin mutex; a reader of a stamp
 * taken since the newest step reads one slot named by the step count,
 * others retry on the generation count instead of locking.
 */
#define	TSTAMP_STEPS	8

struct tstamp_step {
	uint64_t	sp_until;	/* uptime ns up to which ... */
	int64_t		sp_offns;	/* ... this offset held, in ns */
};

static kmutex_t		tstamp_step_lock;
static volatile u_int	tstamp_step_gen;	/* odd while logging */
static volatile u_int	tstamp_nsteps;		/* logged since boot */
static struct tstamp_step tstamp_steps[TSTAMP_STEPS];
static struct bintime	tstamp_lastoff;		/* offset last seen */
/*
 * The offset in ns in force while tstamp_nsteps is n, at
 * [n % TSTAMP_STEPS]: a slot is written before the count that names it
 * and rewritten only TSTAMP_STEPS steps later, so a reader needs no
 * lock to read the offset of the count it saw.
 */
static int64_t		tstamp_offns[TSTAMP_STEPS];

static void	tstamp_stream_wclose(struct socket *, struct so_tstamp *);

/*
 * The realtime offset now, read from one timehands generation (the
 * uptime read before and after must agree); no timecounter read.
 */
static void
tstamp_offset_now(struct bintime *off)
{
	struct bintime up, up2;

	do {
		getbinuptime(&up);
		getbintime(off);
		getbinuptime(&up2);
	} while (up.sec != up2.sec || up.frac != up2.frac);
	bintime_sub(off, &up);
}

static inline int64_t
tstamp_bt2ns(const struct bintime *bt)
{
	struct timespec ts;

	bintime2timespec(bt, &ts);
	return (int64_t)ts.tv_sec * (int64_t)NS_PER_SEC + ts.tv_nsec;
}

/*
 * Called once from soinit1(), at boot in process context once soft
 * interrupts can be established: a socket may ask for TX stamps from
 * its first sendmsg() on, by control message alone.
 */
void
so_tstamp_init(void)
{

	so_tstamp_cache = pool_cache_init(sizeof(struct so_tstamp), 0, 0, 0,
	    "sotstamp", NULL, IPL_SOFTNET, NULL, NULL, NULL);
	mutex_init(&tstamp_step_lock, MUTEX_DEFAULT, IPL_NET);
	tstamp_offset_now(&tstamp_lastoff);
	tstamp_offns[0] = tstamp_bt2ns(&tstamp_lastoff);
	so_tstamp_req_init();
}

/*
 * Put the realtime offset now in *off, logging it if it changed since
 * it was last seen (see above).  Any context up to IPL_NET.
 */
static void
tstamp_step_check(struct bintime *off)
{
	struct tstamp_step *sp;
	struct bintime up;
	u_int n;

	tstamp_offset_now(off);
	/* A torn read of tstamp_lastoff only sends us to the lock. */
	if (__predict_true(off->sec == tstamp_lastoff.sec &&
	    off->frac == tstamp_lastoff.frac))
		return;
	mutex_spin_enter(&tstamp_step_lock);
	if (off->sec != tstamp_lastoff.sec ||
	    off->frac != tstamp_lastoff.frac) {
		/* Precise: every stamp taken before is older. */
		binuptime(&up);
		tstamp_step_gen++;
		membar_producer();
		n = tstamp_nsteps;
		sp = &tstamp_steps[n % TSTAMP_STEPS];
		sp->sp_until = (uint64_t)tstamp_bt2ns(&up);
		sp->sp_offns = tstamp_offns[n % TSTAMP_STEPS];
		tstamp_offns[(n + 1) % TSTAMP_STEPS] = tstamp_bt2ns(off);
		membar_producer();	/* the slots before the count */
		tstamp_nsteps = n + 1;
		tstamp_lastoff = *off;
		membar_producer();
		tstamp_step_gen++;
	}
	mutex_spin_exit(&tstamp_step_lock);
}

/*
 * The realtime offset in ns in force at uptime ns: the first step
 * logged after ns, else the offset last seen.  No check here: every
 * stamp was taken after one, so a step not logged yet came after
 * every stamp, and the offset last seen is theirs.  Reads no clock.
 */
static int64_t
tstamp_offset_at(uint64_t ns)
{
	const struct tstamp_step *sp;
	u_int gen, i, n;
	int64_t off;

	/*
	 * A stamp taken since the newest step (nearly all of them): the
	 * offset slot of the count read, ordered after it by the
	 * dependency alone (see tstamp_offns), with no lock and no search.
	 * Before the first step, slot TSTAMP_STEPS - 1 of the log says 0.
	 * A reader held up across TSTAMP_STEPS - 1 clock steps could read
	 * a slot while it is rewritten (on a 32-bit port, half old and
	 * half new): that stamp's realtime value would be wrong.
	 */
	n = tstamp_nsteps;
	membar_datadep_consumer();
	if (__predict_true(ns >= tstamp_steps[(n - 1) % TSTAMP_STEPS].sp_until))
		return tstamp_offns[n % TSTAMP_STEPS];

	/*
	 * Older: search the log, retrying while a writer is in (odd
	 * generation) or went through, as kern_tc.c reads its timehands:
	 * no spin hook, which a rump kernel (librumpnet builds this file)
	 * does not have.
	 */
	do {
		gen = tstamp_step_gen;
		membar_consumer();
		n = tstamp_nsteps;
		off = tstamp_offns[n % TSTAMP_STEPS];
		/* Oldest first: the first step after the stamp. */
		for (i = n > TSTAMP_STEPS ? n - TSTAMP_STEPS : 0; i < n; i++) {
			sp = &tstamp_steps[i % TSTAMP_STEPS];
			if (ns < sp->sp_until) {
				off = sp->sp_offns;
				break;
			}
		}
		membar_consumer();
	} while ((gen & 1) != 0 || gen != tstamp_step_gen);
	return off;
}

static inline uint64_t
tstamp_now(void)
{
	struct bintime off;
	struct timespec ts;

	/* A step not logged yet belongs before this stamp. */
	tstamp_step_check(&off);
	nanouptime(&ts);
	return (uint64_t)ts.tv_sec * NS_PER_SEC + ts.tv_nsec;
}

static inline void
tstamp_ns2ts(uint64_t ns, struct timespec *ts)
{

	ts->tv_sec = ns / NS_PER_SEC;
	ts->tv_nsec = ns % NS_PER_SEC;
}

/*
 * Convert an uptime stamp to the socket's clock: realtime with the
 * offset in force when it was taken (tstamp_offset_at()).  The offset
 * is negative if the realtime clock was set before the boot.
 */
static void
tstamp_clock(const struct so_tstamp *st, uint64_t ns, struct timespec *ts)
{
	int64_t rt;

	if (st != NULL && st->st_clock == CLOCK_MONOTONIC) {
		tstamp_ns2ts(ns, ts);
		return;
	}
	rt = (int64_t)ns + tstamp_offset_at(ns);
	ts->tv_sec = rt / (int64_t)NS_PER_SEC;
	/* One 64-bit division: a library call on 32-bit ports. */
	ts->tv_nsec = rt - ts->tv_sec * (int64_t)NS_PER_SEC;
	if (__predict_false(ts->tv_nsec < 0)) {
		ts->tv_sec--;
		ts->tv_nsec += (long)NS_PER_SEC;
	}
}

static struct mbuf **
tstamp_addcontrol(struct mbuf **mp, void *p, int size, int type, int level)
{

	*mp = sbcreatecontrol(p, size, type, level);
	if (*mp != NULL)
		mp = &(*mp)->m_next;
	return mp;
}

/*
 * What an error queue record costs the receive buffer: its bytes (as
 * sballoc() adds to sb_cc) and its storage (as it adds to sb_mbcnt).
 */
static void
tstamp_reccost(const struct mbuf *m, u_long *bytes, u_long *storage)
{

	*bytes = *storage = 0;
	for (; m != NULL; m = m->m_next) {
		*bytes += m->m_len;
		*storage += MSIZE;
		if (m->m_flags & M_EXT)
			*storage += m->m_ext.ext_size;
	}
}

static struct so_tstamp *
tstamp_alloc(int prflags)
{
	struct so_tstamp *st;

	if ((st = pool_cache_get(so_tstamp_cache, prflags)) == NULL)
		return NULL;
	memset(st, 0, sizeof(*st));
	st->st_clock = CLOCK_REALTIME;
	st->st_sendflags = -1;
	st->st_sendkey = -1;
	atomic_inc_uint(&so_tstamp_nstates);
	return st;
}

/* Any context up to IPL_SOFTNET. */
static void
tstamp_release(struct so_tstamp *st)
{

	atomic_dec_uint(&so_tstamp_nstates);
	pool_cache_put(so_tstamp_cache, st);
}

/*
 * Keep the socket's reference on so_tstamp_rx_users in step with its
 * options: only software stamps need the link layers to read the
 * clock, so a socket asking for hardware RX stamps alone takes none.
 * atomic_inc_uint() is a full barrier on the ports that matter and
 * membar_producer() covers the rest, so a frame arriving after
 * setsockopt() returns sees the count.
 */
static void
tstamp_rxupdate(struct socket *so, struct so_tstamp *st)
{
	int af;
	uint8_t msgs;
	bool sw;

	msgs = 0;
	/* SO_TIMESTAMPNS replaces SO_TIMESTAMP's message, as on Linux. */
	if (st->st_ns)
		msgs |= TSTAMP_RX_NS;
#ifdef SO_OTIMESTAMP
	else if (so->so_options & SO_OTIMESTAMP)
		msgs |= TSTAMP_RX_OTV;
#endif
	else if (so->so_options & SO_TIMESTAMP)
		msgs |= TSTAMP_RX_TV;
	/* Report only what this socket asked to be generated. */
	if ((st->st_flags & SOF_RX_SW) == SOF_RX_SW)
		msgs |= TSTAMP_RX_SW;
	if ((st->st_flags & SOF_RX_HW) == SOF_RX_HW)
		msgs |= TSTAMP_RX_HW;
	st->st_rxmsgs = msgs;
	sw = (msgs & ~TSTAMP_RX_HW) != 0;
	st->st_rxwant = msgs != 0;
	af = so->so_proto->pr_domain->dom_family;
	st->st_dgram = st->st_rxwant &&
	    (so->so_proto->pr_flags & PR_ATOMIC) != 0 &&
	    (af == AF_INET || af == AF_INET6);
	/* What only the datagram's way in knows (so_tstamp_savecontrol()). */
	st->st_rxinput = st->st_rxqovfl ||
	    ((st->st_flags & SOF_RX_HW) == SOF_RX_HW &&
	     (st->st_flags & SOF_TIMESTAMPING_OPT_PKTINFO) != 0);
	/* tcp_input() counts no bytes now: the marks would drift. */
	if (!st->st_rxwant)
		st->st_stream = false;
	if (sw && !st->st_rxref) {
		atomic_inc_uint(&so_tstamp_rx_users);
		membar_producer();
		st->st_rxref = true;
	} else if (!sw && st->st_rxref) {
		atomic_dec_uint(&so_tstamp_rx_users);
		st->st_rxref = false;
	}
}

static int
tstamp_check(int opt, int val)
{

	switch (opt) {
	case SO_TIMESTAMPING:
		if (val & ~SOF_TIMESTAMPING_MASK)
			return EINVAL;
		if ((val & SOF_TIMESTAMPING_OPT_ID_TCP) &&
		    (val & SOF_TIMESTAMPING_OPT_ID) == 0)
			return EINVAL;
		/* There is no PTP clock to bind to. */
		if (val & SOF_TIMESTAMPING_BIND_PHC)
			return EINVAL;
		/* Statistics come only with records without payload. */
		if ((val & SOF_TIMESTAMPING_OPT_STATS) &&
		    (val & SOF_TIMESTAMPING_OPT_TSONLY) == 0)
			return EINVAL;
		return 0;
	case SO_TIMESTAMP_CLOCK:
		switch (val) {
		case CLOCK_REALTIME:
		case CLOCK_MONOTONIC:
			return 0;
		default:
			return EINVAL;
		}
	default:
		return 0;
	}
}

/*
 * Set SO_TIMESTAMP, SO_TIMESTAMPNS, SO_TIMESTAMPING, SO_TIMESTAMP_CLOCK
 * or SO_RXQ_OVFL.  Called unlocked like the rest of sosetopt1(),
 * returns locked.  The value is checked before anything changes, so an
 * error leaves the socket as it was.
 *
 * SO_TIMESTAMP and SO_TIMESTAMPNS select one receive stamp as on
 * Linux: turning either on picks its format (the last one wins),
 * turning either off turns both off.
 */
int
so_tstamp_setopt(struct socket *so, const struct sockopt *sopt)
{
	struct so_tstamp *st, *nst = NULL;
	struct so_timestamping sts;
	int error, opt, val = 0;

	opt = sopt->sopt_name;
	if (opt == SO_TIMESTAMPING && sopt->sopt_size == sizeof(sts)) {
		error = sockopt_get(sopt, &sts, sizeof(sts));
		val = sts.flags;
	} else
		error = sockopt_getint(sopt, &val);
	if (error == 0)
		error = tstamp_check(opt, val);
	/* Allocate before locking; so_tstamp is only freed by soput(). */
	if (error == 0 && (val != 0 || opt == SO_TIMESTAMP_CLOCK) &&
	    so->so_tstamp == NULL)
		nst = tstamp_alloc(PR_WAITOK);
	solock(so);
	if (error != 0)
		goto out;
	if ((st = so->so_tstamp) == NULL && nst != NULL) {
		so->so_tstamp = st = nst;
		nst = NULL;
	}

	switch (opt) {
	case SO_TIMESTAMPNS:
		if (st != NULL)
			st->st_ns = val != 0;
		if (val == 0)
			so->so_options &= ~SO_TSTAMP_OPTIONS;
		break;
	case SO_RXQ_OVFL:
		if (st != NULL)
			st->st_rxqovfl = val != 0;
		break;
	case SO_TIMESTAMPING:
		if (st == NULL)
			break;
		/* OPT_ID keys count from 0 each time it is enabled. */
		if ((val & SOF_TIMESTAMPING_OPT_ID) &&
		    (st->st_flags & SOF_TIMESTAMPING_OPT_ID) == 0) {
			st->st_key = 0;
			st->st_txbased = false;
		}
		st->st_flags = val;
		break;
	case SO_TIMESTAMP_CLOCK:
		st->st_clock = val;
		break;
	default:		/* SO_TIMESTAMP, SO_OTIMESTAMP */
		if (val)
			so->so_options |= opt;
		else
			so->so_options &= ~opt;
		if (st != NULL)
			st->st_ns = false;
		break;
	}
	if (st != NULL)
		tstamp_rxupdate(so, st);
 out:
	KASSERT(solocked(so));
	if (nst != NULL)
		tstamp_release(nst);
	return error;
}

/* Called locked from sogetopt1(). */
int
so_tstamp_getopt(struct socket *so, struct sockopt *sopt)
{
	const struct so_tstamp *st = so->so_tstamp;

	KASSERT(solocked(so));
	switch (sopt->sopt_name) {
	case SO_TIMESTAMPNS:
		return sockopt_setint(sopt, st != NULL && st->st_ns);
	case SO_RXQ_OVFL:
		return sockopt_setint(sopt, st != NULL && st->st_rxqovfl);
	case SO_TIMESTAMPING:
		return sockopt_setint(sopt, st != NULL ? st->st_flags : 0);
	case SO_TIMESTAMP_CLOCK:
		return sockopt_setint(sopt,
		    st != NULL ? st->st_clock : CLOCK_REALTIME);
	case SO_ERRQUEUE_DROPS:
		return sockopt_setint(sopt,
		    st != NULL ? (int)st->st_errqdrops : 0);
	default:
		return ENOPROTOOPT;
	}
}

/*
 * sonewconn(): a socket made for a connection to the listener head
 * takes head's timestamping options, as on Linux (SO_TIMESTAMP came
 * with so_options), and a reference of its own on so_tstamp_rx_users,
 * released when it goes.  May run in a soft interrupt (tcp_input()
 * taking a SYN), so the state comes from the pool without sleeping;
 * without it the connection is refused (ENOBUFS), as sonewconn()
 * refuses one it cannot reserve buffers for.  Both sockets locked.
 */
int
so_tstamp_inherit(struct socket *head, struct socket *so)
{
	const struct so_tstamp *hst = head->so_tstamp;
	struct so_tstamp *st;

	KASSERT(solocked(head));
	KASSERT(so->so_tstamp == NULL);
	if (hst == NULL)
		return 0;
	if ((st = tstamp_alloc(PR_NOWAIT)) == NULL)
		return ENOBUFS;
	st->st_flags = hst->st_flags;
	st->st_clock = hst->st_clock;
	st->st_ns = hst->st_ns;
	st->st_rxqovfl = hst->st_rxqovfl;
	so->so_tstamp = st;
	tstamp_rxupdate(so, st);
	return 0;
}

/*
 * Called from soput(): nobody else can see the socket any more.  That
 * may be a soft interrupt (tcp_input() closing a connection), so
 * nothing here may sleep or use kmem(9).
 */
void
so_tstamp_free(struct socket *so)
{
	struct so_tstamp *st = so->so_tstamp;
	struct mbuf *rec;

	if (st == NULL)
		return;
	so_tstamp_req_gone(so, &st->st_reqs);
	if (st->st_rxref)
		atomic_dec_uint(&so_tstamp_rx_users);
	while ((rec = st->st_errq) != NULL) {
		st->st_errq = rec->m_nextpkt;
		m_freem(rec);
	}
	so->so_tstamp = NULL;
	tstamp_release(st);
}

void
so_tstamp_rx_stamp(struct mbuf *m)
{

	KASSERT((m->m_flags & M_PKTHDR) != 0);
	m->m_pkthdr.tstamp_sw = tstamp_now();
}

/*
 * Test kernels only (options SOTSTAMP_ABLATE, in SOTSTEST; never in
 * GENERIC): kern.sotstamp.ablate leaves parts of a datagram's stamp
 * delivery out, so that the guest benchmark
 * (tests/net/timestamp/bench/tstamp_bench.c) can tell what each costs.
 */
#define	TSTAMP_ABLATE_TYPE	0x01	/* the mbuf becomes MT_CONTROL */
#define	TSTAMP_ABLATE_CLOCK	0x02	/* no realtime conversion */
#define	TSTAMP_ABLATE_DELIVER	0x04	/* messages made, then freed */
#define	TSTAMP_ABLATE_MAKE	0x08	/* nothing made: the mbuf freed */
#ifdef SOTSTAMP_ABLATE
static int	tstamp_ablate;
#define	TSTAMP_ABLATE(bit)	(__predict_false(tstamp_ablate & (bit)))
#else
#define	TSTAMP_ABLATE(bit)	0
#endif

/*
 * Receive stamps are made into one control mbuf: every message of a
 * datagram or a read, in one mbuf and one copyout.  At most one of
 * SCM_TIMESTAMP and SCM_TIMESTAMPNS, and SCM_TIMESTAMPING.
 */
#define	TSTAMP_RXCMSG_MAX						\
	(CMSG_SPACE(sizeof(struct timespec)) +				\
	 CMSG_SPACE(sizeof(struct scm_timestamping)))
__CTASSERT(CMSG_SPACE(sizeof(struct timeval)) <=
    CMSG_SPACE(sizeof(struct timespec)));
__CTASSERT(TSTAMP_RXCMSG_MAX <= MHLEN);

/*
 * Append a zeroed SOL_SOCKET message of size bytes to control mbuf m,
 * which has room; returns where its data goes.
 */
static inline void *
tstamp_cmsg_put(struct mbuf *m, size_t size, int type)
{
	struct cmsghdr *cm;

	cm = (struct cmsghdr *)(mtod(m, char *) + m->m_len);
	memset(cm, 0, CMSG_SPACE(size));	/* no stale padding */
	cm->cmsg_len = CMSG_LEN(size);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = type;
	m->m_len += CMSG_SPACE(size);
	return CMSG_DATA(cm);
}

/*
 * An empty mbuf for control messages, with room for TSTAMP_RXCMSG_MAX
 * bytes: m, a datagram's mbuf whose data was copied out (NULL: none),
 * if its storage is its own; else a new one, and m is freed.  NULL if
 * none could be had (the stamps are lost, as when sbcreatecontrol()
 * fails).  A datagram's mbuf keeps its type, MT_DATA: only the
 * statistics of mbuf types see it (nothing reading control messages
 * looks at the type), and changing it (MCHTYPE(), two per-CPU counter
 * updates) cost a tenth of the drain's time in the guest benchmark.
 */
static struct mbuf *
tstamp_ctlmbuf(struct mbuf *m)
{

	if (m != NULL) {
		if ((m->m_flags & M_EXT) == 0)
			m->m_data = M_BUFADDR(m);
		else if (!M_READONLY(m) &&
		    m->m_ext.ext_size >= TSTAMP_RXCMSG_MAX)
			m->m_data = m->m_ext.ext_buf;
		else {
			m_free(m);
			m = NULL;
		}
	}
	if (m == NULL)
		m = m_get(M_DONTWAIT, MT_CONTROL);
	else if (TSTAMP_ABLATE(TSTAMP_ABLATE_TYPE) &&
	    m->m_type != MT_CONTROL)
		MCHTYPE(m, MT_CONTROL);
	if (m != NULL)
		m->m_len = 0;
	return m;
}

/*
 * The socket's receive timestamps, all of the same instant: software
 * stamp swns (uptime; 0: take it now) and, if hw, the raw hardware
 * stamp hwns, made into own (see tstamp_ctlmbuf(); consumed).  Returns
 * the control mbuf, NULL if the socket reports none of them.
 */
static struct mbuf *
tstamp_rxcontrol(struct socket *so, uint64_t swns, bool hw, uint64_t hwns,
    struct mbuf *own)
{
	const struct so_tstamp *st = so->so_tstamp;
	struct scm_timestamping *sts;
	struct timespec ts;
	struct timeval tv;
	struct mbuf *cm;
	uint8_t msgs;

	msgs = st != NULL ? st->st_rxmsgs : 0;
	if (!hw)
		msgs &= ~TSTAMP_RX_HW;
	if (msgs == 0) {
		if (own != NULL)
			m_free(own);
		return NULL;
	}
	if ((cm = tstamp_ctlmbuf(own)) == NULL)
		return NULL;

	if (TSTAMP_ABLATE(TSTAMP_ABLATE_CLOCK))
		tstamp_ns2ts(swns, &ts);
	else
		tstamp_clock(st, swns != 0 ? swns : tstamp_now(), &ts);

	if (msgs & TSTAMP_RX_TV) {
		TIMESPEC_TO_TIMEVAL(&tv, &ts);
		memcpy(tstamp_cmsg_put(cm, sizeof(tv), SCM_TIMESTAMP), &tv,
		    sizeof(tv));
	}
#ifdef SO_OTIMESTAMP
	if (msgs & TSTAMP_RX_OTV) {
		TIMESPEC_TO_TIMEVAL(&tv, &ts);
		timeval_to_timeval50(&tv, tstamp_cmsg_put(cm,
		    sizeof(struct timeval50), SCM_OTIMESTAMP));
	}
#endif
	if (msgs & TSTAMP_RX_NS)
		memcpy(tstamp_cmsg_put(cm, sizeof(ts), SCM_TIMESTAMPNS), &ts,
		    sizeof(ts));
	if (msgs & (TSTAMP_RX_SW | TSTAMP_RX_HW)) {
		/* Zeroed: what the socket does not report stays 0. */
		sts = tstamp_cmsg_put(cm, sizeof(*sts), SCM_TIMESTAMPING);
		if (msgs & TSTAMP_RX_SW)
			sts->ts[0] = ts;
		if (msgs & TSTAMP_RX_HW)
			tstamp_ns2ts(hwns, &sts->ts[2]);
	}
	return cm;
}

static struct so_tstamp *
tstamp_get_nosleep(struct socket *so)
{
	struct so_tstamp *st;

	KASSERT(solocked(so));
	if ((st = so->so_tstamp) != NULL)
		return st;
	if ((st = tstamp_alloc(PR_NOWAIT)) == NULL)
		return NULL;
	so->so_tstamp = st;
	return st;
}

/*
 * Stream sockets (TCP).  A read returns the stamp of the most recent
 * segment whose data it returns, as on Linux.  The receive buffer
 * merges segments, so each socket keeps marks: where in its byte stream
 * a segment ended and its stamps.  When all TSTAMP_MARKS are in use
 * the newest mark is extended, so a read ending inside its range gets
 * the later stamp.  Bytes that arrived before stamping was asked for
 * have no mark and get no stamp.
 *
 * Offsets count from the first byte of the receive buffer when the
 * marks started (st_base bytes were there, unmarked); st_rcvd counts
 * every byte appended since, so the first unread byte is at
 * st_base + st_rcvd - sb_cc whatever the reads did (short MSG_WAITALL
 * reads, uiomove() errors, SHUT_RD flushes).  That holds only while
 * every append is counted, i.e. while RX stamps are wanted: turning
 * them off forgets the marks (tstamp_rxupdate()), and the next segment
 * starts them again.
 */
static void
tstamp_stream_reset(struct socket *so, struct so_tstamp *st)
{

	st->st_rcvd = 0;
	st->st_base = so->so_rcv.sb_cc;	/* unmarked bytes */
	st->st_nmarks = st->st_mhead = 0;
}

/*
 * tcp_input() appends segment m to so's receive buffer (socket
 * locked, soft interrupt).
 */
void
so_tstamp_stream_rx(struct socket *so, struct mbuf *m)
{
	struct so_tstamp *st;
	struct so_tstamp_mark *mk;
	u_int len;

	/* An accepted socket has its listener's state (so_tstamp_inherit). */
	if ((st = so->so_tstamp) == NULL)
		return;
	if (!st->st_stream) {
		st->st_stream = true;
		tstamp_stream_reset(so, st);
	}
	if ((len = m_length(m)) == 0)
		return;
	st->st_rcvd += len;
	if (st->st_nmarks == TSTAMP_MARKS) {
		mk = &st->st_marks[(st->st_mhead + st->st_nmarks - 1) %
		    TSTAMP_MARKS];
	} else {
		mk = &st->st_marks[(st->st_mhead + st->st_nmarks) %
		    TSTAMP_MARKS];
		mk->mk_start = st->st_base + st->st_rcvd - len;
		st->st_nmarks++;
	}
	mk->mk_end = st->st_base + st->st_rcvd;
	mk->mk_sw = (m->m_flags & M_PKTHDR) && m->m_pkthdr.tstamp_sw != 0 ?
	    m->m_pkthdr.tstamp_sw : tstamp_now();
	mk->mk_hw = (m->m_flags & M_PKTHDR) &&
	    (m->m_pkthdr.tstamp_flags & M_TSTAMP_HW) != 0;
	mk->mk_hwns = mk->mk_hw ? m->m_pkthdr.tstamp_hw : 0;
}

/*
 * soreceive() returned n bytes of a stream socket (locked): the
 * control messages of the segment the last of them came from.
 */
void
so_tstamp_stream_read(struct socket *so, size_t n, int flags,
    struct mbuf **controlp)
{
	struct so_tstamp *st = so->so_tstamp;
	const struct so_tstamp_mark *mk, *found = NULL;
	uint64_t end;
	u_int i;

	KASSERT(solocked(so));
	if (st == NULL || !st->st_stream || n == 0)
		return;
	/* The first unread byte, after the read (see above). */
	end = st->st_base + st->st_rcvd;
	if (__predict_false(end < so->so_rcv.sb_cc))
		return;
	end -= so->so_rcv.sb_cc;
	if (flags & MSG_PEEK)
		end += n;
	for (i = 0; i < st->st_nmarks; i++) {
		mk = &st->st_marks[(st->st_mhead + i) % TSTAMP_MARKS];
		if (mk->mk_start < end && end <= mk->mk_end) {
			found = mk;
			break;
		}
	}
	if (found != NULL && controlp != NULL && *controlp == NULL &&
	    st->st_rxwant)
		*controlp = tstamp_rxcontrol(so, found->mk_sw, found->mk_hw,
		    found->mk_hwns, NULL);
	if (flags & MSG_PEEK)
		return;
	while (st->st_nmarks > 0 &&
	    st->st_marks[st->st_mhead].mk_end <= end) {
		st->st_mhead = (st->st_mhead + 1) % TSTAMP_MARKS;
		st->st_nmarks--;
	}
}

/*
 * Datagram sockets.  The stamps wait in the datagram's packet header
 * and become a control message when soreceive() reads it, as on Linux
 * (SO_TSTAMP_DGRAM_BEGIN(), so_tstamp_dgram_end()).  What only the way
 * in knows is made when the datagram is queued: *_savecontrol() calls
 * this (if SO_TSTAMP_RXWANT()) to append the SO_RXQ_OVFL count and
 * OPT_PKTINFO's message to *mp; returns the new tail.
 */
struct mbuf **
so_tstamp_savecontrol(struct socket *so, struct mbuf *m, struct mbuf **mp)
{
	const struct so_tstamp *st = so->so_tstamp;
	struct scm_ts_pktinfo pki;
	const struct ifnet *ifp;
	uint32_t drops;

	if (st == NULL)
		return mp;
	/*
	 * OPT_PKTINFO, as on Linux only with a hardware stamp: the
	 * interface and the length at layer 2.  The datagram still
	 * starts with its network header here.
	 */
	if ((st->st_flags & SOF_RX_HW) == SOF_RX_HW &&
	    (st->st_flags & SOF_TIMESTAMPING_OPT_PKTINFO) &&
	    (m->m_pkthdr.tstamp_flags & M_TSTAMP_HW) &&
	    (ifp = m->m_pkthdr.rcvif) != NULL) {
		memset(&pki, 0, sizeof(pki));
		pki.if_index = ifp->if_index;
		pki.pkt_length = m->m_pkthdr.len + ifp->if_hdrlen;
		mp = tstamp_addcontrol(mp, &pki, sizeof(pki),
		    SCM_TIMESTAMPING_PKTINFO, SOL_SOCKET);
	}
	/*
	 * Datagrams the socket dropped so far for want of buffer space,
	 * as on Linux only once there are some.  Read before this one is
	 * appended, so a count belongs to the datagrams before it.
	 */
	if (st->st_rxqovfl &&
	    (drops = (uint32_t)so->so_rcv.sb_overflowed) != 0)
		mp = tstamp_addcontrol(mp, &drops, sizeof(drops),
		    SCM_RXQ_OVFL, SOL_SOCKET);
	return mp;
}

/*
 * soreceive() read the record (error: it failed) and still holds the
 * socket locked: put its stamps first in the control messages, as
 * Linux puts them before the IP options' messages, in the record's
 * own mbuf if SO_TSTAMP_DGRAM_FREE() kept it (MSG_PEEK, a truncated
 * datagram: a new one).  A datagram stamped by nobody (it came before
 * stamping was enabled, or by a path without the hook) gets the time
 * of the read, as on Linux.  Called only by soreceive(), between its
 * own solock() and sounlock(): no KASSERT(solocked()) here, which runs
 * for every datagram read and, two calls under DIAGNOSTIC, measured a
 * thirtieth of the drain's time in the guest benchmark (kernel.md).
 */
void
so_tstamp_dgram_end(struct socket *so, struct so_tstamp_rxd *rd, int error)
{
	struct mbuf *own = rd->rd_own, *cm;

	rd->rd_m = rd->rd_own = NULL;
	if (error != 0 || TSTAMP_ABLATE(TSTAMP_ABLATE_MAKE)) {
		if (own != NULL)
			m_free(own);
		return;
	}
	cm = tstamp_rxcontrol(so, rd->rd_sw, rd->rd_hw, rd->rd_hwns, own);
	if (cm != NULL && TSTAMP_ABLATE(TSTAMP_ABLATE_DELIVER)) {
		m_free(cm);
		cm = NULL;
	}
	if (cm != NULL) {
		cm->m_next = *rd->rd_controlp;
		*rd->rd_controlp = cm;
	}
}

/*
 * sosend(): take the SOL_SOCKET SO_TIMESTAMPING and SCM_TS_OPT_ID
 * messages out of the control data (no protocol knows them) and
 * remember their TX bits and OPT_ID key for this datagram.  Called
 * locked, with the send buffer locked, just before pr_send;
 * so_tstamp_senddone() forgets them.
 */
int
so_tstamp_sendctl(struct socket *so, struct mbuf **controlp)
{
	struct mbuf *control = *controlp;
	struct so_tstamp *st;
	struct cmsghdr *cm;
	char *p, *end;
	size_t space;
	int val, txflags = -1;
	int64_t sendkey = -1;
	uint32_t key;

	KASSERT(solocked(so));
	/* sockargs() makes one mbuf; anything else is not ours to edit. */
	if (control == NULL || control->m_next != NULL ||
	    control->m_type != MT_CONTROL)
		return 0;
	p = mtod(control, char *);
	end = p + control->m_len;
	while ((size_t)(end - p) >= CMSG_LEN(0)) {
		cm = (struct cmsghdr *)p;
		/* Leave malformed control data to the protocol to reject. */
		if (cm->cmsg_len < CMSG_LEN(0) ||
		    cm->cmsg_len > (size_t)(end - p))
			break;
		space = MIN(CMSG_ALIGN(cm->cmsg_len), (size_t)(end - p));
		if (cm->cmsg_level != SOL_SOCKET ||
		    (cm->cmsg_type != SO_TIMESTAMPING &&
		     cm->cmsg_type != SCM_TS_OPT_ID)) {
			p += space;
			continue;
		}
		if (cm->cmsg_type == SCM_TS_OPT_ID) {
			/* Linux: datagrams of a socket with OPT_ID only */
			if (cm->cmsg_len != CMSG_LEN(sizeof(key)) ||
			    so->so_type == SOCK_STREAM ||
			    so->so_tstamp == NULL ||
			    (so->so_tstamp->st_flags &
			     SOF_TIMESTAMPING_OPT_ID) == 0)
				return EINVAL;
			memcpy(&key, CMSG_DATA(cm), sizeof(key));
			sendkey = key;
		} else {
			if (cm->cmsg_len != CMSG_LEN(sizeof(int)))
				return EINVAL;
			memcpy(&val, CMSG_DATA(cm), sizeof(val));
			if (val & ~SOF_TIMESTAMPING_TX_RECORD_MASK)
				return EINVAL;
			txflags = val;
		}
		memmove(p, p + space, (size_t)(end - p) - space);
		end -= space;
		control->m_len -= space;
	}
	if (txflags == -1 && sendkey == -1)
		return 0;
	if ((st = tstamp_get_nosleep(so)) == NULL)
		return ENOBUFS;
	st->st_sendflags = txflags;
	st->st_sendkey = sendkey;
	if (control->m_len == 0) {
		m_freem(control);
		*controlp = NULL;
	}
	return 0;
}

/*
 * sosend() returns: forget the control message's flags, and a write
 * to a stream socket that ended before its last chunk (an error, a
 * signal or a full buffer) ends here, at the last byte it wrote.
 */
void
so_tstamp_senddone(struct socket *so)
{
	struct so_tstamp *st = so->so_tstamp;

	KASSERT(solocked(so));
	if (st == NULL)
		return;
	if (st->st_wopen)
		tstamp_stream_wclose(so, st);
	st->st_sendflags = -1;
	st->st_sendkey = -1;
}

/* The flags of the write being sent: the socket's, or sendmsg()'s. */
static int
tstamp_txflags(const struct so_tstamp *st)
{

	if (st->st_sendflags < 0)
		return st->st_flags;
	return (st->st_flags & ~SOF_TIMESTAMPING_TX_RECORD_MASK) |
	    st->st_sendflags;
}

/* Is the socket's IPPROTO_IP option opt on, as getsockopt() says? */
static bool
tstamp_ipopt(struct socket *so, int opt)
{
	struct sockopt sopt;
	int val = 0;

	sockopt_init(&sopt, IPPROTO_IP, opt, 0);
	if ((*so->so_proto->pr_ctloutput)(PRCO_GETOPT, so, &sopt) != 0 ||
	    sockopt_getint(&sopt, &val) != 0)
		val = 0;
	sockopt_destroy(&sopt);
	return val != 0;
}

/*
 * OPT_CMSG on IPv4: what the records' IP_PKTINFO and IP_RECVPKTINFO
 * messages will say, taken at send (socket locked) through the
 * protocol's interfaces, as getsockopt(), getpeername() and
 * getsockname() see them, not from its PCB.  A sendto() address is
 * connected for the duration of the send by udp_send() and rip_send()
 * before they get here.
 */
static void
tstamp_tx_cmsg(struct so_tstamp_tx *tx, struct socket *so)
{
	struct so_tstamp_cmsg *cm = &tx->tx_cmsg;
	const struct sockaddr_in *sin;
	struct mbuf *nam;

	KASSERT(solocked(so));
	if ((tx->tx_flags & SOF_TIMESTAMPING_OPT_CMSG) == 0 ||
	    so->so_proto->pr_domain->dom_family != AF_INET)
		return;
	if (tstamp_ipopt(so, IP_PKTINFO))
		cm->cm_opts |= SO_TSTAMP_CMSG_PKTINFO;
	if (tstamp_ipopt(so, IP_RECVPKTINFO))
		cm->cm_opts |= SO_TSTAMP_CMSG_RECVPKTINFO;
	if (cm->cm_opts == 0 || (nam = m_get(M_DONTWAIT, MT_SONAME)) == NULL)
		return;
	sin = mtod(nam, const struct sockaddr_in *);
	if ((*so->so_proto->pr_usrreqs->pr_peeraddr)(so, nam) == 0 &&
	    nam->m_len >= (int)sizeof(*sin))
		cm->cm_dst4 = sin->sin_addr.s_addr;
	if ((*so->so_proto->pr_usrreqs->pr_sockaddr)(so, nam) == 0 &&
	    nam->m_len >= (int)sizeof(*sin))
		cm->cm_src4 = sin->sin_addr.s_addr;
	m_free(nam);
}

/*
 * Protocol output, before ip_output()/ip6_output() with the socket
 * locked: decide which TX stamps datagram m gets, take its OPT_ID key,
 * copy its payload for a software record and ask for its hand-off
 * stamps.
 */
void
so_tstamp_tx_begin(struct so_tstamp_tx *tx, struct socket *so,
    struct mbuf *m)
{
	struct so_tstamp *st = so->so_tstamp;
	int flags;

	tx->tx_active = tx->tx_keyed = tx->tx_hwtaken = tx->tx_hwleft = false;
	tx->tx_flags = 0;
	tx->tx_key = 0;
	memset(&tx->tx_cmsg, 0, sizeof(tx->tx_cmsg));
	tx->tx_swid = 0;
	tx->tx_nmarks = 0;
	tx->tx_payload = NULL;
	if (__predict_true(st == NULL))
		return;
	KASSERT(solocked(so));
	flags = tstamp_txflags(st);
	if ((flags & SOF_TIMESTAMPING_TX_RECORD_MASK) == 0)
		return;

	tx->tx_flags = flags;
	if (st->st_sendkey >= 0 && (flags & SOF_TIMESTAMPING_OPT_ID)) {
		/* SCM_TS_OPT_ID: this datagram's key; the counter stays */
		tx->tx_key = (uint32_t)st->st_sendkey;
	} else if (flags & SOF_TIMESTAMPING_OPT_ID) {
		tx->tx_key = st->st_key++;
		tx->tx_keyed = true;
	}
	tstamp_tx_cmsg(tx, so);
	if ((flags & (SOF_TIMESTAMPING_TX_SOFTWARE |
	    SOF_TIMESTAMPING_TX_SCHED)) == 0)
		return;
	tx->tx_active = true;
	if ((flags & SOF_TIMESTAMPING_OPT_TSONLY) == 0)
		tx->tx_payload = m_copypacket(m, M_DONTWAIT);
	tx->tx_swid = so_tstamp_req_sw(so, m, tx);
}

/*
 * Append a finished record to the socket's error queue.  It is charged
 * together with the receive queue the way sbappendaddr() charges a
 * datagram: its bytes against sb_hiwat, its storage against sb_mbmax.
 * A record that does not fit is freed and counted, per socket
 * (SO_ERRQUEUE_DROPS) and in kern.sotstamp.errq_drops.
 * Returns 0 or ENOBUFS.
 */
int
so_tstamp_errq_append(struct socket *so, struct mbuf *rec)
{
	struct so_tstamp *st = so->so_tstamp;
	struct sockbuf *sb = &so->so_rcv;
	u_long bytes, storage;

	KASSERT(solocked(so));
	tstamp_reccost(rec, &bytes, &storage);
	if (st == NULL ||
	    st->st_errqcc + sb->sb_cc + bytes > sb->sb_hiwat ||
	    st->st_errqmbcnt + sb->sb_mbcnt + storage > sb->sb_mbmax) {
		so_tstamp_errq_dropped(so);
		m_freem(rec);
		return ENOBUFS;
	}
	st->st_errqcc += bytes;
	st->st_errqmbcnt += storage;
	rec->m_nextpkt = NULL;
	if (st->st_errqtail != NULL)
		st->st_errqtail->m_nextpkt = rec;
	else
		st->st_errq = rec;
	st->st_errqtail = rec;
	sorwakeup(so);
	return 0;
}

/* A record for so could not be queued (socket locked). */
void
so_tstamp_errq_dropped(struct socket *so)
{

	KASSERT(solocked(so));
	if (so->so_tstamp != NULL)
		so->so_tstamp->st_errqdrops++;
	atomic_inc_64(&so_tstamp_errq_drops);
}

/*
 * Build the TX record r (SCM_TIMESTAMPING with what the socket reports,
 * with OPT_CMSG on IPv4 IP_PKTINFO and/or IP_RECVPKTINFO as the socket
 * asked, IP_RECVERR or IPV6_RECVERR) with payload (consumed; NULL
 * with OPT_TSONLY) and queue it on so's error queue.  Software
 * records come from here, late SND and hardware ones from
 * kern/uipc_tstamp_req.c.
 * Returns 0 or ENOBUFS (the record was dropped and counted).
 */
int
so_tstamp_tx_record(struct socket *so, const struct so_tstamp_txrec *r,
    struct mbuf *payload)
{
	struct so_tstamp *st = so->so_tstamp;
	struct sock_extended_err ee;
	struct scm_timestamping sts;
	struct in_pktinfo ipi;
	struct mbuf *rec = NULL, **mp = &rec, **eep;
	bool sw, hw, v6;

	KASSERT(solocked(so));
	sw = r->tr_swns != 0 && (r->tr_flags & SOF_TIMESTAMPING_SOFTWARE);
	hw = r->tr_hwns != 0 &&
	    (r->tr_flags & SOF_TIMESTAMPING_RAW_HARDWARE);
	if (sw || hw) {
		memset(&sts, 0, sizeof(sts));
		if (sw)
			tstamp_clock(st, r->tr_swns, &sts.ts[0]);
		if (hw)
			tstamp_ns2ts(r->tr_hwns, &sts.ts[2]);
		mp = tstamp_addcontrol(mp, &sts, sizeof(sts),
		    SCM_TIMESTAMPING, SOL_SOCKET);
	}
	v6 = so->so_proto->pr_domain->dom_family == AF_INET6;
	/*
	 * OPT_CMSG: Linux gives IPv4 TX records the socket's IP_PKTINFO
	 * message, naming the interface the packet left by; so do we,
	 * and NetBSD's IP_RECVPKTINFO too.  As for a received packet,
	 * IP_PKTINFO's address is the packet's destination (Linux's
	 * ipi_addr) and IP_RECVPKTINFO's its source.  Linux gives them
	 * only with the packet, so OPT_TSONLY turns them off.
	 */
	if (!v6 && r->tr_cmsg != NULL &&
	    (r->tr_flags & (SOF_TIMESTAMPING_OPT_CMSG |
	    SOF_TIMESTAMPING_OPT_TSONLY)) == SOF_TIMESTAMPING_OPT_CMSG) {
		memset(&ipi, 0, sizeof(ipi));
		ipi.ipi_ifindex = r->tr_ifindex;
		if (r->tr_cmsg->cm_opts & SO_TSTAMP_CMSG_PKTINFO) {
			ipi.ipi_addr.s_addr = r->tr_cmsg->cm_dst4;
			mp = tstamp_addcontrol(mp, &ipi, sizeof(ipi),
			    IP_PKTINFO, IPPROTO_IP);
		}
		if (r->tr_cmsg->cm_opts & SO_TSTAMP_CMSG_RECVPKTINFO) {
			ipi.ipi_addr.s_addr = r->tr_cmsg->cm_src4;
			mp = tstamp_addcontrol(mp, &ipi, sizeof(ipi),
			    IP_RECVPKTINFO, IPPROTO_IP);
		}
	}
	memset(&ee, 0, sizeof(ee));
	ee.ee_errno = ENOMSG;
	ee.ee_origin = SO_EE_ORIGIN_TIMESTAMPING;
	ee.ee_info = r->tr_info;
	ee.ee_data = r->tr_key;
	eep = mp;
	mp = tstamp_addcontrol(mp, &ee, sizeof(ee),
	    v6 ? IPV6_RECVERR : IP_RECVERR, v6 ? IPPROTO_IPV6 : IPPROTO_IP);
	if (mp == eep) {
		/* A record without its header is useless. */
		so_tstamp_errq_dropped(so);
		m_freem(rec);
		m_freem(payload);
		return ENOBUFS;
	}
	*mp = payload;
	return so_tstamp_errq_append(so, rec);
}

/*
 * The hand-off stamps of tx's software request, from
 * so_tstamp_req_sw_end(),
 * which keeps the request and *sndp for a late SND record if the packet
 * still waits in a send queue (then true).  No hand-off seen (the packet
 * waits for address resolution, went by a path without the hooks, or no
 * request could be had): the stack let go of it now.
 */
static bool
tstamp_tx_handoff(const struct so_tstamp_tx *tx, struct so_tstamp_sw *sw,
    struct mbuf **sndp)
{
	bool pending = false;

	memset(sw, 0, sizeof(*sw));
	if (tx->tx_swid != 0)
		pending = so_tstamp_req_sw_end(tx->tx_swid, sw, sndp);
	if (sw->sw_schedns == 0)
		sw->sw_schedns = tstamp_now();
	if (sw->sw_sndns == 0)
		sw->sw_sndns = sw->sw_schedns;
	return pending;
}

/* A record of the datagram or write tx, without its kind and stamp. */
static void
tstamp_txrec_init(struct so_tstamp_txrec *r, const struct so_tstamp_tx *tx,
    int flags, uint32_t key, u_int ifindex)
{

	memset(r, 0, sizeof(*r));
	r->tr_flags = flags;
	r->tr_key = key;
	r->tr_cmsg = &tx->tx_cmsg;
	r->tr_ifindex = ifindex;
}

/*
 * Protocol output, after ip_output()/ip6_output() returned error (and
 * hwtstamp_tx_end() said whether a driver took a hardware request and
 * whether it reached an interface).
 */
void
so_tstamp_tx_end(struct so_tstamp_tx *tx, struct socket *so, int error)
{
	struct so_tstamp *st = so->so_tstamp;
	const int swhw = SOF_TIMESTAMPING_TX_HARDWARE |
	    SOF_TIMESTAMPING_OPT_TX_SWHW;
	struct so_tstamp_txrec r;
	struct so_tstamp_sw sw;
	struct mbuf *payload, *sndpl;
	bool sched, snd, pending, left;

	if (__predict_true(tx->tx_flags == 0))
		return;
	KASSERT(solocked(so));
	/*
	 * The SND record gives way to the hardware one when a driver
	 * stamps the datagram, unless the socket asked for both
	 * (OPT_TX_SWHW), as on Linux; the SCHED record never does.
	 */
	sched = (tx->tx_flags & SOF_TIMESTAMPING_TX_SCHED) != 0;
	snd = (tx->tx_flags & SOF_TIMESTAMPING_TX_SOFTWARE) != 0 &&
	    !(tx->tx_hwtaken && (tx->tx_flags & swhw) ==
	    SOF_TIMESTAMPING_TX_HARDWARE);
	payload = tx->tx_payload;
	tx->tx_payload = NULL;
	if (!tx->tx_active || error != 0 || st == NULL || (!sched && !snd)) {
		left = tx->tx_hwleft;
		if (tx->tx_swid != 0) {
			(void)so_tstamp_req_sw_end(tx->tx_swid, &sw, NULL);
			left = left || sw.sw_left;
		}
		/*
		 * A datagram none of which was sent gives its OPT_ID key
		 * back, as on Linux, so keys count the datagrams that
		 * left; one whose first fragment left keeps it (a record
		 * may come for it).  The socket lock was held since
		 * tx_begin: no other send took a key meanwhile.
		 */
		if (error != 0 && !left && tx->tx_keyed && st != NULL &&
		    st->st_key == tx->tx_key + 1)
			st->st_key--;
		m_freem(payload);
		return;
	}
	/* Each record gets its own copy of the payload. */
	sndpl = NULL;
	if (snd && !sched) {
		sndpl = payload;
		payload = NULL;
	} else if (snd && payload != NULL)
		sndpl = m_copypacket(payload, M_DONTWAIT);
	pending = tstamp_tx_handoff(tx, &sw, snd ? &sndpl : NULL);
	tstamp_txrec_init(&r, tx, tx->tx_flags, tx->tx_key, sw.sw_ifindex);
	if (sched) {
		r.tr_info = SCM_TSTAMP_SCHED;
		r.tr_swns = sw.sw_schedns;
		(void)so_tstamp_tx_record(so, &r, payload);
	} else
		m_freem(payload);
	/* Pending: the packet is in a send queue, SND comes later. */
	if (snd && !pending) {
		r.tr_info = SCM_TSTAMP_SND;
		r.tr_swns = sw.sw_sndns;
		(void)so_tstamp_tx_record(so, &r, sndpl);
	} else
		m_freem(sndpl);
}

/*
 * Stream sockets (TCP), TX, as Linux: a write asking for TX_SCHED,
 * TX_SOFTWARE or TX_ACK gets a mark on its last byte; the first
 * transmission of the segment carrying that byte gives the SCHED and
 * SND records (so_tstamp_stream_out(), the same requests as datagrams),
 * the peer's acknowledgement of it the ACK record.  With OPT_ID the key
 * is the byte's offset in the stream, counted from the first byte
 * written after OPT_ID was turned on (Linux's OPT_ID_TCP).  Records
 * carry no payload.  All under the socket lock.
 */
#define	TSTAMP_TXF_STREAM	(SOF_TIMESTAMPING_TX_SCHED | \
				 SOF_TIMESTAMPING_TX_SOFTWARE | \
				 SOF_TIMESTAMPING_TX_ACK)

static inline struct so_tstamp_txmark *
tstamp_txmark(struct so_tstamp *st, u_int i)
{

	return &st->st_txmarks[(st->st_txmhead + i) % TSTAMP_TXMARKS];
}

/* Forget the oldest mark. */
static void
tstamp_txmark_pop(struct so_tstamp *st)
{

	KASSERT(st->st_ntxm > 0);
	st->st_txmhead = (st->st_txmhead + 1) % TSTAMP_TXMARKS;
	st->st_ntxm--;
}

/*
 * The write being handed to TCP ended: mark its last byte.  If that
 * byte already left while the write went on (it ended early: a
 * non-blocking socket ran out of buffer space, a signal), the write
 * gets no records, as on Linux, whose mark goes on an unsent segment.
 */
static void
tstamp_stream_wclose(struct socket *so, struct so_tstamp *st)
{
	struct so_tstamp_txmark *mk;

	st->st_wopen = false;
	if (st->st_wsent)
		return;
	if (st->st_ntxm == TSTAMP_TXMARKS) {
		/* Too many writes waiting: the oldest loses its records. */
		tstamp_txmark_pop(st);
		so_tstamp_errq_dropped(so);
	}
	mk = tstamp_txmark(st, st->st_ntxm++);
	mk->tm_seq = st->st_wseq;
	mk->tm_key = (st->st_wflags & SOF_TIMESTAMPING_OPT_ID) ?
	    mk->tm_seq - st->st_txbase : 0;
	mk->tm_flags = st->st_wflags;
	mk->tm_sent = mk->tm_inflight = false;
}

/*
 * tcp_send(), before it appends m, whose first byte has sequence
 * number seq, to the send buffer.  sosend() hands a write to TCP one
 * chunk at a time, with SS_MORETOCOME on all but the last: the write
 * stays open (st_wseq follows its last byte so far) until its last
 * chunk, so it gets one mark, on its last byte, whatever its size.
 */
void
so_tstamp_stream_send(struct socket *so, uint32_t seq, const struct mbuf *m)
{
	struct so_tstamp *st = so->so_tstamp;
	uint32_t len = 0;
	int flags;

	KASSERT(solocked(so));
	if (st == NULL)
		return;
	for (; m != NULL; m = m->m_next)
		len += m->m_len;
	if (len == 0)
		return;
	if ((st->st_flags & SOF_TIMESTAMPING_OPT_ID) && !st->st_txbased) {
		st->st_txbase = seq;
		st->st_txbased = true;
	}
	flags = tstamp_txflags(st);
	if ((flags & TSTAMP_TXF_STREAM) == 0)
		return;
	st->st_wopen = true;
	st->st_wsent = false;
	st->st_wseq = seq + len - 1;
	st->st_wflags = flags;
	if ((so->so_state & SS_MORETOCOME) == 0)
		tstamp_stream_wclose(so, st);
}

/*
 * SO_TSTAMP_STREAM_OUT: segment m carries len bytes from sequence
 * number seq.  The writes whose last byte it sends for the first time
 * (not necessarily neighbours in the ring: a segment that failed to
 * go leaves its marks unsent) share one request, made for the last of
 * them that wants SND, or else the last one.
 */
void
so_tstamp_stream_out(struct so_tstamp_tx *tx, struct socket *so,
    struct mbuf *m, uint32_t seq, size_t len)
{
	struct so_tstamp *st = so->so_tstamp;
	struct so_tstamp_txmark *mk;
	int want = 0;
	u_int i;

	KASSERT(solocked(so));
	memset(tx, 0, sizeof(*tx));
	if (len == 0)
		return;
	/*
	 * The open write's last byte so far goes now (TCP sends what it
	 * has while the write goes on): if the write ends there, it
	 * gets no records (tstamp_stream_wclose()).
	 */
	if (st->st_wopen && !SEQ_LT(st->st_wseq, seq) &&
	    SEQ_LT(st->st_wseq, seq + (uint32_t)len))
		st->st_wsent = true;
	for (i = 0; i < st->st_ntxm; i++) {
		mk = tstamp_txmark(st, i);
		if (mk->tm_sent || SEQ_LT(mk->tm_seq, seq))
			continue;
		if (!SEQ_LT(mk->tm_seq, seq + (uint32_t)len))
			break;
		mk->tm_sent = mk->tm_inflight = true;
		want |= mk->tm_flags;
		if (tx->tx_nmarks++ == 0 ||
		    (mk->tm_flags & SOF_TIMESTAMPING_TX_SOFTWARE) ||
		    (tstamp_txmark(st, tx->tx_mark)->tm_flags &
		    SOF_TIMESTAMPING_TX_SOFTWARE) == 0)
			tx->tx_mark = i;
	}
	if (tx->tx_nmarks == 0)
		return;
	mk = tstamp_txmark(st, tx->tx_mark);
	tx->tx_flags = mk->tm_flags | SOF_TIMESTAMPING_OPT_TSONLY;
	tx->tx_key = mk->tm_key;
	tstamp_tx_cmsg(tx, so);
	if (want & (SOF_TIMESTAMPING_TX_SCHED | SOF_TIMESTAMPING_TX_SOFTWARE)) {
		tx->tx_active = true;
		tx->tx_swid = so_tstamp_req_sw(so, m, tx);
	}
}

/*
 * SO_TSTAMP_STREAM_OUT_END: the segment's output returned error.  A
 * segment that was not sent leaves its marks for the next one.
 */
void
so_tstamp_stream_out_end(struct so_tstamp_tx *tx, struct socket *so,
    int error)
{
	struct so_tstamp *st = so->so_tstamp;
	struct so_tstamp_txmark *mk;
	struct so_tstamp_txrec r;
	struct so_tstamp_sw sw;
	struct mbuf *none = NULL;
	bool pending;
	u_int i;

	KASSERT(solocked(so));
	if (error != 0) {
		if (tx->tx_swid != 0)
			(void)so_tstamp_req_sw_end(tx->tx_swid, &sw, NULL);
		for (i = 0; i < st->st_ntxm; i++) {
			mk = tstamp_txmark(st, i);
			if (mk->tm_inflight)
				mk->tm_sent = mk->tm_inflight = false;
		}
		return;
	}
	pending = tstamp_tx_handoff(tx, &sw,
	    (tx->tx_flags & SOF_TIMESTAMPING_TX_SOFTWARE) ? &none : NULL);
	for (i = 0; i < st->st_ntxm; i++) {
		mk = tstamp_txmark(st, i);
		if (!mk->tm_inflight)
			continue;
		mk->tm_inflight = false;
		tstamp_txrec_init(&r, tx, mk->tm_flags, mk->tm_key,
		    sw.sw_ifindex);
		if (mk->tm_flags & SOF_TIMESTAMPING_TX_SCHED) {
			r.tr_info = SCM_TSTAMP_SCHED;
			r.tr_swns = sw.sw_schedns;
			(void)so_tstamp_tx_record(so, &r, NULL);
		}
		/*
		 * The request's SND, if still due, is its write's; other
		 * writes ending in the same segment take SCHED's instant.
		 */
		if ((mk->tm_flags & SOF_TIMESTAMPING_TX_SOFTWARE) &&
		    !(pending && i == tx->tx_mark)) {
			r.tr_info = SCM_TSTAMP_SND;
			r.tr_swns = pending ? sw.sw_schedns : sw.sw_sndns;
			(void)so_tstamp_tx_record(so, &r, NULL);
		}
	}
	/* Sent marks that wait for no acknowledgement are done. */
	while (st->st_ntxm > 0 && (mk = tstamp_txmark(st, 0))->tm_sent &&
	    (mk->tm_flags & SOF_TIMESTAMPING_TX_ACK) == 0)
		tstamp_txmark_pop(st);
}

/* SO_TSTAMP_STREAM_ACKED: the peer acknowledged the bytes before una. */
void
so_tstamp_stream_acked(struct socket *so, uint32_t una)
{
	struct so_tstamp *st = so->so_tstamp;
	struct so_tstamp_txmark *mk;
	struct so_tstamp_txrec r;
	struct so_tstamp_tx tx;
	uint64_t now = 0;

	KASSERT(solocked(so));
	while (st->st_ntxm > 0 &&
	    SEQ_LT((mk = tstamp_txmark(st, 0))->tm_seq, una)) {
		if (mk->tm_flags & SOF_TIMESTAMPING_TX_ACK) {
			if (now == 0)
				now = tstamp_now();
			memset(&tx, 0, sizeof(tx));
			tx.tx_flags = mk->tm_flags;
			tstamp_tx_cmsg(&tx, so);
			tstamp_txrec_init(&r, &tx, mk->tm_flags, mk->tm_key, 0);
			r.tr_info = SCM_TSTAMP_ACK;
			r.tr_swns = now;
			(void)so_tstamp_tx_record(so, &r, NULL);
		}
		tstamp_txmark_pop(st);
	}
}

/*
 * recvmsg(MSG_ERRQUEUE): dequeue one record; never blocks.  Called
 * unlocked from soreceive().
 */
int
so_tstamp_errq_receive(struct socket *so, struct uio *uio,
    struct mbuf **controlp, int *flagsp)
{
	struct so_tstamp *st;
	struct mbuf *rec, *ctl, **cp, *m;
	u_long bytes, storage;
	size_t len;
	int error = 0, flags, outflags = MSG_ERRQUEUE;

	flags = flagsp != NULL ? *flagsp : 0;
	solock(so);
	st = so->so_tstamp;
	if (st == NULL || (rec = st->st_errq) == NULL) {
		sounlock(so);
		return EWOULDBLOCK;
	}
	if (flags & MSG_PEEK) {
		rec = m_copym(rec, 0, M_COPYALL, M_DONTWAIT);
		if (rec == NULL) {
			sounlock(so);
			return ENOBUFS;
		}
	} else {
		if ((st->st_errq = rec->m_nextpkt) == NULL)
			st->st_errqtail = NULL;
		rec->m_nextpkt = NULL;
		tstamp_reccost(rec, &bytes, &storage);
		st->st_errqcc -= bytes;
		st->st_errqmbcnt -= storage;
	}
	sounlock(so);

	ctl = NULL;
	cp = &ctl;
	while (rec != NULL && rec->m_type == MT_CONTROL) {
		*cp = rec;
		cp = &rec->m_next;
		rec = rec->m_next;
	}
	*cp = NULL;
	for (m = rec; m != NULL && error == 0; m = m->m_next) {
		len = MIN(uio->uio_resid, (size_t)m->m_len);
		if (len < (size_t)m->m_len)
			outflags |= MSG_TRUNC;
		if (len > 0)
			error = uiomove(mtod(m, void *), len, uio);
	}
	m_freem(rec);
	if (controlp != NULL)
		*controlp = ctl;
	else
		m_freem(ctl);
	if (flagsp != NULL)
		*flagsp |= outflags;
	return error;
}

/*
 * A queued error record makes the socket report POLLERR, as on Linux
 * (select(2) then reports it readable and writable), and nothing
 * else: POLLRDBAND is select's exceptional condition, and with
 * POLLPRI what a TCP program takes for out-of-band data.  kqueue's
 * EVFILT_READ fires too (filt_soread(), SO_TSTAMP_ERRQ_PENDING), as
 * epoll reports EPOLLERR to every waiter.
 */
int
so_tstamp_poll(struct socket *so, int events)
{

	if (SO_TSTAMP_ERRQ_PENDING(so))
		return events & POLLERR;
	return 0;
}

SYSCTL_SETUP(sysctl_kern_sotstamp_setup, "sysctl kern.sotstamp setup")
{
	const struct sysctlnode *node = NULL;

	sysctl_createv(clog, 0, NULL, &node,
	    CTLFLAG_PERMANENT, CTLTYPE_NODE, "sotstamp",
	    SYSCTL_DESCR("Socket timestamping"),
	    NULL, 0, NULL, 0, CTL_KERN, CTL_CREATE, CTL_EOL);
	if (node == NULL)
		return;
#ifdef SOTSTAMP_ABLATE
	sysctl_createv(clog, 0, &node, NULL,
	    CTLFLAG_PERMANENT | CTLFLAG_READWRITE, CTLTYPE_INT, "ablate",
	    SYSCTL_DESCR("Test kernels: parts of RX stamp delivery left out"),
	    NULL, 0, &tstamp_ablate, 0, CTL_CREATE, CTL_EOL);
#endif
	sysctl_createv(clog, 0, &node, NULL,
	    CTLFLAG_PERMANENT | CTLFLAG_READONLY, CTLTYPE_INT, "rx_users",
	    SYSCTL_DESCR("Sockets that want receive software stamps"),
	    NULL, 0, (int *)__UNVOLATILE(&so_tstamp_rx_users), 0,
	    CTL_CREATE, CTL_EOL);
	sysctl_createv(clog, 0, &node, NULL,
	    CTLFLAG_PERMANENT | CTLFLAG_READONLY, CTLTYPE_INT, "states",
	    SYSCTL_DESCR("Sockets with timestamping state allocated"),
	    NULL, 0, (int *)&so_tstamp_nstates, 0,
	    CTL_CREATE, CTL_EOL);
	sysctl_createv(clog, 0, &node, NULL,
	    CTLFLAG_PERMANENT | CTLFLAG_READONLY, CTLTYPE_QUAD, "errq_drops",
	    SYSCTL_DESCR("Error queue records dropped, SO_RCVBUF full"),
	    NULL, 0, (int64_t *)&so_tstamp_errq_drops, 0,
	    CTL_CREATE, CTL_EOL);
}
