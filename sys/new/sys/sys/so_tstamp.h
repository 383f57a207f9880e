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
 * Kernel interface of socket timestamping (kern/uipc_tstamp.c):
 * SO_TIMESTAMP, SO_TIMESTAMPNS, SO_TIMESTAMPING, SO_TS_CLOCK and the
 * socket error queue read with MSG_ERRQUEUE.
 */

#ifndef _SYS_SO_TSTAMP_H_
#define _SYS_SO_TSTAMP_H_

#ifdef _KERNEL

#include <sys/types.h>

struct mbuf;
struct socket;
struct sockopt;
struct uio;

/*
 * Per-socket state, allocated the first time a timestamp option is
 * set so that sockets which never ask pay one NULL pointer.  Protected
 * by the socket lock.
 */
struct so_tstamp {
	int		st_flags;	/* SO_TIMESTAMPING SOF_* flags */
	int		st_clock;	/* SO_TS_CLOCK */
	int		st_sendflags;	/* per-sendmsg TX bits, -1 if none */
	bool		st_ns;		/* SO_TIMESTAMPNS */
	bool		st_rxwant;	/* some RX stamp is reported */
	bool		st_rxref;	/* holds a so_tstamp_rx_users ref */
	uint32_t	st_key;		/* OPT_ID key of the next datagram */
	struct mbuf	*st_errq;	/* error queue, linked by m_nextpkt */
	struct mbuf	*st_errqtail;
	u_long		st_errqcc;	/* storage charged to SO_RCVBUF */
	u_long		st_errqdrops;	/* records dropped, queue full */
};

/*
 * A datagram being sent with a TX stamp request; lives on the stack
 * of the protocol output routine around its ip_output()/ip6_output().
 */
struct so_tstamp_tx {
	struct mbuf	*tx_payload;	/* copy for the error queue */
	uint32_t	tx_key;		/* OPT_ID key */
	int		tx_flags;	/* effective SOF_* flags */
	bool		tx_active;	/* a record will be queued */
	bool		tx_armed;	/* owns the hand-off slot */
};

/* Number of sockets wanting RX software stamps; gates the clock read. */
extern volatile u_int	so_tstamp_rx_users;
/* A TX stamp is waiting for its packet to reach a driver. */
extern volatile u_int	so_tstamp_tx_armed;

void	so_tstamp_rx_stamp(struct mbuf *);
void	so_tstamp_tx_handoff(struct mbuf *);

/*
 * Link-layer hooks.  RX: the frame entered the stack (ether_input,
 * looutput).  TX: the frame is about to be handed to the driver.
 * Both cost one load and a predicted-not-taken branch when unused.
 */
#define	SO_TSTAMP_RX(m)							\
do {									\
	if (__predict_false(so_tstamp_rx_users != 0))			\
		so_tstamp_rx_stamp(m);					\
} while (/* CONSTCOND */ 0)

#define	SO_TSTAMP_TX(m)							\
do {									\
	if (__predict_false(so_tstamp_tx_armed != 0))			\
		so_tstamp_tx_handoff(m);				\
} while (/* CONSTCOND */ 0)

/* Does the socket want RX control messages from *_savecontrol()? */
#define	SO_TSTAMP_RXWANT(so)						\
	(((so)->so_options & SO_TIMESTAMP) != 0 ||			\
	 ((so)->so_tstamp != NULL && (so)->so_tstamp->st_rxwant))

/* Socket layer (kern/uipc_socket*.c) */
int	so_tstamp_setopt(struct socket *, const struct sockopt *);
int	so_tstamp_getopt(struct socket *, struct sockopt *);
void	so_tstamp_free(struct socket *);
int	so_tstamp_sendctl(struct socket *, struct mbuf **);
void	so_tstamp_senddone(struct socket *);
int	so_tstamp_errq_receive(struct socket *, struct uio *,
	    struct mbuf **, int *);
int	so_tstamp_poll(struct socket *, int);
int	so_tstamp_errq_append(struct socket *, struct mbuf *);

/* Protocols (netinet, netinet6) */
struct mbuf **so_tstamp_savecontrol(struct socket *, struct mbuf *,
	    struct mbuf **);
void	so_tstamp_tx_begin(struct so_tstamp_tx *, struct socket *,
	    struct mbuf *);
void	so_tstamp_tx_end(struct so_tstamp_tx *, struct socket *, int);

#endif /* _KERNEL */

#endif /* !_SYS_SO_TSTAMP_H_ */
