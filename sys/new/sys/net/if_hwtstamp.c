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
 * Hardware time stamping: the driver side of raw hardware stamps.
 * See <net/if_hwtstamp.h>.
 *
 * TX.  A datagram whose socket asked for SOF_TIMESTAMPING_TX_HARDWARE
 * gets a request (struct hwts_req) on a global list and a packet tag
 * naming it by number (hwtstamp_tx_begin(), called by the protocols
 * next to so_tstamp_tx_begin()).  A driver able to stamp takes the
 * tag off the frame when it hands the frame to the NIC
 * (hwtstamp_tx_take()) and later gives
 * it back with the stamp (hwtstamp_tx_deliver()) or without
 * (hwtstamp_tx_discard()), at IPL_NET.  A soft interrupt then queues
 * the stamp on the socket's error queue (hwts_errq_enqueue()) under
 * softnet_lock, the lock of every socket that may ask (checked at
 * request time); a socket that went away meanwhile
 * (hwtstamp_so_gone(), from soput()) just loses its requests.
 * Requests are numbered, not pointed to, so a copied or long-dead tag
 * (a frame dropped before any driver saw it, a copy of a frame) names
 * nothing or a request no longer waiting, and is ignored.  Requests
 * never taken by a driver (the frame was dropped, or the interface
 * cannot stamp) are reaped after HWTS_REQ_TIMEOUT.  A socket has at
 * most HWTS_REQ_PER_SOCKET requests pending and the table at most
 * HWTS_REQ_MAX, software ones included; past either bound a socket's
 * new request replaces its own oldest hardware one no driver took,
 * never another socket's, so a socket flooding requests on an interface
 * that cannot stamp costs nobody else their stamps.  Software requests
 * of packets waiting in send queues are never replaced: while they
 * fill the table new requests are refused (a datagram without a
 * software request is stamped when its output returns).
 *
 * Software SND.  A datagram asking for TX_SOFTWARE or TX_SCHED gets a
 * request in the same table (hwtstamp_sw_request(), from
 * so_tstamp_tx_begin()) and a PACKET_TAG_SO_TSTAMP tag naming it.
 * The hand-off to the send queue stamps SCHED, the driver's hand-off
 * to the device stamps SND (hwtstamp_sw_stamp(), from the
 * SO_TSTAMP_TX_* hooks).  When the driver took the packet before
 * the sender's output returned, so_tstamp_tx_end() queues both records
 * itself (hwtstamp_sw_end()); when the packet still waits in the send
 * queue, the request keeps the SND record's payload and the soft
 * interrupt queues the record once the driver took the packet, in
 * whatever context that happens (the driver's start routine, its TX
 * interrupt).  A packet dropped from the queue leaves its request to
 * the reaper (after HWTS_SW_TIMEOUT, as a packet may wait that long
 * behind a paused link): no SND record, as on Linux.  When a driver
 * also took the datagram's hardware request, the SND record gives way
 * to the hardware one unless OPT_TX_SWHW, as in so_tstamp_tx_end().
 *
 * RX.  hwtstamp_rx_set() puts the raw stamp into the mbuf header
 * (m_pkthdr.tstamp_hw, M_TSTAMP_HW) where *_savecontrol() and bpf
 * find it.
 */

#include <sys/cdefs.h>
__KERNEL_RCSID(0, "$NetBSD$");

#include <sys/param.h>
#include <sys/systm.h>
#include <sys/callout.h>
#include <sys/evcnt.h>
#include <sys/intr.h>
#include <sys/kernel.h>
#include <sys/mbuf.h>
#include <sys/mutex.h>
#include <sys/once.h>
#include <sys/protosw.h>
#include <sys/domain.h>
#include <sys/pool.h>
#include <sys/proc.h>
#include <sys/queue.h>
#include <sys/so_tstamp.h>
#include <sys/socket.h>
#include <sys/socketvar.h>
#include <sys/sysctl.h>

#include <net/errqueue.h>
#include <net/if.h>
#include <net/if_hwtstamp.h>
#include <net/net_tstamp.h>
#include <netinet/in.h>

#define	HWTS_REQ_MAX		1024	/* requests waiting at most */
#define	HWTS_REQ_PER_SOCKET	64	/* of them for one socket */
#define	HWTS_REQ_TIMEOUT	(2 * hz) /* for a driver to take one */
#define	HWTS_SW_TIMEOUT		(30 * hz) /* for a packet to leave a
					   * send queue */

struct hwts_req {
	TAILQ_ENTRY(hwts_req)	hr_link;
	uint64_t		hr_id;
	struct socket		*hr_so;		/* NULL: socket gone */
	struct mbuf		*hr_payload;	/* for the record, or NULL */
	uint64_t		hr_ns;		/* the stamp, 0 if none */
	uint64_t		hr_schedns;	/* sw: SCHED stamp, 0 if none */
	uint32_t		hr_key;		/* OPT_ID key */
	uint32_t		hr_dst4;	/* sw: OPT_CMSG destination */
	uint32_t		hr_src4;	/* sw: OPT_CMSG source */
	int			hr_inpflags;	/* sw: OPT_CMSG INP_*PKTINFO */
	u_int			hr_ifindex;	/* sw: the interface */
	uint64_t		hr_hwid;	/* sw: the datagram's hardware
						 * request, 0 if none */
	int			hr_flags;	/* SOF_* of the datagram */
	int			hr_ticks;	/* when asked */
	bool			hr_sw;		/* software SND request */
	bool			hr_async;	/* sw: the softint queues SND */
	bool			hr_hwtaken;	/* sw: a driver took hr_hwid */
	enum {
		HR_WAITING,			/* tag on a frame */
		HR_QUEUED,			/* sw: in a send queue */
		HR_TAKEN,			/* a driver has the tag */
		HR_DONE				/* in hwts_done */
	}			hr_state;
};

TAILQ_HEAD(hwts_reqq, hwts_req);

static kmutex_t		hwts_lock;		/* IPL_NET: all below */
static struct hwts_reqq	hwts_reqs = TAILQ_HEAD_INITIALIZER(hwts_reqs);
static struct hwts_reqq	hwts_done = TAILQ_HEAD_INITIALIZER(hwts_done);
static u_int		hwts_nreqs;		/* hardware ones in hwts_reqs */
static uint64_t		hwts_nextid = 1;
static struct socket	*hwts_busy;		/* hwts_softint() delivers */
static struct pool	hwts_pool;		/* of struct hwts_req */
static void		*hwts_sih;
static callout_t	hwts_reaper;
static ONCE_DECL(hwts_once);

static struct evcnt hwts_ev_req = EVCNT_INITIALIZER(EVCNT_TYPE_MISC,
    NULL, "hwtstamp", "tx requests");
static struct evcnt hwts_ev_stamp = EVCNT_INITIALIZER(EVCNT_TYPE_MISC,
    NULL, "hwtstamp", "tx stamps queued");
static struct evcnt hwts_ev_nostamp = EVCNT_INITIALIZER(EVCNT_TYPE_MISC,
    NULL, "hwtstamp", "tx requests discarded by driver");
static struct evcnt hwts_ev_reaped = EVCNT_INITIALIZER(EVCNT_TYPE_MISC,
    NULL, "hwtstamp", "tx requests no driver took");
static struct evcnt hwts_ev_orphan = EVCNT_INITIALIZER(EVCNT_TYPE_MISC,
    NULL, "hwtstamp", "tx stamps for closed sockets");
static struct evcnt hwts_ev_full = EVCNT_INITIALIZER(EVCNT_TYPE_MISC,
    NULL, "hwtstamp", "tx requests refused, too many of the socket's taken");
static struct evcnt hwts_ev_qfull = EVCNT_INITIALIZER(EVCNT_TYPE_MISC,
    NULL, "hwtstamp", "tx stamps dropped, SO_RCVBUF full");
EVCNT_ATTACH_STATIC(hwts_ev_req);
EVCNT_ATTACH_STATIC(hwts_ev_stamp);
EVCNT_ATTACH_STATIC(hwts_ev_nostamp);
EVCNT_ATTACH_STATIC(hwts_ev_reaped);
EVCNT_ATTACH_STATIC(hwts_ev_orphan);
EVCNT_ATTACH_STATIC(hwts_ev_full);
EVCNT_ATTACH_STATIC(hwts_ev_qfull);

static void	hwts_softint(void *);
static void	hwts_reap(void *);
static void	hwts_link(uint64_t, uint64_t);
static bool	hwts_taken(uint64_t);

static int
hwts_init(void)
{

	/*
	 * pool_init() and softint_establish() want process context:
	 * called by hwtstamp_init(), from setsockopt() and sendmsg(),
	 * before any request can be made.
	 */

	mutex_init(&hwts_lock, MUTEX_DEFAULT, IPL_NET);
	/* A pool: requests are freed in the soft interrupt. */
	pool_init(&hwts_pool, sizeof(struct hwts_req), 0, 0, 0, "hwtsreq",
	    NULL, IPL_NET);
	callout_init(&hwts_reaper, 0);
	callout_setfunc(&hwts_reaper, hwts_reap, NULL);
	/* Set last: hwts_sih != NULL says the rest is ready. */
	hwts_sih = softint_establish(SOFTINT_NET, hwts_softint, NULL);
	return 0;
}

/* A socket may ask for TX stamps (process context). */
void
hwtstamp_init(void)
{

	RUN_ONCE(&hwts_once, hwts_init);
}

static struct hwts_req *
hwts_find(const struct hwts_reqq *q, uint64_t id)
{
	struct hwts_req *hr;

	KASSERT(mutex_owned(&hwts_lock));
	TAILQ_FOREACH(hr, q, hr_link) {
		if (hr->hr_id == id)
			return hr;
	}
	return NULL;
}

static struct hwts_req *
hwts_lookup(const struct m_tag *mt)
{
	uint64_t id;

	memcpy(&id, mt + 1, sizeof(id));
	return hwts_find(&hwts_reqs, id);
}

/*
 * Request hr leaves the tables (hwts_lock held): its socket, if still
 * there, has one fewer pending.  hwtstamp_so_gone() clears hr_so under
 * this lock before the socket's so_tstamp is freed.
 */
static void
hwts_unref(struct hwts_req *hr)
{

	KASSERT(mutex_owned(&hwts_lock));
	if (hr->hr_so != NULL) {
		KASSERT(hr->hr_so->so_tstamp != NULL);
		KASSERT(hr->hr_so->so_tstamp->st_hwreqs > 0);
		hr->hr_so->so_tstamp->st_hwreqs--;
	}
}

/* Request hr leaves hwts_reqs (hwts_lock held). */
static void
hwts_remove(struct hwts_req *hr)
{

	KASSERT(mutex_owned(&hwts_lock));
	TAILQ_REMOVE(&hwts_reqs, hr, hr_link);
	if (hr->hr_sw)
		so_tstamp_tx_pending--;
	else
		hwts_nreqs--;
}

static void
hwts_req_free(struct hwts_req *hr)
{

	m_freem(hr->hr_payload);
	pool_put(&hwts_pool, hr);
}

/*
 * Socket so is at a bound: take its oldest request no driver has taken
 * out of the table (hwts_lock held) and return it, or NULL if all of
 * its requests are with a driver.  Requests for frames sent where
 * nothing stamps them (lo0, a NIC without time stamping) would
 * otherwise refuse the socket new ones until reaped.
 */
static struct hwts_req *
hwts_evict(struct socket *so)
{
	struct hwts_req *hr;

	KASSERT(mutex_owned(&hwts_lock));
	TAILQ_FOREACH(hr, &hwts_reqs, hr_link)
		if (hr->hr_so == so && !hr->hr_sw &&
		    hr->hr_state == HR_WAITING)
			break;
	if (hr == NULL)
		return NULL;
	hwts_remove(hr);
	hwts_unref(hr);
	return hr;
}

/*
 * Datagram m of so asks for a hardware TX stamp, or (sw) a software
 * one, socket locked; returns the request's number, 0 if it got none.
 */
static uint64_t
hwts_request(struct socket *so, struct mbuf *m, const struct so_tstamp_tx *tx,
    bool sw)
{
	struct so_tstamp *st = so->so_tstamp;
	struct hwts_req *hr, *old = NULL;
	struct m_tag *mt;
	uint64_t id;

	if (so->so_lock != softnet_lock || (m->m_flags & M_PKTHDR) == 0 ||
	    hwts_sih == NULL)
		return 0;
	hr = pool_get(&hwts_pool, PR_NOWAIT);
	mt = m_tag_get(sw ? PACKET_TAG_SO_TSTAMP : PACKET_TAG_HWTSTAMP_TX,
	    sizeof(uint64_t), M_NOWAIT);
	if (hr == NULL || mt == NULL) {
		if (hr != NULL)
			pool_put(&hwts_pool, hr);
		if (mt != NULL)
			m_tag_free(mt);
		return 0;
	}
	memset(hr, 0, sizeof(*hr));
	hr->hr_so = so;
	hr->hr_key = tx->tx_key;
	hr->hr_flags = tx->tx_flags;
	hr->hr_dst4 = tx->tx_dst4;
	hr->hr_src4 = tx->tx_src4;
	hr->hr_inpflags = tx->tx_inpflags;
	hr->hr_ticks = hardclock_ticks;
	hr->hr_sw = sw;
	/* A software request gets its payload only if it outlives tx_end. */
	if (!sw && (tx->tx_flags & SOF_TIMESTAMPING_OPT_TSONLY) == 0)
		hr->hr_payload = m_copypacket(m, M_DONTWAIT);
	hr->hr_state = HR_WAITING;

	mutex_spin_enter(&hwts_lock);
	if ((st->st_hwreqs >= HWTS_REQ_PER_SOCKET ||
	    hwts_nreqs + so_tstamp_tx_pending >= HWTS_REQ_MAX) &&
	    (old = hwts_evict(so)) == NULL) {
		mutex_spin_exit(&hwts_lock);
		hwts_ev_full.ev_count++;
		hwts_req_free(hr);
		m_tag_free(mt);
		return 0;
	}
	id = hr->hr_id = hwts_nextid++;
	TAILQ_INSERT_TAIL(&hwts_reqs, hr, hr_link);
	if (sw)
		so_tstamp_tx_pending++;
	else
		hwts_nreqs++;
	st->st_hwreqs++;
	mutex_spin_exit(&hwts_lock);
	if (old != NULL) {
		hwts_ev_reaped.ev_count++;
		hwts_req_free(old);
	}

	memcpy(mt + 1, &id, sizeof(id));
	m_tag_prepend(m, mt);
	if (!sw)
		hwts_ev_req.ev_count++;
	if (!callout_pending(&hwts_reaper))
		callout_schedule(&hwts_reaper, hz);
	return id;
}

/*
 * Protocol output, before ip_output() and after so_tstamp_tx_begin()
 * (socket locked): a datagram asking for SOF_TIMESTAMPING_TX_HARDWARE
 * gets a request, with the OPT_ID key so_tstamp_tx_begin() took.
 */
void
hwtstamp_tx_begin(struct so_tstamp_tx *tx, struct socket *so,
    struct mbuf *m)
{

	tx->tx_hwid = 0;
	if (__predict_true((tx->tx_flags & SOF_TIMESTAMPING_TX_HARDWARE) == 0))
		return;
	KASSERT(solocked(so));
	tx->tx_hwid = hwts_request(so, m, tx, false);
	if (tx->tx_hwid != 0 && tx->tx_swid != 0)
		hwts_link(tx->tx_swid, tx->tx_hwid);
}

/*
 * so_tstamp_tx_begin(), socket locked: datagram m wants SCHED or SND
 * records.  Returns the request's number, 0 if it got none (then the
 * records are stamped when the sender's output returns).
 */
uint64_t
hwtstamp_sw_request(struct socket *so, struct mbuf *m,
    const struct so_tstamp_tx *tx)
{

	KASSERT(solocked(so));
	return hwts_request(so, m, tx, true);
}

/* Software request swid's datagram also has hardware request hwid. */
static void
hwts_link(uint64_t swid, uint64_t hwid)
{
	struct hwts_req *hr;

	mutex_spin_enter(&hwts_lock);
	if ((hr = hwts_find(&hwts_reqs, swid)) != NULL)
		hr->hr_hwid = hwid;
	mutex_spin_exit(&hwts_lock);
}

/* Did a driver take hardware request id (hwts_lock held)? */
static bool
hwts_taken(uint64_t id)
{
	struct hwts_req *hr;

	KASSERT(mutex_owned(&hwts_lock));
	if ((hr = hwts_find(&hwts_reqs, id)) != NULL)
		return hr->hr_state == HR_TAKEN;
	hr = hwts_find(&hwts_done, id);
	return hr != NULL && hr->hr_ns != 0;
}

/*
 * The SO_TSTAMP_TX_* hooks, up to IPL_NET: packet m reached the send
 * queue of ifp (snd false) or its device (snd true), at uptime ns.
 * The first SCHED and the first SND count; a copy of the packet
 * carrying the same tag finds the request done and is ignored.
 */
void
hwtstamp_sw_stamp(struct ifnet *ifp, struct mbuf *m, uint64_t ns, bool snd)
{
	struct m_tag *mt;
	struct hwts_req *hr;
	bool wake = false;

	if ((m->m_flags & M_PKTHDR) == 0 || hwts_sih == NULL ||
	    (mt = m_tag_find(m, PACKET_TAG_SO_TSTAMP, NULL)) == NULL)
		return;
	mutex_spin_enter(&hwts_lock);
	hr = hwts_lookup(mt);
	if (hr != NULL && hr->hr_sw) {
		if (hr->hr_state == HR_WAITING) {
			hr->hr_schedns = ns;
			hr->hr_ifindex = ifp->if_index;
			hr->hr_state = HR_QUEUED;
		}
		if (snd) {
			hwts_remove(hr);
			hr->hr_ns = ns;
			hr->hr_ifindex = ifp->if_index;
			/* Drivers take the hardware request first. */
			if (hr->hr_hwid != 0)
				hr->hr_hwtaken = hwts_taken(hr->hr_hwid);
			hr->hr_state = HR_DONE;
			TAILQ_INSERT_TAIL(&hwts_done, hr, hr_link);
			wake = hr->hr_async;
		}
	} else
		hr = NULL;
	mutex_spin_exit(&hwts_lock);
	/* The driver still needs a tag it may take: keep it till SND. */
	if (hr == NULL || snd)
		m_tag_delete(m, mt);
	if (wake)
		softint_schedule(hwts_sih);
}

/*
 * so_tstamp_tx_end(), socket locked: what became of software request
 * id.  *sw gets the stamps seen so far.  With sndp (SND wanted, the
 * datagram was sent) and SND still due, the request keeps waiting,
 * takes *sndp (the SND record's payload, may be NULL) and returns
 * true: the soft interrupt queues the record.  Otherwise the request
 * is gone when this returns.
 */
bool
hwtstamp_sw_end(uint64_t id, struct so_tstamp_sw *sw, struct mbuf **sndp)
{
	struct hwts_req *hr;
	bool pending = false;

	memset(sw, 0, sizeof(*sw));
	mutex_spin_enter(&hwts_lock);
	if ((hr = hwts_find(&hwts_done, id)) != NULL) {
		/* The driver took it before the sender's output returned. */
		TAILQ_REMOVE(&hwts_done, hr, hr_link);
		sw->sw_sndns = hr->hr_ns;
	} else if ((hr = hwts_find(&hwts_reqs, id)) != NULL) {
		if (hr->hr_state == HR_QUEUED && sndp != NULL) {
			hr->hr_payload = *sndp;
			*sndp = NULL;
			hr->hr_async = true;
			pending = true;
		} else
			hwts_remove(hr);
	}
	if (hr != NULL) {
		sw->sw_schedns = hr->hr_schedns;
		sw->sw_ifindex = hr->hr_ifindex;
		if (!pending)
			hwts_unref(hr);
	}
	mutex_spin_exit(&hwts_lock);
	if (hr != NULL && !pending)
		hwts_req_free(hr);
	return pending;
}

/*
 * Did a driver take the request of the datagram just sent?  The sender
 * holds softnet_lock, so hwts_softint() has not freed the request yet
 * unless the reaper or an eviction did (then no driver took it).
 */
static bool
hwts_sent_to_hw(uint64_t id)
{
	bool taken;

	if (id == 0)
		return false;
	mutex_spin_enter(&hwts_lock);
	taken = hwts_taken(id);
	mutex_spin_exit(&hwts_lock);
	return taken;
}

static bool
hwts_so_has(struct socket *so, bool clear)
{
	struct hwts_req *hr;
	bool found = false;

	KASSERT(mutex_owned(&hwts_lock));
	TAILQ_FOREACH(hr, &hwts_reqs, hr_link) {
		if (hr->hr_so == so) {
			found = true;
			if (clear) {
				hwts_unref(hr);
				hr->hr_so = NULL;
			}
		}
	}
	TAILQ_FOREACH(hr, &hwts_done, hr_link) {
		if (hr->hr_so == so) {
			found = true;
			if (clear) {
				hwts_unref(hr);
				hr->hr_so = NULL;
			}
		}
	}
	return found || hwts_busy == so;
}

/*
 * Protocol output, after it returned: note whether a driver took the
 * hardware request, for so_tstamp_tx_end(), and pass the error on.
 */
int
hwtstamp_tx_end(struct so_tstamp_tx *tx, int error)
{

	if (__predict_true(tx->tx_hwid == 0))
		return error;
	tx->tx_hwtaken = hwts_sent_to_hw(tx->tx_hwid);
	return error;
}

/*
 * Socket so is being freed (soput()): forget it.  Taking softnet_lock
 * waits for hwts_softint() to finish with it.  A socket that can have
 * requests (its lock is softnet_lock) reaches soput() only from
 * sofree(), which dropped that lock; the one caller holding it,
 * sonewconn()'s failure path, frees a socket that never sent.
 */
void
hwtstamp_so_gone(struct socket *so)
{
	bool found;

	if (hwts_sih == NULL)
		return;			/* never initialised: no requests */
	mutex_spin_enter(&hwts_lock);
	found = hwts_so_has(so, false);
	mutex_spin_exit(&hwts_lock);
	if (!found)
		return;
	KASSERT(!mutex_owned(softnet_lock));
	mutex_enter(softnet_lock);
	mutex_spin_enter(&hwts_lock);
	(void)hwts_so_has(so, true);
	mutex_spin_exit(&hwts_lock);
	mutex_exit(softnet_lock);
}

/*
 * Driver side.
 */

bool
hwtstamp_tx_wanted(struct mbuf *m)
{
	struct m_tag *mt;
	struct hwts_req *hr;
	bool wanted;

	if ((m->m_flags & M_PKTHDR) == 0 || hwts_sih == NULL ||
	    (mt = m_tag_find(m, PACKET_TAG_HWTSTAMP_TX, NULL)) == NULL)
		return false;
	mutex_spin_enter(&hwts_lock);
	hr = hwts_lookup(mt);
	wanted = hr != NULL && hr->hr_state == HR_WAITING;
	mutex_spin_exit(&hwts_lock);
	return wanted;
}

struct m_tag *
hwtstamp_tx_take(struct mbuf *m)
{
	struct m_tag *mt;
	struct hwts_req *hr;

	if ((m->m_flags & M_PKTHDR) == 0 ||
	    (mt = m_tag_find(m, PACKET_TAG_HWTSTAMP_TX, NULL)) == NULL)
		return NULL;
	m_tag_unlink(m, mt);
	mutex_spin_enter(&hwts_lock);
	hr = hwts_lookup(mt);
	if (hr != NULL && hr->hr_state == HR_WAITING)
		hr->hr_state = HR_TAKEN;
	else
		hr = NULL;
	mutex_spin_exit(&hwts_lock);
	if (hr == NULL) {
		m_tag_free(mt);
		return NULL;
	}
	return mt;
}

/* Stamp ns (0: none) for the request; at IPL_NET or below. */
static void
hwts_finish(struct m_tag *mt, uint64_t ns)
{
	struct hwts_req *hr;

	if (mt == NULL)
		return;
	mutex_spin_enter(&hwts_lock);
	hr = hwts_lookup(mt);
	if (hr != NULL) {
		hwts_remove(hr);
		hr->hr_ns = ns;
		hr->hr_state = HR_DONE;
		TAILQ_INSERT_TAIL(&hwts_done, hr, hr_link);
	}
	mutex_spin_exit(&hwts_lock);
	m_tag_free(mt);
	if (hr != NULL)
		softint_schedule(hwts_sih);
}

void
hwtstamp_tx_deliver(struct m_tag *mt, uint64_t ns)
{

	hwts_finish(mt, ns != 0 ? ns : 1);
}

void
hwtstamp_tx_discard(struct m_tag *mt)
{

	if (mt != NULL)
		hwts_ev_nostamp.ev_count++;
	hwts_finish(mt, 0);
}

/*
 * The error queue record of a finished request: a hardware stamp, or a
 * software SND stamp taken after the sender's output returned.  Built,
 * charged to SO_RCVBUF and queued by kern/uipc_tstamp.c.
 */
static void
hwts_errq_enqueue(struct socket *so, struct hwts_req *hr)
{
	struct so_tstamp_txrec r;
	int error;

	KASSERT(solocked(so));
	memset(&r, 0, sizeof(r));
	r.tr_flags = hr->hr_flags;
	r.tr_key = hr->hr_key;
	r.tr_info = SCM_TSTAMP_SND;
	r.tr_dst4 = hr->hr_dst4;
	r.tr_src4 = hr->hr_src4;
	r.tr_inpflags = hr->hr_inpflags;
	if (hr->hr_sw) {
		r.tr_swns = hr->hr_ns;
		r.tr_ifindex = hr->hr_ifindex;
	} else
		r.tr_hwns = hr->hr_ns;
	error = so_tstamp_tx_record(so, &r, hr->hr_payload);
	hr->hr_payload = NULL;
	if (hr->hr_sw)
		return;
	if (error == 0)
		hwts_ev_stamp.ev_count++;
	else
		hwts_ev_qfull.ev_count++;
}

/* Queue finished requests' stamps on their sockets. */
static void
hwts_softint(void *arg)
{
	struct hwts_req *hr;

	mutex_enter(softnet_lock);
	for (;;) {
		mutex_spin_enter(&hwts_lock);
		/*
		 * A software request done before its sender's output
		 * returned is the sender's (hwtstamp_sw_end()); the sender
		 * holds softnet_lock meanwhile, so none is seen here.
		 */
		TAILQ_FOREACH(hr, &hwts_done, hr_link)
			if (!hr->hr_sw || hr->hr_async)
				break;
		if (hr != NULL) {
			TAILQ_REMOVE(&hwts_done, hr, hr_link);
			hwts_unref(hr);
			hwts_busy = hr->hr_so;
		}
		mutex_spin_exit(&hwts_lock);
		if (hr == NULL)
			break;
		/*
		 * hwtstamp_so_gone() sees hwts_busy and waits for
		 * softnet_lock, which we hold, before the socket is freed.
		 */
		if (hr->hr_ns != 0 && hr->hr_so == NULL)
			hwts_ev_orphan.ev_count++;
		else if (hr->hr_ns != 0 && !(hr->hr_sw && hr->hr_hwtaken &&
		    (hr->hr_flags & (SOF_TIMESTAMPING_TX_HARDWARE |
		    SOF_TIMESTAMPING_OPT_TX_SWHW)) ==
		    SOF_TIMESTAMPING_TX_HARDWARE))
			hwts_errq_enqueue(hr->hr_so, hr);
		mutex_spin_enter(&hwts_lock);
		hwts_busy = NULL;
		mutex_spin_exit(&hwts_lock);
		hwts_req_free(hr);
	}
	mutex_exit(softnet_lock);
}

/* Once a second while requests wait: drop those no driver took. */
static void
hwts_reap(void *arg)
{
	struct hwts_reqq dead = TAILQ_HEAD_INITIALIZER(dead);
	struct hwts_req *hr, *next;
	bool more;

	mutex_spin_enter(&hwts_lock);
	for (hr = TAILQ_FIRST(&hwts_reqs); hr != NULL; hr = next) {
		next = TAILQ_NEXT(hr, hr_link);
		/*
		 * Requests no driver took.  A software one in a send queue
		 * is given longer (a paused link); past that its packet
		 * was most likely dropped.  A hardware one a driver took is
		 * the driver's to finish.
		 */
		if ((hr->hr_state == HR_WAITING &&
		    hardclock_ticks - hr->hr_ticks > HWTS_REQ_TIMEOUT) ||
		    (hr->hr_sw && hr->hr_state == HR_QUEUED &&
		    hardclock_ticks - hr->hr_ticks > HWTS_SW_TIMEOUT)) {
			hwts_remove(hr);
			hwts_unref(hr);
			TAILQ_INSERT_TAIL(&dead, hr, hr_link);
		}
	}
	more = !TAILQ_EMPTY(&hwts_reqs);
	mutex_spin_exit(&hwts_lock);
	while ((hr = TAILQ_FIRST(&dead)) != NULL) {
		TAILQ_REMOVE(&dead, hr, hr_link);
		hwts_ev_reaped.ev_count++;
		hwts_req_free(hr);
	}
	if (more)
		callout_schedule(&hwts_reaper, hz);
}

void
hwtstamp_rx_set(struct mbuf *m, uint64_t ns)
{

	KASSERT((m->m_flags & M_PKTHDR) != 0);
	m->m_pkthdr.tstamp_hw = ns;
	m->m_pkthdr.tstamp_flags |= M_TSTAMP_HW;
}

/*
 * SIOCGHWTSOFFSET's answer, which the driver copies out itself: the
 * layout a 32-bit process expects (its struct timespec is 12 bytes) is
 * written by COMPAT_NETBSD32's hook (compat/netbsd32/netbsd32_tstamp.c),
 * set while compat_netbsd32 is loaded.  Process context.
 */
int	(*hwtstamp_sysoff_copyout32)(const struct hwtstamp_sysoff *, void *);

int
hwtstamp_sysoff_copyout(const struct hwtstamp_sysoff *hso, void *uaddr)
{
	int (*copyout32)(const struct hwtstamp_sysoff *, void *);

	KASSERT(hso->hso_nsamples <= HWTSTAMP_SYSOFF_MAX);
	copyout32 = hwtstamp_sysoff_copyout32;
	if (copyout32 != NULL && (curproc->p_flag & PK_32) != 0)
		return (*copyout32)(hso, uaddr);
	return copyout(hso, uaddr, offsetof(struct hwtstamp_sysoff, hso_ts) +
	    hso->hso_nsamples * sizeof(hso->hso_ts[0]));
}

/* kern.sotstamp.hw_pending, next to kern/uipc_tstamp.c's counters. */
SYSCTL_SETUP(sysctl_kern_sotstamp_hw_setup, "sysctl kern.sotstamp.hw_pending")
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
	    CTLFLAG_PERMANENT | CTLFLAG_READONLY, CTLTYPE_INT, "hw_pending",
	    SYSCTL_DESCR("Hardware TX stamp requests no driver has finished"),
	    NULL, 0, (int *)&hwts_nreqs, 0, CTL_CREATE, CTL_EOL);
}
