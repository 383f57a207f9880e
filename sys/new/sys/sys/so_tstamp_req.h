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
 * Pending TX timestamp requests (kern/uipc_tstamp_req.c): a datagram
 * or TCP segment that asked for a stamp to be taken after its sender's
 * output may have returned (software SND from the driver, a hardware
 * stamp).  Used by kern/uipc_tstamp.c (software requests), by
 * net/if_hwtstamp.c (hardware requests, the drivers' side) and by the
 * link-layer hooks in <sys/so_tstamp.h>.  Nothing here calls back into
 * net/.
 */

#ifndef _SYS_SO_TSTAMP_REQ_H_
#define _SYS_SO_TSTAMP_REQ_H_

#ifdef _KERNEL

#include <sys/types.h>
#include <sys/queue.h>

struct ifnet;
struct m_tag;
struct mbuf;
struct socket;
struct so_tstamp_tx;
struct tstamp_req;

/*
 * A socket's pending requests, embedded in its struct so_tstamp and
 * changed only by uipc_tstamp_req.c, under the socket lock.  What they
 * hold is charged against the socket's receive buffer, where their
 * records will go: a socket never holds more in requests than it
 * could hold in records.
 */
struct so_tstamp_reqs {
	LIST_HEAD(, tstamp_req) sr_list;
	u_long		sr_cc;		/* payload bytes, against sb_hiwat */
	u_long		sr_mbcnt;	/* storage, against sb_mbmax */
	bool		sr_used;	/* ever made one: close must look */
};

/* The hand-off stamps a software request saw (so_tstamp_req_sw_end()). */
struct so_tstamp_sw {
	uint64_t	sw_schedns;	/* hand-off to the send queue, or 0 */
	uint64_t	sw_sndns;	/* hand-off to the device, or 0 */
	u_int		sw_ifindex;	/* the interface, 0: unknown */
	bool		sw_left;	/* some of the packet reached an
					 * interface */
};

/* Requests anywhere, software and hardware: gates the TX hooks. */
extern volatile u_int	so_tstamp_tx_pending;

/* Boot, process context, after the soft interrupts are up. */
void	so_tstamp_req_init(void);

/* Senders, socket locked. */
uint64_t so_tstamp_req_sw(struct socket *, struct mbuf *,
	    const struct so_tstamp_tx *);
bool	so_tstamp_req_sw_end(uint64_t, struct so_tstamp_sw *, struct mbuf **);
uint64_t so_tstamp_req_hw(struct socket *, struct mbuf *,
	    const struct so_tstamp_tx *);
bool	so_tstamp_req_hw_end(uint64_t, int, bool *);

/* soput(), from so_tstamp_free(): the socket's requests lose it. */
void	so_tstamp_req_gone(struct socket *, struct so_tstamp_reqs *);

/* Link-layer hooks (SO_TSTAMP_TX_*), up to IPL_NET. */
void	so_tstamp_tx_sched(struct ifnet *, struct mbuf *);
void	so_tstamp_tx_snd(struct ifnet *, struct mbuf *);
void	so_tstamp_tx_copy(struct mbuf *);
void	so_tstamp_tx_move(struct mbuf *, struct mbuf *);

/*
 * Drivers, in process context: ifp's driver calls SO_TSTAMP_TX_SND
 * (attach, detach); ifp stamps TX in hardware now (configuration).
 */
void	so_tstamp_tx_driver(struct ifnet *, bool);
void	so_tstamp_tx_hwcap(struct ifnet *, bool);

/* Drivers, hardware requests, at IPL_NET or below. */
bool	so_tstamp_req_hw_wanted(struct mbuf *);
struct m_tag *so_tstamp_req_hw_take(struct mbuf *);
void	so_tstamp_req_hw_finish(struct m_tag *, uint64_t);

#endif /* _KERNEL */

#endif /* !_SYS_SO_TSTAMP_REQ_H_ */
