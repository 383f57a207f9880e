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
 * Pending TX timestamp requests, software and hardware.
 * See <sys/so_tstamp_req.h>.
 *
 * A datagram (or TCP segment) whose stamp may be taken after its
 * sender's output returned gets a request here and a packet tag naming
 * it by number: PACKET_TAG_SO_TSTAMP for the software hand-off stamps
 * (SCHED at the send queue, SND when the driver hands the packet to
 * the device), PACKET_TAG_HWTSTAMP_TX for a hardware stamp.  Numbers,
 * not pointers: a copied or long-dead tag names nothing or a request
 * no longer waiting, and is ignored.  Requests are found by number in
 * a hash table (ids are sequential, so the buckets stay even).
 *
 * Bounds.  There is no global limit, which one user's sockets could
 * fill for everyone.  A request is charged to its socket's receive
 * buffer, where its record will go: its own size and its payload copy
 * (a hardware record's, or a software SND record's that waits for a
 * packet in a send queue) against sb_mbmax, the payload's bytes against
 * sb_hiwat, next to what the buffer holds.  A socket past its buffer
 * gets no request (a software record is then stamped when its output
 * returns; no hardware record), so what it pins is what it could queue
 * anyway, and the user pays for it through the buffer sizes.
 *
 * Hardware requests die at the first interface that cannot stamp TX
 * (the SCHED/SND hooks, so_tstamp_tx_hwcap() says which can), as
 * Linux decides at output: over lo0 or a NIC without hardware TX
 * stamps nothing is held after the sender's output returns.  A frame
 * that never reaches an interface (dropped, waiting for address
 * resolution) leaves its request to the reaper after TSREQ_TIMEOUT; a
 * software request whose packet waits in a send queue is given
 * TSREQ_SW_TIMEOUT (a paused link).
 *
 * Contexts and locks.  Requests are made and freed under the socket
 * lock, which is softnet_lock for every socket that may ask (checked
 * when asked): by the sender, by so_tstamp_req_gone() and by the soft
 * interrupt that queues finished requests' records.  The hooks and the
 * drivers (up to IPL_NET) only find requests by number and move them
 * between states under tsreq_lock, an IPL_NET spin mutex that also
 * covers the hash table and the queues; every operation under it is
 * O(1) (the reaper's walk ends at the first request not yet due).
 * A socket keeps a list of its requests (struct so_tstamp_reqs, under
 * its lock) so that closing it looks at its own requests only, and a
 * socket that never asked does not look at all.
 */

#include <sys/cdefs.h>
__KERNEL_RCSID(0, "$NetBSD$");

#include <sys/param.h>
#include <sys/systm.h>
#include <sys/atomic.h>
#include <sys/callout.h>
#include <sys/evcnt.h>
#include <sys/intr.h>
#include <sys/kernel.h>
#include <sys/mbuf.h>
#include <sys/mutex.h>
#include <sys/pool.h>
#include <sys/queue.h>
#include <sys/so_tstamp.h>
#include <sys/so_tstamp_req.h>
#include <sys/socket.h>
#include <sys/socketvar.h>
#include <sys/sysctl.h>
#include <sys/time.h>

#include <net/errqueue.h>
#include <net/if.h>
#include <net/net_tstamp.h>

#define	TSREQ_HASHSIZE		512	/* buckets, a power of two */
#define	TSREQ_TIMEOUT		(2 * hz) /* for a frame to reach a driver */
#define	TSREQ_SW_TIMEOUT	(30 * hz) /* for a packet to leave a
					   * send queue */

struct tstamp_req {
	LIST_ENTRY(tstamp_req)	rq_hash;	/* tsreq_lock */
	TAILQ_ENTRY(tstamp_req)	rq_q;		/* tsreq_lock: the queue
						 * of rq_state, if any */
	LIST_ENTRY(tstamp_req)	rq_solink;	/* socket lock */
	uint64_t		rq_id;
	struct socket		*rq_so;		/* NULL: socket gone */
	struct mbuf		*rq_payload;	/* for the record, or NULL */
	u_long			rq_cc;		/* charged to rq_so */
	u_long			rq_mbcnt;
	uint64_t		rq_ns;		/* the stamp, 0 if none */
	uint64_t		rq_schedns;	/* sw: SCHED stamp, 0 if none */
	uint64_t		rq_hwid;	/* sw: the datagram's hardware
						 * request, 0 if none */
	struct so_tstamp_cmsg	rq_cmsg;	/* OPT_CMSG, taken at send */
	uint32_t		rq_key;		/* OPT_ID key */
	int			rq_flags;	/* SOF_* of the datagram */
	int			rq_ticks;	/* entered its queue */
	u_int			rq_ifindex;	/* sw: the interface */
	bool			rq_sw;		/* software SND request */
	bool			rq_async;	/* sw: the softint queues SND */
	bool			rq_hwtaken;	/* sw: a driver took rq_hwid */
	bool			rq_left;	/* reached an interface */
	enum {
		RQ_WAITING,	/* tag on a frame: tsreq_waitq */
		RQ_QUEUED,	/* sw: in a send queue: tsreq_sendq */
		RQ_TAKEN,	/* hw: a driver has the tag */
		RQ_DONE,	/* sw: stamped, for the sender to collect */
		RQ_FINISHED	/* for the soft interrupt: tsreq_doneq */
	}			rq_state;
};

TAILQ_HEAD(tsreq_queue, tstamp_req);
LIST_HEAD(tsreq_bucket, tstamp_req);

static kmutex_t		tsreq_lock;		/* IPL_NET: all below */
static struct tsreq_bucket tsreq_hash[TSREQ_HASHSIZE];
static struct tsreq_queue tsreq_waitq = TAILQ_HEAD_INITIALIZER(tsreq_waitq);
static struct tsreq_queue tsreq_sendq = TAILQ_HEAD_INITIALIZER(tsreq_sendq);
static struct tsreq_queue tsreq_doneq = TAILQ_HEAD_INITIALIZER(tsreq_doneq);
static uint64_t		tsreq_nextid = 1;
static u_int		tsreq_nhw;		/* hardware requests */
static struct pool	tsreq_pool;		/* of struct tstamp_req */
static void		*tsreq_sih;
static callout_t	tsreq_reaper;

volatile u_int		so_tstamp_tx_pending;	/* all requests */

/*
 * Interfaces whose driver calls SO_TSTAMP_TX_SND, and those that stamp
 * TX in hardware now, by if_index; an interface past the maps gets SND
 * with SCHED, as one without the hook, and no hardware stamps.
 */
#define	TSREQ_IFMAP_BITS	256
static volatile uint32_t tsreq_sndmap[TSREQ_IFMAP_BITS / 32];
static volatile uint32_t tsreq_hwmap[TSREQ_IFMAP_BITS / 32];

static struct evcnt tsreq_ev_hwreq = EVCNT_INITIALIZER(EVCNT_TYPE_MISC,
    NULL, "hwtstamp", "tx requests");
static struct evcnt tsreq_ev_stamp = EVCNT_INITIALIZER(EVCNT_TYPE_MISC,
    NULL, "hwtstamp", "tx stamps queued");
static struct evcnt tsreq_ev_nostamp = EVCNT_INITIALIZER(EVCNT_TYPE_MISC,
    NULL, "hwtstamp", "tx requests discarded by driver");
static struct evcnt tsreq_ev_nohw = EVCNT_INITIALIZER(EVCNT_TYPE_MISC,
    NULL, "hwtstamp", "tx requests at an interface without hw stamps");
static struct evcnt tsreq_ev_reaped = EVCNT_INITIALIZER(EVCNT_TYPE_MISC,
    NULL, "hwtstamp", "tx requests no driver took");
static struct evcnt tsreq_ev_orphan = EVCNT_INITIALIZER(EVCNT_TYPE_MISC,
    NULL, "hwtstamp", "tx stamps for closed sockets");
static struct evcnt tsreq_ev_full = EVCNT_INITIALIZER(EVCNT_TYPE_MISC,
    NULL, "hwtstamp", "tx requests refused, SO_RCVBUF full");
static struct evcnt tsreq_ev_qfull = EVCNT_INITIALIZER(EVCNT_TYPE_MISC,
    NULL, "hwtstamp", "tx stamps dropped, SO_RCVBUF full");
EVCNT_ATTACH_STATIC(tsreq_ev_hwreq);
EVCNT_ATTACH_STATIC(tsreq_ev_stamp);
EVCNT_ATTACH_STATIC(tsreq_ev_nostamp);
EVCNT_ATTACH_STATIC(tsreq_ev_nohw);
EVCNT_ATTACH_STATIC(tsreq_ev_reaped);
EVCNT_ATTACH_STATIC(tsreq_ev_orphan);
EVCNT_ATTACH_STATIC(tsreq_ev_full);
EVCNT_ATTACH_STATIC(tsreq_ev_qfull);

static void	tsreq_softint(void *);
static void	tsreq_reap(void *);

/*
 * Boot (soinit1(), process context, soft interrupts up): everything a
 * request needs, so that a socket may ask from its first sendmsg(),
 * by control message too, without any setsockopt() before.
 */
void
so_tstamp_req_init(void)
{
	u_int i;

	mutex_init(&tsreq_lock, MUTEX_DEFAULT, IPL_NET);
	for (i = 0; i < TSREQ_HASHSIZE; i++)
		LIST_INIT(&tsreq_hash[i]);
	/* A pool: requests are freed in the soft interrupt. */
	pool_init(&tsreq_pool, sizeof(struct tstamp_req), 0, 0, 0, "tsreq",
	    NULL, IPL_NET);
	callout_init(&tsreq_reaper, 0);
	callout_setfunc(&tsreq_reaper, tsreq_reap, NULL);
	tsreq_sih = softint_establish(SOFTINT_NET, tsreq_softint, NULL);
	KASSERT(tsreq_sih != NULL);
}

static inline struct tsreq_bucket *
tsreq_bucket(uint64_t id)
{

	return &tsreq_hash[id & (TSREQ_HASHSIZE - 1)];
}

/* Request id, if it still exists (tsreq_lock held). */
static struct tstamp_req *
tsreq_find(uint64_t id)
{
	struct tstamp_req *rq;

	KASSERT(mutex_owned(&tsreq_lock));
	LIST_FOREACH(rq, tsreq_bucket(id), rq_hash)
		if (rq->rq_id == id)
			return rq;
	return NULL;
}

/* The request a tag names (tsreq_lock held). */
static struct tstamp_req *
tsreq_lookup(const struct m_tag *mt)
{
	uint64_t id;

	memcpy(&id, mt + 1, sizeof(id));
	return tsreq_find(id);
}

/* rq leaves the queue of its state (tsreq_lock held). */
static void
tsreq_dequeue(struct tstamp_req *rq)
{

	KASSERT(mutex_owned(&tsreq_lock));
	switch (rq->rq_state) {
	case RQ_WAITING:
		TAILQ_REMOVE(&tsreq_waitq, rq, rq_q);
		break;
	case RQ_QUEUED:
		TAILQ_REMOVE(&tsreq_sendq, rq, rq_q);
		break;
	case RQ_FINISHED:
		TAILQ_REMOVE(&tsreq_doneq, rq, rq_q);
		break;
	default:
		break;
	}
}

/* rq can no longer be found (tsreq_lock held); free it after. */
static void
tsreq_unhash(struct tstamp_req *rq)
{

	KASSERT(mutex_owned(&tsreq_lock));
	tsreq_dequeue(rq);
	LIST_REMOVE(rq, rq_hash);
	if (!rq->rq_sw)
		tsreq_nhw--;
	atomic_dec_uint(&so_tstamp_tx_pending);
}

/*
 * rq is done with (unhashed, socket lock held): its socket, if still
 * there, is charged no more.
 */
static void
tsreq_free(struct tstamp_req *rq)
{
	struct so_tstamp_reqs *sr;

	if (rq->rq_so != NULL) {
		KASSERT(solocked(rq->rq_so));
		sr = &rq->rq_so->so_tstamp->st_reqs;
		LIST_REMOVE(rq, rq_solink);
		KASSERT(sr->sr_cc >= rq->rq_cc);
		KASSERT(sr->sr_mbcnt >= rq->rq_mbcnt);
		sr->sr_cc -= rq->rq_cc;
		sr->sr_mbcnt -= rq->rq_mbcnt;
	}
	m_freem(rq->rq_payload);
	pool_put(&tsreq_pool, rq);
}

/* rq is finished with stamp ns, 0 if none (tsreq_lock held). */
static void
tsreq_finish(struct tstamp_req *rq, uint64_t ns)
{

	KASSERT(mutex_owned(&tsreq_lock));
	tsreq_dequeue(rq);
	rq->rq_ns = ns;
	rq->rq_state = RQ_FINISHED;
	TAILQ_INSERT_TAIL(&tsreq_doneq, rq, rq_q);
}

/* What mbuf chain m costs a socket buffer, as sballoc() counts it. */
static void
tsreq_cost(const struct mbuf *m, u_long *cc, u_long *mbcnt)
{

	for (; m != NULL; m = m->m_next) {
		*cc += m->m_len;
		*mbcnt += MSIZE;
		if (m->m_flags & M_EXT)
			*mbcnt += m->m_ext.ext_size;
	}
}

/*
 * Does so's receive buffer have room for cc more bytes and mbcnt more
 * storage of requests (socket locked)?
 */
static bool
tsreq_room(struct socket *so, u_long cc, u_long mbcnt)
{
	const struct so_tstamp_reqs *sr = &so->so_tstamp->st_reqs;
	const struct sockbuf *sb = &so->so_rcv;

	KASSERT(solocked(so));
	return sr->sr_cc + sb->sb_cc + cc <= sb->sb_hiwat &&
	    sr->sr_mbcnt + sb->sb_mbcnt + mbcnt <= sb->sb_mbmax;
}

static void
tsreq_charge(struct socket *so, struct tstamp_req *rq, u_long cc,
    u_long mbcnt)
{
	struct so_tstamp_reqs *sr = &so->so_tstamp->st_reqs;

	KASSERT(solocked(so));
	rq->rq_cc += cc;
	rq->rq_mbcnt += mbcnt;
	sr->sr_cc += cc;
	sr->sr_mbcnt += mbcnt;
}

/*
 * Datagram m of so asks for a hardware TX stamp, or (sw) software
 * ones; socket locked.  Returns the request's number, 0 if it got none.
 */
static uint64_t
tsreq_new(struct socket *so, struct mbuf *m, const struct so_tstamp_tx *tx,
    bool sw)
{
	struct tstamp_req *rq;
	struct m_tag *mt;
	struct mbuf *payload = NULL;
	u_long cc = 0, mbcnt;
	uint64_t id;

	KASSERT(solocked(so));
	if (so->so_lock != softnet_lock || so->so_tstamp == NULL ||
	    (m->m_flags & M_PKTHDR) == 0)
		return 0;
	mbcnt = sizeof(*rq) + sizeof(*mt) + sizeof(id);
	/* A software request gets a payload only if it outlives tx_end. */
	if (!sw && (tx->tx_flags & SOF_TIMESTAMPING_OPT_TSONLY) == 0)
		cc = m->m_pkthdr.len;
	if (!tsreq_room(so, cc, mbcnt)) {
		tsreq_ev_full.ev_count++;
		return 0;
	}
	if (cc != 0 && (payload = m_copypacket(m, M_DONTWAIT)) == NULL)
		return 0;
	rq = pool_get(&tsreq_pool, PR_NOWAIT);
	mt = m_tag_get(sw ? PACKET_TAG_SO_TSTAMP : PACKET_TAG_HWTSTAMP_TX,
	    sizeof(id), M_NOWAIT);
	if (rq == NULL || mt == NULL) {
		if (rq != NULL)
			pool_put(&tsreq_pool, rq);
		if (mt != NULL)
			m_tag_free(mt);
		m_freem(payload);
		return 0;
	}
	memset(rq, 0, sizeof(*rq));
	rq->rq_so = so;
	rq->rq_payload = payload;
	rq->rq_key = tx->tx_key;
	rq->rq_flags = tx->tx_flags;
	rq->rq_cmsg = tx->tx_cmsg;
	rq->rq_sw = sw;
	/* The copy shares the datagram's clusters: charge them all. */
	cc = 0;
	tsreq_cost(payload, &cc, &mbcnt);
	tsreq_charge(so, rq, cc, mbcnt);
	LIST_INSERT_HEAD(&so->so_tstamp->st_reqs.sr_list, rq, rq_solink);
	so->so_tstamp->st_reqs.sr_used = true;

	mutex_spin_enter(&tsreq_lock);
	id = rq->rq_id = tsreq_nextid++;
	LIST_INSERT_HEAD(tsreq_bucket(id), rq, rq_hash);
	rq->rq_state = RQ_WAITING;
	rq->rq_ticks = hardclock_ticks;
	TAILQ_INSERT_TAIL(&tsreq_waitq, rq, rq_q);
	if (!sw)
		tsreq_nhw++;
	atomic_inc_uint(&so_tstamp_tx_pending);
	mutex_spin_exit(&tsreq_lock);

	memcpy(mt + 1, &id, sizeof(id));
	m_tag_prepend(m, mt);
	if (!callout_pending(&tsreq_reaper))
		callout_schedule(&tsreq_reaper, hz);
	return id;
}

/*
 * so_tstamp_tx_begin(), socket locked: datagram m wants SCHED or SND
 * records.  Returns the request's number, 0 if it got none (then the
 * records are stamped when the sender's output returns).
 */
uint64_t
so_tstamp_req_sw(struct socket *so, struct mbuf *m,
    const struct so_tstamp_tx *tx)
{

	return tsreq_new(so, m, tx, true);
}

/*
 * Protocol output (hwtstamp_tx_begin()), socket locked: datagram m
 * wants a hardware TX stamp; after so_tstamp_tx_begin(), whose
 * software request, if any, learns of it.
 */
uint64_t
so_tstamp_req_hw(struct socket *so, struct mbuf *m,
    const struct so_tstamp_tx *tx)
{
	struct tstamp_req *rq;
	uint64_t id;

	if ((id = tsreq_new(so, m, tx, false)) == 0)
		return 0;
	tsreq_ev_hwreq.ev_count++;
	if (tx->tx_swid != 0) {
		mutex_spin_enter(&tsreq_lock);
		if ((rq = tsreq_find(tx->tx_swid)) != NULL)
			rq->rq_hwid = id;
		mutex_spin_exit(&tsreq_lock);
	}
	return id;
}

/* Did a driver take hardware request id (tsreq_lock held)? */
static bool
tsreq_hwtaken(uint64_t id)
{
	const struct tstamp_req *rq;

	KASSERT(mutex_owned(&tsreq_lock));
	if ((rq = tsreq_find(id)) == NULL)
		return false;
	return rq->rq_state == RQ_TAKEN ||
	    (rq->rq_state == RQ_FINISHED && rq->rq_ns != 0);
}

/*
 * Hardware request id's datagram output returned error (socket
 * locked): did a driver take the request, and did any of the datagram
 * reach an interface (*leftp)?  A request that died at an interface
 * without hardware stamps is freed now rather than by the soft
 * interrupt, and so is one whose datagram failed before any of it
 * reached an interface (its frames are gone; without an error a frame
 * may still wait for address resolution, and the reaper has it).
 */
bool
so_tstamp_req_hw_end(uint64_t id, int error, bool *leftp)
{
	struct tstamp_req *rq;
	bool taken = false, dead = false;

	*leftp = false;
	mutex_spin_enter(&tsreq_lock);
	if ((rq = tsreq_find(id)) != NULL) {
		taken = tsreq_hwtaken(id);
		*leftp = rq->rq_left;
		if ((rq->rq_state == RQ_FINISHED && rq->rq_ns == 0) ||
		    (rq->rq_state == RQ_WAITING && error != 0 &&
		    !rq->rq_left)) {
			tsreq_unhash(rq);
			dead = true;
		}
	}
	mutex_spin_exit(&tsreq_lock);
	if (dead) {
		KASSERT(rq->rq_so == NULL || solocked(rq->rq_so));
		tsreq_free(rq);
	}
	return taken;
}

/*
 * so_tstamp_tx_end(), socket locked: what became of software request
 * id.  *sw gets the stamps seen so far.  With sndp (SND wanted, the
 * datagram was sent) and SND still due, the request keeps waiting,
 * takes *sndp (the SND record's payload, may be NULL), if the socket
 * has room for it, and returns true: the soft interrupt queues the
 * record.  Otherwise the request is gone when this returns.
 */
bool
so_tstamp_req_sw_end(uint64_t id, struct so_tstamp_sw *sw, struct mbuf **sndp)
{
	struct tstamp_req *rq;
	u_long cc = 0, mbcnt = 0;
	bool pending = false, room = false, dead = false;

	memset(sw, 0, sizeof(*sw));
	mutex_spin_enter(&tsreq_lock);
	rq = tsreq_find(id);
	if (rq != NULL && rq->rq_so != NULL && sndp != NULL &&
	    rq->rq_state == RQ_QUEUED) {
		/* Only now may it hold a payload: charge it. */
		mutex_spin_exit(&tsreq_lock);
		tsreq_cost(*sndp, &cc, &mbcnt);
		room = tsreq_room(rq->rq_so, cc, mbcnt);
		mutex_spin_enter(&tsreq_lock);
	}
	/* A finished request (reaped) is the soft interrupt's. */
	if (rq != NULL && rq->rq_state != RQ_FINISHED) {
		sw->sw_schedns = rq->rq_schedns;
		sw->sw_ifindex = rq->rq_ifindex;
		sw->sw_left = rq->rq_left;
		if (rq->rq_state == RQ_DONE)
			sw->sw_sndns = rq->rq_ns;
		if (rq->rq_state == RQ_QUEUED && room) {
			rq->rq_payload = *sndp;
			*sndp = NULL;
			rq->rq_async = true;
			pending = true;
		} else {
			tsreq_unhash(rq);
			dead = true;
		}
	}
	mutex_spin_exit(&tsreq_lock);
	/* The soft interrupt needs softnet_lock, which the sender holds. */
	if (pending)
		tsreq_charge(rq->rq_so, rq, cc, mbcnt);
	if (dead)
		tsreq_free(rq);
	return pending;
}

static inline bool
tsreq_ifmap(const volatile uint32_t *map, const struct ifnet *ifp)
{
	u_int i = ifp->if_index;

	return i < TSREQ_IFMAP_BITS && (map[i / 32] & (1U << (i % 32))) != 0;
}

static void
tsreq_ifmap_set(volatile uint32_t *map, const struct ifnet *ifp, bool on)
{
	u_int i = ifp->if_index;

	if (i >= TSREQ_IFMAP_BITS)
		return;
	if (on)
		atomic_or_32(&map[i / 32], 1U << (i % 32));
	else
		atomic_and_32(&map[i / 32], ~(1U << (i % 32)));
}

/* Driver attach/detach: ifp's driver calls SO_TSTAMP_TX_SND, or not. */
void
so_tstamp_tx_driver(struct ifnet *ifp, bool snd)
{

	tsreq_ifmap_set(tsreq_sndmap, ifp, snd);
}

/* Driver configuration: ifp stamps TX in hardware from now on, or not. */
void
so_tstamp_tx_hwcap(struct ifnet *ifp, bool on)
{

	tsreq_ifmap_set(tsreq_hwmap, ifp, on);
}

static inline uint64_t
tsreq_now(void)
{
	struct timespec ts;

	nanouptime(&ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

/*
 * Software request of packet m: it reached the send queue of ifp (snd
 * false) or its device (snd true) at uptime ns.  The first SCHED and
 * the first SND count; a copy of the packet carrying the same tag
 * finds the request done and is ignored.  Up to IPL_NET.
 */
static void
tsreq_sw_stamp(struct ifnet *ifp, struct mbuf *m, uint64_t ns, bool snd)
{
	struct m_tag *mt;
	struct tstamp_req *rq;
	bool wake = false;

	if ((mt = m_tag_find(m, PACKET_TAG_SO_TSTAMP, NULL)) == NULL)
		return;
	mutex_spin_enter(&tsreq_lock);
	rq = tsreq_lookup(mt);
	if (rq != NULL && rq->rq_sw && (rq->rq_state == RQ_WAITING ||
	    rq->rq_state == RQ_QUEUED)) {
		rq->rq_left = true;
		if (rq->rq_state == RQ_WAITING) {
			TAILQ_REMOVE(&tsreq_waitq, rq, rq_q);
			rq->rq_schedns = ns;
			rq->rq_ifindex = ifp->if_index;
			rq->rq_state = RQ_QUEUED;
			rq->rq_ticks = hardclock_ticks;
			TAILQ_INSERT_TAIL(&tsreq_sendq, rq, rq_q);
		}
		if (snd) {
			rq->rq_ifindex = ifp->if_index;
			/* Drivers take the hardware request first. */
			if (rq->rq_hwid != 0)
				rq->rq_hwtaken = tsreq_hwtaken(rq->rq_hwid);
			if (rq->rq_async) {
				tsreq_finish(rq, ns);
				wake = true;
			} else {
				TAILQ_REMOVE(&tsreq_sendq, rq, rq_q);
				rq->rq_ns = ns;
				rq->rq_state = RQ_DONE;
			}
		}
	} else
		rq = NULL;
	mutex_spin_exit(&tsreq_lock);
	/* The driver still needs a tag it may take: keep it till SND. */
	if (rq == NULL || snd)
		m_tag_delete(m, mt);
	if (wake)
		softint_schedule(tsreq_sih);
}

/*
 * Hardware request of frame m at interface ifp: it reached an
 * interface, and if that cannot stamp TX, it is finished without a
 * stamp now, as Linux decides at output.  Up to IPL_NET.
 */
static void
tsreq_hw_output(struct ifnet *ifp, struct mbuf *m)
{
	struct m_tag *mt;
	struct tstamp_req *rq;
	bool cap, wake = false;

	if ((mt = m_tag_find(m, PACKET_TAG_HWTSTAMP_TX, NULL)) == NULL)
		return;
	cap = tsreq_ifmap(tsreq_hwmap, ifp);
	mutex_spin_enter(&tsreq_lock);
	if ((rq = tsreq_lookup(mt)) != NULL && rq->rq_state == RQ_WAITING) {
		rq->rq_left = true;
		if (!cap) {
			tsreq_finish(rq, 0);
			wake = true;
		}
	}
	mutex_spin_exit(&tsreq_lock);
	if (!cap) {
		m_tag_delete(m, mt);
		tsreq_ev_nohw.ev_count++;
	}
	if (wake)
		softint_schedule(tsreq_sih);
}

/* SO_TSTAMP_TX_SCHED: m is handed to ifp's send queue (up to IPL_NET). */
void
so_tstamp_tx_sched(struct ifnet *ifp, struct mbuf *m)
{

	if ((m->m_flags & M_PKTHDR) == 0)
		return;
	tsreq_sw_stamp(ifp, m, tsreq_now(),
	    !tsreq_ifmap(tsreq_sndmap, ifp));
	tsreq_hw_output(ifp, m);
}

/* SO_TSTAMP_TX_SND: ifp's driver hands m to the device (up to IPL_NET). */
void
so_tstamp_tx_snd(struct ifnet *ifp, struct mbuf *m)
{

	if ((m->m_flags & M_PKTHDR) == 0)
		return;
	tsreq_sw_stamp(ifp, m, tsreq_now(), true);
	tsreq_hw_output(ifp, m);
}

/*
 * SO_TSTAMP_TX_COPY: m is a copy (ip_mloopback), not the packet: its
 * tags must not stamp, or end, the sender's requests.
 */
void
so_tstamp_tx_copy(struct mbuf *m)
{
	struct m_tag *mt;

	if ((m->m_flags & M_PKTHDR) == 0)
		return;
	if ((mt = m_tag_find(m, PACKET_TAG_SO_TSTAMP, NULL)) != NULL)
		m_tag_delete(m, mt);
	if ((mt = m_tag_find(m, PACKET_TAG_HWTSTAMP_TX, NULL)) != NULL)
		m_tag_delete(m, mt);
}

/*
 * SO_TSTAMP_TX_MOVE: packet from is replaced by to (ip6_output()'s
 * first fragment, a new mbuf): to carries its requests from now on.
 */
void
so_tstamp_tx_move(struct mbuf *to, struct mbuf *from)
{
	static const int types[] = { PACKET_TAG_SO_TSTAMP,
	    PACKET_TAG_HWTSTAMP_TX };
	struct m_tag *mt;
	u_int i;

	if ((to->m_flags & M_PKTHDR) == 0 || (from->m_flags & M_PKTHDR) == 0)
		return;
	for (i = 0; i < __arraycount(types); i++) {
		if ((mt = m_tag_find(from, types[i], NULL)) != NULL) {
			m_tag_unlink(from, mt);
			m_tag_prepend(to, mt);
		}
	}
}

/*
 * Socket so is being freed (so_tstamp_free(), from soput()): its
 * requests forget it.  Taking softnet_lock waits for the soft
 * interrupt to finish with it.  A socket that can have requests (its
 * lock is softnet_lock) reaches soput() only from sofree(), which
 * dropped that lock; the one caller holding it, sonewconn()'s failure
 * path, frees a socket that never sent.
 */
void
so_tstamp_req_gone(struct socket *so, struct so_tstamp_reqs *sr)
{
	struct tstamp_req *rq;

	if (!sr->sr_used)
		return;
	KASSERT(!mutex_owned(softnet_lock));
	mutex_enter(softnet_lock);
	while ((rq = LIST_FIRST(&sr->sr_list)) != NULL) {
		LIST_REMOVE(rq, rq_solink);
		rq->rq_so = NULL;
	}
	sr->sr_cc = sr->sr_mbcnt = 0;
	mutex_exit(softnet_lock);
}

/*
 * Drivers.
 */

/* Does frame m carry a hardware request still waiting for a driver? */
bool
so_tstamp_req_hw_wanted(struct mbuf *m)
{
	struct m_tag *mt;
	struct tstamp_req *rq;
	bool wanted;

	if ((m->m_flags & M_PKTHDR) == 0 ||
	    (mt = m_tag_find(m, PACKET_TAG_HWTSTAMP_TX, NULL)) == NULL)
		return false;
	mutex_spin_enter(&tsreq_lock);
	rq = tsreq_lookup(mt);
	wanted = rq != NULL && rq->rq_state == RQ_WAITING;
	mutex_spin_exit(&tsreq_lock);
	return wanted;
}

/* A driver takes frame m's hardware request (its tag), or NULL. */
struct m_tag *
so_tstamp_req_hw_take(struct mbuf *m)
{
	struct m_tag *mt;
	struct tstamp_req *rq;

	if ((m->m_flags & M_PKTHDR) == 0 ||
	    (mt = m_tag_find(m, PACKET_TAG_HWTSTAMP_TX, NULL)) == NULL)
		return NULL;
	m_tag_unlink(m, mt);
	mutex_spin_enter(&tsreq_lock);
	rq = tsreq_lookup(mt);
	if (rq != NULL && rq->rq_state == RQ_WAITING) {
		TAILQ_REMOVE(&tsreq_waitq, rq, rq_q);
		rq->rq_state = RQ_TAKEN;
		rq->rq_left = true;
	} else
		rq = NULL;
	mutex_spin_exit(&tsreq_lock);
	if (rq == NULL) {
		m_tag_free(mt);
		return NULL;
	}
	return mt;
}

/* The driver is done with a request it took: stamp ns, 0 if none. */
void
so_tstamp_req_hw_finish(struct m_tag *mt, uint64_t ns)
{
	struct tstamp_req *rq;

	if (mt == NULL)
		return;
	if (ns == 0)
		tsreq_ev_nostamp.ev_count++;
	mutex_spin_enter(&tsreq_lock);
	if ((rq = tsreq_lookup(mt)) != NULL && rq->rq_state == RQ_TAKEN)
		tsreq_finish(rq, ns);
	else
		rq = NULL;
	mutex_spin_exit(&tsreq_lock);
	m_tag_free(mt);
	if (rq != NULL)
		softint_schedule(tsreq_sih);
}

/*
 * The error queue record of a finished request: a hardware stamp, or a
 * software SND stamp taken after the sender's output returned (socket
 * locked).
 */
static void
tsreq_record(struct socket *so, struct tstamp_req *rq)
{
	struct so_tstamp_txrec r;
	int error;

	KASSERT(solocked(so));
	memset(&r, 0, sizeof(r));
	r.tr_flags = rq->rq_flags;
	r.tr_key = rq->rq_key;
	r.tr_info = SCM_TSTAMP_SND;
	r.tr_cmsg = &rq->rq_cmsg;
	if (rq->rq_sw) {
		r.tr_swns = rq->rq_ns;
		r.tr_ifindex = rq->rq_ifindex;
	} else
		r.tr_hwns = rq->rq_ns;
	error = so_tstamp_tx_record(so, &r, rq->rq_payload);
	rq->rq_payload = NULL;
	if (rq->rq_sw)
		return;
	if (error == 0)
		tsreq_ev_stamp.ev_count++;
	else
		tsreq_ev_qfull.ev_count++;
}

/* Queue finished requests' records on their sockets, free them. */
static void
tsreq_softint(void *arg)
{
	const int swhw = SOF_TIMESTAMPING_TX_HARDWARE |
	    SOF_TIMESTAMPING_OPT_TX_SWHW;
	struct tstamp_req *rq;

	mutex_enter(softnet_lock);
	for (;;) {
		mutex_spin_enter(&tsreq_lock);
		if ((rq = TAILQ_FIRST(&tsreq_doneq)) != NULL)
			tsreq_unhash(rq);
		mutex_spin_exit(&tsreq_lock);
		if (rq == NULL)
			break;
		/*
		 * An async SND record gives way to the hardware one when
		 * a driver took the datagram's hardware request, unless
		 * OPT_TX_SWHW, as in so_tstamp_tx_end().
		 */
		if (rq->rq_ns != 0 && rq->rq_so == NULL)
			tsreq_ev_orphan.ev_count++;
		else if (rq->rq_ns != 0 && !(rq->rq_sw && rq->rq_hwtaken &&
		    (rq->rq_flags & swhw) == SOF_TIMESTAMPING_TX_HARDWARE))
			tsreq_record(rq->rq_so, rq);
		tsreq_free(rq);
	}
	mutex_exit(softnet_lock);
}

/*
 * Once a second while requests wait: finish those no driver took in
 * time; the soft interrupt frees them.  Both queues are in the order
 * their requests entered them, so each walk stops at the first one not
 * yet due.
 */
static void
tsreq_reap(void *arg)
{
	struct tstamp_req *rq;
	bool more, wake = false;

	mutex_spin_enter(&tsreq_lock);
	while ((rq = TAILQ_FIRST(&tsreq_waitq)) != NULL &&
	    hardclock_ticks - rq->rq_ticks > TSREQ_TIMEOUT) {
		tsreq_finish(rq, 0);
		tsreq_ev_reaped.ev_count++;
		wake = true;
	}
	while ((rq = TAILQ_FIRST(&tsreq_sendq)) != NULL &&
	    hardclock_ticks - rq->rq_ticks > TSREQ_SW_TIMEOUT) {
		tsreq_finish(rq, 0);
		tsreq_ev_reaped.ev_count++;
		wake = true;
	}
	more = !TAILQ_EMPTY(&tsreq_waitq) || !TAILQ_EMPTY(&tsreq_sendq);
	mutex_spin_exit(&tsreq_lock);
	if (wake)
		softint_schedule(tsreq_sih);
	if (more)
		callout_schedule(&tsreq_reaper, hz);
}

/* kern.sotstamp.tx_pending and hw_pending, next to uipc_tstamp.c's. */
SYSCTL_SETUP(sysctl_kern_sotstamp_req_setup, "sysctl kern.sotstamp requests")
{
	const struct sysctlnode *node = NULL;

	/* The node may exist already: sysctl_createv() then returns it. */
	sysctl_createv(clog, 0, NULL, &node,
	    CTLFLAG_PERMANENT, CTLTYPE_NODE, "sotstamp",
	    SYSCTL_DESCR("Socket timestamping"),
	    NULL, 0, NULL, 0, CTL_KERN, CTL_CREATE, CTL_EOL);
	if (node == NULL)
		return;
	sysctl_createv(clog, 0, &node, NULL,
	    CTLFLAG_PERMANENT | CTLFLAG_READONLY, CTLTYPE_INT, "tx_pending",
	    SYSCTL_DESCR("TX stamp requests not finished, software and "
	    "hardware"),
	    NULL, 0, (int *)__UNVOLATILE(&so_tstamp_tx_pending), 0,
	    CTL_CREATE, CTL_EOL);
	sysctl_createv(clog, 0, &node, NULL,
	    CTLFLAG_PERMANENT | CTLFLAG_READONLY, CTLTYPE_INT, "hw_pending",
	    SYSCTL_DESCR("Hardware TX stamp requests not finished"),
	    NULL, 0, (int *)&tsreq_nhw, 0, CTL_CREATE, CTL_EOL);
}
