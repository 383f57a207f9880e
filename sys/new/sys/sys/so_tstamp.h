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
 * SO_TIMESTAMP, SO_TIMESTAMPNS, SO_TIMESTAMPING, SO_TIMESTAMP_CLOCK and
 * the socket error queue read with MSG_ERRQUEUE.
 */

#ifndef _SYS_SO_TSTAMP_H_
#define _SYS_SO_TSTAMP_H_

#ifdef _KERNEL

#include <sys/types.h>
#include <sys/so_tstamp_req.h>

struct mbuf;
struct socket;
struct sockopt;
struct uio;

/* Where a received segment ends in a stream socket's bytes, its stamps. */
struct so_tstamp_mark {
	uint64_t	mk_start;	/* first byte, stream offset */
	uint64_t	mk_end;		/* one past the last byte */
	uint64_t	mk_sw;		/* software stamp (uptime ns) */
	uint64_t	mk_hwns;	/* raw hardware stamp, if mk_hw */
	bool		mk_hw;
};

#define	TSTAMP_MARKS	8		/* marks kept per stream socket */

/* A stream socket's write that asked for TX stamps: its last byte. */
struct so_tstamp_txmark {
	uint32_t	tm_seq;		/* sequence number of the last byte */
	uint32_t	tm_key;		/* OPT_ID key: its byte offset */
	int		tm_flags;	/* effective SOF_* flags of the write */
	bool		tm_sent;	/* SCHED/SND done: first transmission */
	bool		tm_inflight;	/* in the segment being sent */
};

#define	TSTAMP_TXMARKS	16		/* writes waiting per stream socket */

/*
 * Per-socket state, allocated the first time a timestamp option is
 * set so that sockets which never ask pay one NULL pointer.  Protected
 * by the socket lock; st_reqs is kern/uipc_tstamp_req.c's.
 */
struct so_tstamp {
	int		st_flags;	/* SO_TIMESTAMPING SOF_* flags */
	int		st_clock;	/* SO_TIMESTAMP_CLOCK: a clockid_t */
	int		st_sendflags;	/* per-sendmsg TX bits, -1 if none */
	int64_t		st_sendkey;	/* per-sendmsg SCM_TS_OPT_ID key,
					 * -1 if none */
	bool		st_ns;		/* SO_TIMESTAMPNS */
	bool		st_rxwant;	/* some RX stamp is reported */
	bool		st_dgram;	/* ... on IPv4/IPv6 datagrams */
	uint8_t		st_rxmsgs;	/* TSTAMP_RX_*: what is reported */
	bool		st_rxinput;	/* *_savecontrol() has messages */
	bool		st_rxref;	/* holds a so_tstamp_rx_users ref */
	bool		st_rxqovfl;	/* SO_RXQ_OVFL */
	uint32_t	st_key;		/* OPT_ID key of the next datagram */
	struct mbuf	*st_errq;	/* error queue, linked by m_nextpkt */
	struct mbuf	*st_errqtail;
	u_long		st_errqcc;	/* bytes charged to SO_RCVBUF */
	u_long		st_errqmbcnt;	/* storage charged to SO_RCVBUF */
	u_int		st_errqdrops;	/* records dropped: SO_ERRQUEUE_DROPS */
	struct so_tstamp_reqs st_reqs;	/* TX requests pending */
	/* Stream sockets: see so_tstamp_stream_rx(). */
	bool		st_stream;	/* marks are kept */
	uint64_t	st_base;	/* unmarked bytes at the start */
	uint64_t	st_rcvd;	/* bytes appended since */
	u_int		st_nmarks;
	u_int		st_mhead;	/* oldest mark */
	struct so_tstamp_mark st_marks[TSTAMP_MARKS];
	/* Stream sockets, TX: see so_tstamp_stream_send(). */
	bool		st_txbased;	/* st_txbase is set */
	uint32_t	st_txbase;	/* OPT_ID: sequence number of key 0 */
	bool		st_wopen;	/* a write is being handed to TCP */
	bool		st_wsent;	/* st_wseq has been sent already */
	uint32_t	st_wseq;	/* its last byte so far */
	int		st_wflags;	/* its effective SOF_* flags */
	u_int		st_ntxm;
	u_int		st_txmhead;	/* oldest */
	struct so_tstamp_txmark st_txmarks[TSTAMP_TXMARKS];
};

/*
 * st_rxmsgs: the receive messages a socket's options ask for, worked
 * out when they are set, not for every datagram.
 */
#define	TSTAMP_RX_TV	0x01	/* SCM_TIMESTAMP (SO_TIMESTAMP) */
#define	TSTAMP_RX_OTV	0x02	/* SCM_OTIMESTAMP (SO_OTIMESTAMP) */
#define	TSTAMP_RX_NS	0x04	/* SCM_TIMESTAMPNS */
#define	TSTAMP_RX_SW	0x08	/* SCM_TIMESTAMPING, ts[0] */
#define	TSTAMP_RX_HW	0x10	/* SCM_TIMESTAMPING, ts[2] if stamped */

/*
 * OPT_CMSG on IPv4: what a TX record's IP_PKTINFO and IP_RECVPKTINFO
 * will say, taken from the PCB when the datagram is sent (the PCB may
 * be gone when the record is made).  Kept in the datagram's struct
 * so_tstamp_tx and, for a record made later, in its request.
 */
struct so_tstamp_cmsg {
	uint32_t	cm_dst4;	/* IPv4 destination */
	uint32_t	cm_src4;	/* IPv4 source */
	int		cm_opts;	/* SO_TSTAMP_CMSG_* the socket set */
};

#define	SO_TSTAMP_CMSG_PKTINFO		0x01	/* IP_PKTINFO */
#define	SO_TSTAMP_CMSG_RECVPKTINFO	0x02	/* IP_RECVPKTINFO */

/*
 * A datagram being sent with a TX stamp request; lives on the stack
 * of the protocol output routine around its ip_output()/ip6_output().
 */
struct so_tstamp_tx {
	struct mbuf	*tx_payload;	/* copy for the error queue */
	uint32_t	tx_key;		/* OPT_ID key */
	struct so_tstamp_cmsg tx_cmsg;	/* OPT_CMSG */
	int		tx_flags;	/* effective SOF_* flags; 0: none */
	bool		tx_keyed;	/* tx_key was taken from st_key */
	bool		tx_active;	/* a software record is wanted */
	bool		tx_hwtaken;	/* a driver took the hardware request */
	bool		tx_hwleft;	/* the hardware request reached an
					 * interface */
	uint64_t	tx_swid;	/* the software request, 0 if none */
	uint64_t	tx_hwid;	/* the hardware request, 0 if none */
	u_int		tx_mark;	/* stream: the request's mark */
	u_int		tx_nmarks;	/* stream: marks in flight, 0: none */
};

/*
 * One TX record for the error queue, software or hardware
 * (so_tstamp_tx_record()).
 */
struct so_tstamp_txrec {
	int		tr_flags;	/* SOF_* flags of the datagram */
	uint32_t	tr_key;		/* OPT_ID key: ee_data */
	uint32_t	tr_info;	/* SCM_TSTAMP_*: ee_info */
	uint64_t	tr_swns;	/* software stamp, uptime ns; 0: none */
	uint64_t	tr_hwns;	/* raw hardware stamp; 0: none */
	const struct so_tstamp_cmsg *tr_cmsg; /* OPT_CMSG, NULL: none */
	u_int		tr_ifindex;	/* OPT_CMSG: interface, 0: unknown */
};

struct ifnet;

/* Number of sockets wanting RX software stamps; gates the clock read. */
extern volatile u_int	so_tstamp_rx_users;

void	so_tstamp_rx_stamp(struct mbuf *);

/*
 * Link-layer hooks.  RX: the frame entered the stack (ether_input,
 * looutput).  Each costs one load and a predicted-not-taken branch
 * when unused.
 */
#define	SO_TSTAMP_RX(m)							\
do {									\
	if (__predict_false(so_tstamp_rx_users != 0))			\
		so_tstamp_rx_stamp(m);					\
} while (/* CONSTCOND */ 0)

/*
 * A received packet sent again (ip_output(), ip6_output(),
 * bridge_enqueue(): forwarded, bridged, or reflected, as ICMP and TCP
 * replies reuse the mbuf): its receive stamps describe its arrival, not
 * what bpf and the drivers see now.
 */
#define	SO_TSTAMP_RX_CLEAR(m)						\
do {									\
	(m)->m_pkthdr.tstamp_flags &= ~M_TSTAMP_HW;			\
	(m)->m_pkthdr.tstamp_sw = 0;					\
} while (/* CONSTCOND */ 0)

/*
 * TX, Linux's two moments.  SCHED: the packet is handed to the
 * interface's send queue (ifq_enqueue).  SND: the driver hands it to
 * the device (Linux's skb_tx_timestamp()); a driver that calls
 * SO_TSTAMP_TX_SND registers with so_tstamp_tx_driver() at attach,
 * and for any other interface SND is taken with SCHED.  looutput is
 * the loopback driver: both at once.
 */
#define	SO_TSTAMP_TX_SCHED(ifp, m)					\
do {									\
	if (__predict_false(so_tstamp_tx_pending != 0))			\
		so_tstamp_tx_sched((ifp), (m));				\
} while (/* CONSTCOND */ 0)

#define	SO_TSTAMP_TX_SND(ifp, m)					\
do {									\
	if (__predict_false(so_tstamp_tx_pending != 0))			\
		so_tstamp_tx_snd((ifp), (m));				\
} while (/* CONSTCOND */ 0)

/*
 * A copy of an outgoing packet that is not the packet (ip_mloopback):
 * it must not stamp the sender's request.
 */
#define	SO_TSTAMP_TX_COPY(m)						\
do {									\
	if (__predict_false(so_tstamp_tx_pending != 0))			\
		so_tstamp_tx_copy(m);					\
} while (/* CONSTCOND */ 0)

/*
 * ip6_output() fragments into new mbufs: the first fragment (to) is
 * the packet now, and takes its TX stamp requests from the original.
 */
#define	SO_TSTAMP_TX_MOVE(to, from)					\
do {									\
	if (__predict_false(so_tstamp_tx_pending != 0))			\
		so_tstamp_tx_move((to), (from));			\
} while (/* CONSTCOND */ 0)

/*
 * Does the socket want RX control messages made when a datagram is
 * queued, by *_savecontrol() (SO_RXQ_OVFL's count, OPT_PKTINFO)?  Its
 * stamps are made when it is read (SO_TSTAMP_DGRAM_BEGIN()).
 */
#define	SO_TSTAMP_RXWANT(so)						\
	((so)->so_tstamp != NULL && (so)->so_tstamp->st_rxinput)

/*
 * soreceive() on a datagram socket: the record being read, whose first
 * data mbuf carries the stamps in its packet header.  Once its data
 * has been copied out, that mbuf is not freed but becomes the control
 * message (so_tstamp_dgram_end()): no allocation, nothing queued.
 */
struct so_tstamp_rxd {
	struct mbuf	**rd_controlp;	/* soreceive()'s, NULL: none wanted */
	const struct mbuf *rd_m;	/* the record's first data mbuf */
	struct mbuf	*rd_own;	/* rd_m, taken off the buffer */
	uint64_t	rd_sw;		/* its software stamp (uptime ns) */
	uint64_t	rd_hwns;	/* its raw hardware stamp, if rd_hw */
	bool		rd_hw;
};

#define	SO_TSTAMP_DGRAM_INIT(rd, controlp)				\
do {									\
	(rd)->rd_controlp = (controlp);					\
	(rd)->rd_m = NULL;						\
	(rd)->rd_own = NULL;						\
} while (/* CONSTCOND */ 0)

/*
 * soreceive() (socket locked) is about to read the record whose first
 * data mbuf is m: note its stamps if the socket reports any on its
 * datagrams (st_dgram: IPv4 and IPv6 datagram sockets, not AF_LOCAL)
 * and wants control messages.  A macro, since it runs for every
 * datagram read.  The stamps are copied now: the socket is unlocked
 * while the data is copied out, and a MSG_PEEK'd record may be read and
 * freed by another thread meanwhile.
 */
#define	SO_TSTAMP_DGRAM_BEGIN(so, m, rd)				\
do {									\
	if (__predict_false((so)->so_tstamp != NULL) &&			\
	    (so)->so_tstamp->st_dgram && (rd)->rd_controlp != NULL &&	\
	    (m) != NULL && ((m)->m_flags & M_PKTHDR) != 0) {		\
		(rd)->rd_m = (m);					\
		(rd)->rd_sw = (m)->m_pkthdr.tstamp_sw;			\
		(rd)->rd_hw =						\
		    ((m)->m_pkthdr.tstamp_flags & M_TSTAMP_HW) != 0;	\
		(rd)->rd_hwns = (m)->m_pkthdr.tstamp_hw;		\
	}								\
} while (/* CONSTCOND */ 0)

/* The record's data mbuf m was read: free it, unless it is rd_m. */
#define	SO_TSTAMP_DGRAM_FREE(sb, m, rd)					\
do {									\
	if (__predict_false((m) == (rd)->rd_m)) {			\
		(sb)->sb_mb = (m)->m_next;				\
		(m)->m_next = (m)->m_nextpkt = NULL;			\
		(rd)->rd_own = (m);					\
	} else {							\
		/* MFREE() is several statements. */			\
		MFREE((m), (sb)->sb_mb);				\
	}								\
} while (/* CONSTCOND */ 0)

/* Is a record waiting on the error queue (poll, kqueue)? */
#define	SO_TSTAMP_ERRQ_PENDING(so)					\
	((so)->so_tstamp != NULL && (so)->so_tstamp->st_errq != NULL)

/* tcp_input(), before it appends segment m to the receive buffer. */
#define	SO_TSTAMP_STREAM_RX(so, m)					\
do {									\
	if (__predict_false((so)->so_tstamp != NULL &&			\
	    (so)->so_tstamp->st_rxwant))				\
		so_tstamp_stream_rx((so), (m));				\
} while (/* CONSTCOND */ 0)

/*
 * tcp_output(), around ip_output()/ip6_output() of a segment whose data
 * starts at sequence number seq: the TX stamps of the writes whose last
 * byte it carries.
 */
#define	SO_TSTAMP_STREAM_OUT(tx, so, m, seq, len)			\
do {									\
	(tx)->tx_nmarks = 0;						\
	if (__predict_false((so)->so_tstamp != NULL &&			\
	    ((so)->so_tstamp->st_ntxm != 0 || (so)->so_tstamp->st_wopen))) \
		so_tstamp_stream_out((tx), (so), (m), (seq), (len));	\
} while (/* CONSTCOND */ 0)

#define	SO_TSTAMP_STREAM_OUT_END(tx, so, error)				\
do {									\
	if (__predict_false((tx)->tx_nmarks != 0))			\
		so_tstamp_stream_out_end((tx), (so), (error));		\
} while (/* CONSTCOND */ 0)

/* tcp_input(), after snd_una advanced to una: TX_ACK records. */
#define	SO_TSTAMP_STREAM_ACKED(so, una)					\
do {									\
	if (__predict_false((so)->so_tstamp != NULL &&			\
	    (so)->so_tstamp->st_ntxm != 0))				\
		so_tstamp_stream_acked((so), (una));			\
} while (/* CONSTCOND */ 0)

/* Socket layer (kern/uipc_socket*.c) */
void	so_tstamp_init(void);
int	so_tstamp_setopt(struct socket *, const struct sockopt *);
int	so_tstamp_getopt(struct socket *, struct sockopt *);
int	so_tstamp_inherit(struct socket *, struct socket *);
void	so_tstamp_free(struct socket *);
int	so_tstamp_sendctl(struct socket *, struct mbuf **);
void	so_tstamp_senddone(struct socket *);
int	so_tstamp_errq_receive(struct socket *, struct uio *,
	    struct mbuf **, int *);
int	so_tstamp_poll(struct socket *, int);
void	so_tstamp_stream_rx(struct socket *, struct mbuf *);
void	so_tstamp_stream_read(struct socket *, size_t, int, struct mbuf **);
void	so_tstamp_dgram_end(struct socket *, struct so_tstamp_rxd *, int);
void	so_tstamp_stream_send(struct socket *, uint32_t, const struct mbuf *);
void	so_tstamp_stream_out(struct so_tstamp_tx *, struct socket *,
	    struct mbuf *, uint32_t, size_t);
void	so_tstamp_stream_out_end(struct so_tstamp_tx *, struct socket *, int);
void	so_tstamp_stream_acked(struct socket *, uint32_t);
int	so_tstamp_errq_append(struct socket *, struct mbuf *);
void	so_tstamp_errq_dropped(struct socket *);

/* Protocols (netinet, netinet6) */
struct mbuf **so_tstamp_savecontrol(struct socket *, struct mbuf *,
	    struct mbuf **);
void	so_tstamp_tx_begin(struct so_tstamp_tx *, struct socket *,
	    struct mbuf *);
void	so_tstamp_tx_end(struct so_tstamp_tx *, struct socket *, int);
int	so_tstamp_tx_record(struct socket *, const struct so_tstamp_txrec *,
	    struct mbuf *);

#endif /* _KERNEL */

#endif /* !_SYS_SO_TSTAMP_H_ */
