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
 * wm(4): IEEE 1588 hardware time stamping.
 *
 * Chips
 *	82576		implemented; tested under QEMU's igb emulation
 *			(QEMU >= 8.1, "-device igb"), never on real
 *			hardware.
 *	82580, I350, I354, I210, I211
 *			not implemented: they cannot be emulated here.
 *			The 82580 family stamps every received packet
 *			and the I210 writes the stamp into the receive
 *			buffer; that is what would give hardware RX
 *			stamps of plain UDP.  These chips fail the
 *			time stamping ioctls with EOPNOTSUPP.
 *	older chips	no time stamping hardware (EOPNOTSUPP).
 *
 * Clock (82576).  SYSTIM is a 64-bit register advanced by TIMINCA
 * every 16 ns; with INCVALUE 16 << 19 it counts 2^-19 ns units, so
 * SYSTIM >> 19 is a 45-bit nanosecond counter that wraps after about
 * 9.8 hours.  wm_ts_ns() extends it to a continuous 64-bit
 * nanosecond value (reads at least every second from wm_tick keep
 * the extension unambiguous).  That value is the raw hardware stamp:
 * nanoseconds of the NIC clock, never stepped or slewed.
 * SIOCGHWTSOFFSET relates it to a system clock.  A chip reset
 * (ifconfig down/up, wm_init) restarts SYSTIM: wm_ts_stop() reads the
 * clock into the extension before the reset, and wm_ts_init() carries
 * it on from there by the system uptime that passed in between, so
 * the clock never steps back and keeps pace with the system clock
 * across the reset.  While the interface is down, SIOCGHWTSOFFSET
 * extrapolates the same way.
 *
 * TX.  The 82576 latches one transmit stamp at a time (TSYNCTXCTL
 * VALID; reading TXSTMPH frees the latch).  A frame asking for a
 * stamp is sent with the time stamp bit of the advanced data
 * descriptor.  While that stamp is due, later frames asking for one
 * are set aside on a side queue (ts_txq, in order, as long as if_snd
 * may be) and the frames behind them in if_snd, unstamped ones in
 * particular, go out at once: nothing waits behind a pending stamp.
 * wm_ts_tx_dequeue() hands the set-aside frames to the chip one by
 * one as the latch frees, so no stamp is lost or given to the wrong
 * frame.  A stamp-wanting frame that finds the side queue full goes
 * out unstamped (counted as skipped); a stamp that does not arrive
 * within WM_TS_TX_TIMEOUT is counted as a timeout.  While TX
 * stamping is on every frame uses an advanced descriptor: QEMU's igb
 * takes the time stamp request of a legacy descriptor from the
 * previous advanced one.
 *
 * RX.  The 82576 stamps only IEEE 1588 frames picked by its filters.
 * Layer 2 PTPv2 (ethertype 0x88f7): ETQF.  PTP over UDP (event port
 * 319), as Linux's igb programs it: the 5-tuple filter FTQF (UDP,
 * time stamp), with the destination port in IMIR and the source port
 * in SPQF; PTPv1 Sync or Delay_Req (TSYNCRXCTL type L4_V1 with the
 * message type in TSYNCRXCFG), or every PTPv2 event message at layer
 * 2 and 4 (EVENT_V2; reported as HWTSTAMP_FILTER_PTP_V2_EVENT).  The
 * UDP filters follow the 82576 datasheet and are not tested: QEMU's
 * igb ignores FTQF, SPQF and IMIR and stamps layer 2 frames only.
 * One RX stamp is latched at a time; QEMU frees the latch when
 * RXSATRH is read, the datasheet when RXSTMPH is read, so all four
 * registers are read in the datasheet's order.  A latch no frame
 * claimed (e.g. the frame was dropped) is freed by wm_ts_tick.
 *
 * Locking.  ts_mtx, a spin mutex at IPL_NET, protects everything
 * here that changes after attach: the clock extension (ts_lastraw,
 * ts_lastns), the configuration, the TX state and side queue, the
 * event counters and the time sync registers.  It is taken from the
 * RX path (with wm(4)'s RX lock held under WM_MPSAFE), the TX path
 * and wm_tick (TX lock held), the ts_txpoll callout (MP-safe with
 * NET_MPSAFE) and the ioctls.  It is a leaf lock: nothing sleeps or
 * takes another lock under it.  Stamps are handed to if_hwtstamp.c
 * (its own spin mutex) after it is released (struct wm_ts_done), and
 * the callout calls if_start after it is released.  Without
 * WM_MPSAFE the callers also hold the kernel lock at splnet.
 */

#include <sys/cdefs.h>
__KERNEL_RCSID(0, "$NetBSD$");

#ifdef _KERNEL_OPT
#include "opt_net_mpsafe.h"
#endif

#include <sys/param.h>
#include <sys/systm.h>
#include <sys/bus.h>
#include <sys/callout.h>
#include <sys/device.h>
#include <sys/endian.h>
#include <sys/errno.h>
#include <sys/evcnt.h>
#include <sys/kernel.h>
#include <sys/kmem.h>
#include <sys/mbuf.h>
#include <sys/mutex.h>
#include <sys/so_tstamp_req.h>
#include <sys/socket.h>
#include <sys/sockio.h>
#include <sys/time.h>
#include <sys/timevar.h>

#include <net/if.h>
#include <net/if_ether.h>
#include <net/if_hwtstamp.h>
#include <net/net_tstamp.h>

#include <netinet/in.h>

#include <dev/pci/if_wmreg.h>
#include <dev/pci/if_wmvar.h>
#include <dev/pci/if_wm_tstamp.h>

/* Time sync registers (82576 datasheet 8.15; same offsets on 82580+) */
#define	WMREG_SYSTIML		0xb600
#define	WMREG_SYSTIMH		0xb604
#define	WMREG_TIMINCA		0xb608
#define	WMREG_TSYNCTXCTL	0xb614
#define	WMREG_TXSTMPL		0xb618
#define	WMREG_TXSTMPH		0xb61c
#define	WMREG_TSYNCRXCTL	0xb620
#define	WMREG_RXSTMPL		0xb624
#define	WMREG_RXSTMPH		0xb628
#define	WMREG_RXSATRL		0xb62c
#define	WMREG_RXSATRH		0xb630
#define	WMREG_TSYNCRXCFG	0x5f50
#define	WMREG_ETQF(n)		(0x5cb0 + 4 * (n))
/* Receive filters (82576 datasheet 8.10) */
#define	WMREG_SPQF(n)		(0x59c0 + 4 * (n))	/* source port */
#define	WMREG_FTQF(n)		(0x59e0 + 4 * (n))	/* 5-tuple */
#define	WMREG_IMIR(n)		(0x5a80 + 4 * (n))	/* dest. port */
#define	WMREG_IMIREXT(n)	(0x5aa0 + 4 * (n))

#define	TSYNC_VALID		0x00000001	/* TSYNC[RT]XCTL: latched */
#define	TSYNC_ENABLED		0x00000010
#define	TSYNCRXCTL_TYPE_MASK	0x0000000e
#define	TSYNCRXCTL_TYPE_L2_V2	0x00000000	/* TSYNCRXCFG message type */
#define	TSYNCRXCTL_TYPE_L4_V1	0x00000002	/* TSYNCRXCFG V1 control */
#define	TSYNCRXCTL_TYPE_EVENT_V2 0x0000000a	/* all PTPv2 event messages */
#define	TSYNCRXCFG_MSGT_SHIFT	8		/* PTPv2 messageType */
#define	TSYNCRXCFG_V1_SYNC	0x00		/* PTPv1 control field */
#define	TSYNCRXCFG_V1_DELAY_REQ	0x01
#define	ETQF_FILTER_ENABLE	(1U << 26)
#define	ETQF_1588		(1U << 30)
#define	FTQF_VF_BP		0x00008000	/* do not compare the pool */
#define	FTQF_1588		0x08000000	/* time stamp matches */
#define	FTQF_MASK_PROTO		0x10000000	/* do not compare: protocol */
#define	FTQF_MASK_SRCADDR	0x20000000	/*  source address */
#define	FTQF_MASK_DSTADDR	0x40000000	/*  destination address */
#define	FTQF_MASK_SRCPORT	0x80000000	/*  source port */
#define	FTQF_MASK_ALL		0xf0000000	/* all of them: filter off */
#define	IMIREXT_SIZE_BP		0x00001000	/* any packet size */
#define	IMIREXT_CTRL_BP		0x00080000	/* any TCP control bits */
#define	WM_TS_FILTER		3		/* the ETQF/FTQF entry used */

#define	TIMINCA_82576		((1U << 24) | (16U << 19))
#define	SYSTIM_SHIFT_82576	19
#define	CLOCK_BITS_82576	(64 - SYSTIM_SHIFT_82576)

#define	ETHERTYPE_PTP		0x88f7
#define	PTP_EVENT_PORT		319	/* UDP port of PTP event messages */
#define	PTP_MSGT_SYNC		0
#define	PTP_MSGT_DELAY_REQ	1
#define	PTP_SEQID_OFF		30	/* sequenceId in the PTPv2 header */

#define	WM_TS_TX_TIMEOUT	hz	/* ticks a TX stamp may take */

#ifdef NET_MPSAFE
#define	WM_TS_CALLOUT_FLAGS	CALLOUT_MPSAFE
#else
#define	WM_TS_CALLOUT_FLAGS	0
#endif

struct wm_tstamp {
	device_t		ts_dev;
	struct ifnet		*ts_ifp;
	bus_space_tag_t		ts_st;
	bus_space_handle_t	ts_sh;
	int			ts_chip;
	u_int			ts_shift;	/* SYSTIM units per ns, log2 */
	u_int			ts_bits;	/* width of SYSTIM >> shift */

	kmutex_t		ts_mtx;		/* IPL_NET; all below */

	/* Clock extension: the last counter value seen and its time. */
	uint64_t		ts_lastraw;
	uint64_t		ts_lastns;
	bool			ts_stopped;	/* ts_stopup is valid */
	uint64_t		ts_stopup;	/* uptime (ns) at the stop */

	struct hwtstamp_config	ts_cfg;
	bool			ts_running;	/* wm_ts_init() since stop */

	/* TX: the one frame whose stamp is latched or due. */
	bool			ts_txpending;
	struct mbuf		*ts_txm;	/* in the ring, not ours */
	struct m_tag		*ts_txreq;	/* its request, ours */
	int			ts_txticks;	/* when it was queued */
	callout_t		ts_txpoll;

	/* TX: frames asking for a stamp while one is due, in order. */
	struct mbuf		*ts_txq_head;	/* linked by m_nextpkt */
	struct mbuf		**ts_txq_tailp;
	int			ts_txq_len;

	bool			ts_rxstuck;	/* latch seen by last tick */

	struct evcnt		ts_ev_txreq;	/* frames sent with a request */
	struct evcnt		ts_ev_txstamp;	/* TX stamps read */
	struct evcnt		ts_ev_txwait;	/* frames set aside */
	struct evcnt		ts_ev_txskip;	/* sent unstamped: side
						   queue full */
	struct evcnt		ts_ev_txtimeout; /* stamps never latched */
	struct evcnt		ts_ev_txdrop;	/* requests dropped (down) */
	struct evcnt		ts_ev_txstale;	/* latches nobody asked for */
	struct evcnt		ts_ev_rxstamp;	/* RX stamps attached */
	struct evcnt		ts_ev_rxmiss;	/* TS bit without latch, or
						   other sequenceId */
	struct evcnt		ts_ev_rxstuck;	/* unclaimed latches freed */
};

/*
 * A TX stamp (or the end of a request without one) found under
 * ts_mtx, handed to if_hwtstamp.c by wm_ts_finish() once it is
 * released.
 */
struct wm_ts_done {
	struct m_tag		*td_req;
	uint64_t		td_ns;		/* 0: no stamp */
};

#define	TS_READ(ts, reg)						\
	bus_space_read_4((ts)->ts_st, (ts)->ts_sh, (reg))
#define	TS_WRITE(ts, reg, val)						\
	bus_space_write_4((ts)->ts_st, (ts)->ts_sh, (reg), (val))
#define	TS_LOCKED(ts)		KASSERT(mutex_owned(&(ts)->ts_mtx))

static void	wm_ts_txpoll(void *);
static void	wm_ts_tx_harvest(struct wm_tstamp *, struct wm_ts_done *);
static void	wm_ts_tx_forget(struct wm_tstamp *, struct evcnt *,
		    struct wm_ts_done *);

static const char *
wm_ts_chipname(int chip)
{

	switch (chip) {
	case WM_T_82576:
		return "82576";
	default:
		return NULL;
	}
}

struct wm_tstamp *
wm_ts_attach(device_t dev, struct ifnet *ifp, bus_space_tag_t st,
    bus_space_handle_t sh, int chip)
{
	struct wm_tstamp *ts;
	const char *xname = device_xname(dev);

	if (wm_ts_chipname(chip) == NULL)
		return NULL;

	ts = kmem_zalloc(sizeof(*ts), KM_SLEEP);
	ts->ts_dev = dev;
	ts->ts_ifp = ifp;
	ts->ts_st = st;
	ts->ts_sh = sh;
	ts->ts_chip = chip;
	ts->ts_shift = SYSTIM_SHIFT_82576;
	ts->ts_bits = CLOCK_BITS_82576;
	ts->ts_cfg.tx_type = HWTSTAMP_TX_OFF;
	ts->ts_cfg.rx_filter = HWTSTAMP_FILTER_NONE;
	ts->ts_txq_tailp = &ts->ts_txq_head;
	mutex_init(&ts->ts_mtx, MUTEX_DEFAULT, IPL_NET);
	callout_init(&ts->ts_txpoll, WM_TS_CALLOUT_FLAGS);
	callout_setfunc(&ts->ts_txpoll, wm_ts_txpoll, ts);

	evcnt_attach_dynamic(&ts->ts_ev_txreq, EVCNT_TYPE_MISC, NULL,
	    xname, "tstamp tx requests");
	evcnt_attach_dynamic(&ts->ts_ev_txstamp, EVCNT_TYPE_MISC, NULL,
	    xname, "tstamp tx stamps");
	evcnt_attach_dynamic(&ts->ts_ev_txwait, EVCNT_TYPE_MISC, NULL,
	    xname, "tstamp tx waits");
	evcnt_attach_dynamic(&ts->ts_ev_txskip, EVCNT_TYPE_MISC, NULL,
	    xname, "tstamp tx skipped");
	evcnt_attach_dynamic(&ts->ts_ev_txtimeout, EVCNT_TYPE_MISC, NULL,
	    xname, "tstamp tx timeouts");
	evcnt_attach_dynamic(&ts->ts_ev_txdrop, EVCNT_TYPE_MISC, NULL,
	    xname, "tstamp tx drops");
	evcnt_attach_dynamic(&ts->ts_ev_txstale, EVCNT_TYPE_MISC, NULL,
	    xname, "tstamp tx stale");
	evcnt_attach_dynamic(&ts->ts_ev_rxstamp, EVCNT_TYPE_MISC, NULL,
	    xname, "tstamp rx stamps");
	evcnt_attach_dynamic(&ts->ts_ev_rxmiss, EVCNT_TYPE_MISC, NULL,
	    xname, "tstamp rx mismatches");
	evcnt_attach_dynamic(&ts->ts_ev_rxstuck, EVCNT_TYPE_MISC, NULL,
	    xname, "tstamp rx stuck");

	wm_ts_init(ts);
	return ts;
}

/* Hand a stamp found under ts_mtx to if_hwtstamp.c. */
static void
wm_ts_finish(struct wm_ts_done *td)
{

	if (td->td_req == NULL)
		return;
	if (td->td_ns != 0)
		hwtstamp_tx_deliver(td->td_req, td->td_ns);
	else
		hwtstamp_tx_discard(td->td_req);
	td->td_req = NULL;
}

/* The interface is detached: nothing runs here any more. */
void
wm_ts_detach(struct wm_tstamp *ts)
{
	struct mbuf *m;

	if (ts == NULL)
		return;
	so_tstamp_tx_hwcap(ts->ts_ifp, false);
	wm_ts_stop(ts);
	callout_halt(&ts->ts_txpoll, NULL);
	callout_destroy(&ts->ts_txpoll);
	while ((m = ts->ts_txq_head) != NULL) {
		ts->ts_txq_head = m->m_nextpkt;
		m->m_nextpkt = NULL;
		hwtstamp_tx_discard(hwtstamp_tx_take(m));
		m_freem(m);
	}
	evcnt_detach(&ts->ts_ev_txreq);
	evcnt_detach(&ts->ts_ev_txstamp);
	evcnt_detach(&ts->ts_ev_txwait);
	evcnt_detach(&ts->ts_ev_txskip);
	evcnt_detach(&ts->ts_ev_txtimeout);
	evcnt_detach(&ts->ts_ev_txdrop);
	evcnt_detach(&ts->ts_ev_txstale);
	evcnt_detach(&ts->ts_ev_rxstamp);
	evcnt_detach(&ts->ts_ev_rxmiss);
	evcnt_detach(&ts->ts_ev_rxstuck);
	mutex_destroy(&ts->ts_mtx);
	kmem_free(ts, sizeof(*ts));
}

/*
 * The clock.
 */

/* SYSTIM in ns, ts_bits wide.  SYSTIML first: reading it latches H. */
static uint64_t
wm_ts_readraw(struct wm_tstamp *ts)
{
	uint64_t lo, hi;

	TS_LOCKED(ts);
	lo = TS_READ(ts, WMREG_SYSTIML);
	hi = TS_READ(ts, WMREG_SYSTIMH);
	return ((hi << 32) | lo) >> ts->ts_shift;
}

static uint64_t
wm_ts_uptime(void)
{
	struct timespec up;

	nanouptime(&up);
	return (uint64_t)up.tv_sec * 1000000000 + up.tv_nsec;
}

/*
 * Continuous 64-bit ns of a ts_bits wide counter value: the signed
 * distance from the last value seen, which must be less than half
 * the counter's range (4.9 hours on the 82576).  Stamps latched a
 * little before the last clock read come out earlier, as they should;
 * only later values move the reference forward.
 */
static uint64_t
wm_ts_ns(struct wm_tstamp *ts, uint64_t raw)
{
	const uint64_t mask = ((uint64_t)1 << ts->ts_bits) - 1;
	const uint64_t half = (uint64_t)1 << (ts->ts_bits - 1);
	uint64_t d, ns;

	TS_LOCKED(ts);
	d = (raw - ts->ts_lastraw) & mask;
	if (d >= half) {
		/* Before the reference. */
		return ts->ts_lastns - ((ts->ts_lastraw - raw) & mask);
	}
	ns = ts->ts_lastns + d;
	ts->ts_lastraw = raw & mask;
	ts->ts_lastns = ns;
	return ns;
}

/* The NIC clock now; while stopped, carried on by the uptime. */
static uint64_t
wm_ts_now(struct wm_tstamp *ts)
{

	TS_LOCKED(ts);
	if (!ts->ts_running && ts->ts_stopped)
		return ts->ts_lastns + (wm_ts_uptime() - ts->ts_stopup);
	return wm_ts_ns(ts, wm_ts_readraw(ts));
}

static uint64_t
wm_ts_stamp(struct wm_tstamp *ts, uint32_t lo, uint32_t hi)
{

	return wm_ts_ns(ts, (((uint64_t)hi << 32) | lo) >> ts->ts_shift);
}

static void
wm_ts_ns2ts(uint64_t ns, struct timespec *tsp)
{

	tsp->tv_sec = ns / 1000000000;
	tsp->tv_nsec = ns % 1000000000;
}

/*
 * Drain latches left over from before (their frames are gone); the
 * TX latch only if no frame is waiting for it.
 */
static void
wm_ts_clear_latches(struct wm_tstamp *ts)
{

	TS_LOCKED(ts);
	if (!ts->ts_txpending) {
		(void)TS_READ(ts, WMREG_TXSTMPL);
		(void)TS_READ(ts, WMREG_TXSTMPH);
	}
	(void)TS_READ(ts, WMREG_RXSTMPL);
	(void)TS_READ(ts, WMREG_RXSTMPH);
	(void)TS_READ(ts, WMREG_RXSATRL);
	(void)TS_READ(ts, WMREG_RXSATRH);
}

/*
 * The receive filter for what was asked: the TSYNCRXCTL and
 * TSYNCRXCFG values, whether the layer 2 (ETQF) and layer 4 (FTQF)
 * filters are used, and the filter that is applied (*applied).
 * ERANGE for what the 82576 cannot do: "all" (which PTPv1 Sync and
 * Delay_Req together would need) and NTP.
 */
static int
wm_ts_rxfilter(int filter, int *applied, uint32_t *rxctl, uint32_t *rxcfg,
    bool *l2, bool *l4)
{

	*applied = filter;
	*rxctl = TSYNC_ENABLED;
	*rxcfg = 0;
	*l2 = *l4 = false;
	switch (filter) {
	case HWTSTAMP_FILTER_NONE:
		*rxctl = 0;
		break;
	case HWTSTAMP_FILTER_PTP_V2_L2_EVENT:
		/*
		 * All PTPv2 event messages on real hardware; QEMU ignores
		 * the type and stamps only the TSYNCRXCFG message type,
		 * Sync.
		 */
		*rxctl |= TSYNCRXCTL_TYPE_EVENT_V2;
		*rxcfg = PTP_MSGT_SYNC << TSYNCRXCFG_MSGT_SHIFT;
		*l2 = true;
		break;
	case HWTSTAMP_FILTER_PTP_V2_L2_SYNC:
		*rxctl |= TSYNCRXCTL_TYPE_L2_V2;
		*rxcfg = PTP_MSGT_SYNC << TSYNCRXCFG_MSGT_SHIFT;
		*l2 = true;
		break;
	case HWTSTAMP_FILTER_PTP_V2_L2_DELAY_REQ:
		*rxctl |= TSYNCRXCTL_TYPE_L2_V2;
		*rxcfg = PTP_MSGT_DELAY_REQ << TSYNCRXCFG_MSGT_SHIFT;
		*l2 = true;
		break;
	case HWTSTAMP_FILTER_PTP_V1_L4_SYNC:
		*rxctl |= TSYNCRXCTL_TYPE_L4_V1;
		*rxcfg = TSYNCRXCFG_V1_SYNC;
		*l4 = true;
		break;
	case HWTSTAMP_FILTER_PTP_V1_L4_DELAY_REQ:
		*rxctl |= TSYNCRXCTL_TYPE_L4_V1;
		*rxcfg = TSYNCRXCFG_V1_DELAY_REQ;
		*l4 = true;
		break;
	case HWTSTAMP_FILTER_PTP_V2_L4_EVENT:
	case HWTSTAMP_FILTER_PTP_V2_L4_SYNC:
	case HWTSTAMP_FILTER_PTP_V2_L4_DELAY_REQ:
	case HWTSTAMP_FILTER_PTP_V2_EVENT:
	case HWTSTAMP_FILTER_PTP_V2_SYNC:
	case HWTSTAMP_FILTER_PTP_V2_DELAY_REQ:
		/*
		 * The 82576 picks by layer only for all event messages.
		 * TSYNCRXCFG is for QEMU, which stamps only its type.
		 */
		*rxctl |= TSYNCRXCTL_TYPE_EVENT_V2;
		*rxcfg = PTP_MSGT_SYNC << TSYNCRXCFG_MSGT_SHIFT;
		*l2 = *l4 = true;
		*applied = HWTSTAMP_FILTER_PTP_V2_EVENT;
		break;
	default:
		return ERANGE;
	}
	return 0;
}

/* Program the filters and enables from ts_cfg. */
static void
wm_ts_program(struct wm_tstamp *ts)
{
	uint32_t rxctl, rxcfg, ftqf;
	int applied;
	bool l2, l4;

	TS_LOCKED(ts);
	if (wm_ts_rxfilter(ts->ts_cfg.rx_filter, &applied, &rxctl, &rxcfg,
	    &l2, &l4) != 0)
		panic("%s: rx_filter %d", __func__, ts->ts_cfg.rx_filter);
	TS_WRITE(ts, WMREG_TSYNCTXCTL,
	    ts->ts_cfg.tx_type == HWTSTAMP_TX_ON ? TSYNC_ENABLED : 0);
	TS_WRITE(ts, WMREG_TSYNCRXCFG, rxcfg);
	TS_WRITE(ts, WMREG_ETQF(WM_TS_FILTER),
	    l2 ? ETQF_FILTER_ENABLE | ETQF_1588 | ETHERTYPE_PTP : 0);
	if (l4) {
		/*
		 * UDP from port 319 to port 319, any address: the ports
		 * go into the registers in network byte order.
		 */
		TS_WRITE(ts, WMREG_IMIR(WM_TS_FILTER),
		    bswap16(PTP_EVENT_PORT));
		TS_WRITE(ts, WMREG_IMIREXT(WM_TS_FILTER),
		    IMIREXT_SIZE_BP | IMIREXT_CTRL_BP);
		TS_WRITE(ts, WMREG_SPQF(WM_TS_FILTER),
		    bswap16(PTP_EVENT_PORT));
		ftqf = IPPROTO_UDP | FTQF_VF_BP | FTQF_1588 |
		    FTQF_MASK_SRCADDR | FTQF_MASK_DSTADDR;
	} else
		ftqf = FTQF_MASK_ALL;
	TS_WRITE(ts, WMREG_FTQF(WM_TS_FILTER), ftqf);
	TS_WRITE(ts, WMREG_TSYNCRXCTL, rxctl);
	wm_ts_clear_latches(ts);
	ts->ts_rxstuck = false;
}

/*
 * The chip was reset (attach, wm_init): restart SYSTIM and carry the
 * 64-bit clock on from where wm_ts_stop() left it.
 */
void
wm_ts_init(struct wm_tstamp *ts)
{

	if (ts == NULL)
		return;
	mutex_spin_enter(&ts->ts_mtx);
	TS_WRITE(ts, WMREG_TIMINCA, TIMINCA_82576);
	if (ts->ts_stopped) {
		ts->ts_lastns += wm_ts_uptime() - ts->ts_stopup;
		ts->ts_stopped = false;
	}
	ts->ts_lastraw = wm_ts_readraw(ts);
	wm_ts_program(ts);
	ts->ts_running = true;
	mutex_spin_exit(&ts->ts_mtx);
}

/*
 * Interface going down, before the chip is reset: read the clock into
 * the extension, give up on the pending TX stamp.  Frames set aside
 * stay queued, like those in if_snd.
 */
void
wm_ts_stop(struct wm_tstamp *ts)
{
	struct wm_ts_done td = { NULL, 0 };

	if (ts == NULL)
		return;
	mutex_spin_enter(&ts->ts_mtx);
	if (ts->ts_running) {
		(void)wm_ts_ns(ts, wm_ts_readraw(ts));
		ts->ts_stopup = wm_ts_uptime();
		ts->ts_stopped = true;
	}
	wm_ts_tx_forget(ts, &ts->ts_ev_txdrop, &td);
	ts->ts_running = false;
	mutex_spin_exit(&ts->ts_mtx);
	wm_ts_finish(&td);
}

/*
 * TX.
 */

bool
wm_ts_tx_advanced(struct wm_tstamp *ts)
{
	bool on;

	if (ts == NULL)
		return false;
	mutex_spin_enter(&ts->ts_mtx);
	on = ts->ts_cfg.tx_type == HWTSTAMP_TX_ON;
	mutex_spin_exit(&ts->ts_mtx);
	return on;
}

/* No TX stamp is due any more; *td gets the request. */
static void
wm_ts_tx_clear(struct wm_tstamp *ts, uint64_t ns, struct wm_ts_done *td)
{

	TS_LOCKED(ts);
	KASSERT(td->td_req == NULL);
	td->td_req = ts->ts_txreq;
	td->td_ns = ns;
	ts->ts_txpending = false;
	ts->ts_txreq = NULL;
	ts->ts_txm = NULL;
	callout_stop(&ts->ts_txpoll);
}

/* Read the TX latch if it holds the pending frame's stamp. */
static void
wm_ts_tx_harvest(struct wm_tstamp *ts, struct wm_ts_done *td)
{
	uint32_t lo, hi;
	uint64_t ns;

	TS_LOCKED(ts);
	if (!ts->ts_txpending ||
	    (TS_READ(ts, WMREG_TSYNCTXCTL) & TSYNC_VALID) == 0)
		return;
	lo = TS_READ(ts, WMREG_TXSTMPL);
	hi = TS_READ(ts, WMREG_TXSTMPH);
	ns = wm_ts_stamp(ts, lo, hi);
	ts->ts_ev_txstamp.ev_count++;
	wm_ts_tx_clear(ts, ns != 0 ? ns : 1, td);
}

/* Give up on the TX stamp still due, if any, counting it in ev. */
static void
wm_ts_tx_forget(struct wm_tstamp *ts, struct evcnt *ev,
    struct wm_ts_done *td)
{

	TS_LOCKED(ts);
	if (!ts->ts_txpending)
		return;
	ev->ev_count++;
	wm_ts_tx_clear(ts, 0, td);
}

/* The latch is free for a new frame: drop a stale stamp first. */
static void
wm_ts_tx_latch_free(struct wm_tstamp *ts)
{

	TS_LOCKED(ts);
	KASSERT(!ts->ts_txpending);
	if (TS_READ(ts, WMREG_TSYNCTXCTL) & TSYNC_VALID) {
		/* A timed out stamp came in after all. */
		(void)TS_READ(ts, WMREG_TXSTMPL);
		(void)TS_READ(ts, WMREG_TXSTMPH);
		ts->ts_ev_txstale.ev_count++;
	}
}

/*
 * The next frame to hand to the chip (NULL: none), in place of
 * IFQ_DEQUEUE: a set-aside frame once the latch is free, else the
 * head of ifq, where a stamp-wanting frame is set aside while a stamp
 * is due.  *tsop says whether to ask for a stamp.  Called with wm(4)'s
 * TX lock held (or the kernel lock at splnet): only this path starts
 * stamps.
 */
struct mbuf *
wm_ts_tx_dequeue(struct wm_tstamp *ts, struct ifaltq *ifq, int *tsop)
{
	struct wm_ts_done td = { NULL, 0 };
	struct mbuf *m;
	bool on;

	*tsop = WM_TS_TX_PLAIN;
	if (ts == NULL) {
		IFQ_DEQUEUE(ifq, m);
		return m;
	}
	for (;;) {
		mutex_spin_enter(&ts->ts_mtx);
		wm_ts_tx_harvest(ts, &td);
		if (!ts->ts_txpending && (m = ts->ts_txq_head) != NULL) {
			/* A set-aside frame: its turn. */
			if ((ts->ts_txq_head = m->m_nextpkt) == NULL)
				ts->ts_txq_tailp = &ts->ts_txq_head;
			m->m_nextpkt = NULL;
			ts->ts_txq_len--;
			on = ts->ts_cfg.tx_type == HWTSTAMP_TX_ON;
			if (on)
				wm_ts_tx_latch_free(ts);
			mutex_spin_exit(&ts->ts_mtx);
			wm_ts_finish(&td);
			if (on)
				*tsop = WM_TS_TX_STAMP;
			else
				hwtstamp_tx_discard(hwtstamp_tx_take(m));
			return m;
		}
		mutex_spin_exit(&ts->ts_mtx);
		wm_ts_finish(&td);

		IFQ_DEQUEUE(ifq, m);
		if (m == NULL || !hwtstamp_tx_wanted(m))
			return m;
		mutex_spin_enter(&ts->ts_mtx);
		if (ts->ts_cfg.tx_type != HWTSTAMP_TX_ON) {
			/* Off: no stamp will come, let the request go now. */
			mutex_spin_exit(&ts->ts_mtx);
			hwtstamp_tx_discard(hwtstamp_tx_take(m));
			return m;
		}
		if (!ts->ts_txpending && ts->ts_txq_head == NULL) {
			wm_ts_tx_latch_free(ts);
			mutex_spin_exit(&ts->ts_mtx);
			*tsop = WM_TS_TX_STAMP;
			return m;
		}
		if (ts->ts_txq_len < ifq->ifq_maxlen) {
			/* Set it aside; the frames behind it go on. */
			*ts->ts_txq_tailp = m;
			ts->ts_txq_tailp = &m->m_nextpkt;
			ts->ts_txq_len++;
			ts->ts_ev_txwait.ev_count++;
			mutex_spin_exit(&ts->ts_mtx);
			continue;
		}
		/* Side queue full: send it now, unstamped. */
		ts->ts_ev_txskip.ev_count++;
		mutex_spin_exit(&ts->ts_mtx);
		hwtstamp_tx_discard(hwtstamp_tx_take(m));
		return m;
	}
}

/* The frame wm_ts_tx_dequeue() said to stamp was handed to the chip. */
void
wm_ts_tx_queued(struct wm_tstamp *ts, struct mbuf *m)
{
	struct wm_ts_done td = { NULL, 0 };
	struct m_tag *req;

	req = hwtstamp_tx_take(m);
	mutex_spin_enter(&ts->ts_mtx);
	KASSERT(!ts->ts_txpending);
	ts->ts_txreq = req;
	ts->ts_txm = m;
	ts->ts_txpending = true;
	ts->ts_txticks = hardclock_ticks;
	ts->ts_ev_txreq.ev_count++;
	/* QEMU latches while TDT is written; real chips on the wire. */
	wm_ts_tx_harvest(ts, &td);
	if (ts->ts_txpending)
		callout_schedule(&ts->ts_txpoll, 1);
	mutex_spin_exit(&ts->ts_mtx);
	wm_ts_finish(&td);
}

/* The frame cannot carry the request (legacy descriptor, VLAN). */
void
wm_ts_tx_unable(struct wm_tstamp *ts, struct mbuf *m)
{

	hwtstamp_tx_discard(hwtstamp_tx_take(m));
	mutex_spin_enter(&ts->ts_mtx);
	ts->ts_ev_txdrop.ev_count++;
	mutex_spin_exit(&ts->ts_mtx);
}

/* Frame m was sent and is about to be freed. */
void
wm_ts_tx_done(struct wm_tstamp *ts, struct mbuf *m)
{
	struct wm_ts_done td = { NULL, 0 };

	if (ts == NULL)
		return;
	mutex_spin_enter(&ts->ts_mtx);
	if (m == ts->ts_txm) {
		ts->ts_txm = NULL;
		wm_ts_tx_harvest(ts, &td);
	}
	mutex_spin_exit(&ts->ts_mtx);
	wm_ts_finish(&td);
}

/* Poll for a TX stamp still due, give up after WM_TS_TX_TIMEOUT. */
static void
wm_ts_tx_poll1(struct wm_tstamp *ts, struct wm_ts_done *td)
{

	TS_LOCKED(ts);
	if (!ts->ts_txpending)
		return;
	wm_ts_tx_harvest(ts, td);
	if (!ts->ts_txpending)
		return;
	if (hardclock_ticks - ts->ts_txticks > WM_TS_TX_TIMEOUT) {
		wm_ts_tx_forget(ts, &ts->ts_ev_txtimeout, td);
		return;
	}
	callout_schedule(&ts->ts_txpoll, 1);
}

static void
wm_ts_txpoll(void *arg)
{
	struct wm_tstamp *ts = arg;
	struct ifnet *ifp = ts->ts_ifp;
	struct wm_ts_done td = { NULL, 0 };
	bool kick;
	int s;

	s = splnet();
	mutex_spin_enter(&ts->ts_mtx);
	wm_ts_tx_poll1(ts, &td);
	/* Frames set aside can go now. */
	kick = !ts->ts_txpending && ts->ts_txq_head != NULL;
	mutex_spin_exit(&ts->ts_mtx);
	wm_ts_finish(&td);
	if (kick && (ifp->if_flags & IFF_RUNNING) != 0)
		(*ifp->if_start)(ifp);
	splx(s);
}

/*
 * RX: called for every received frame before bpf sees it.
 */
void
wm_ts_rx(struct wm_tstamp *ts, struct mbuf *m, uint32_t staterr)
{
	uint32_t lo, hi, satrh;
	uint16_t seq, wire;
	uint64_t ns;
	uint8_t b[2];

	if (ts == NULL || (staterr & NQRX_ST_TS) == 0)
		return;
	mutex_spin_enter(&ts->ts_mtx);
	if (ts->ts_cfg.rx_filter == HWTSTAMP_FILTER_NONE) {
		mutex_spin_exit(&ts->ts_mtx);
		return;
	}
	if ((TS_READ(ts, WMREG_TSYNCRXCTL) & TSYNC_VALID) == 0) {
		ts->ts_ev_rxmiss.ev_count++;
		mutex_spin_exit(&ts->ts_mtx);
		return;
	}
	lo = TS_READ(ts, WMREG_RXSTMPL);
	hi = TS_READ(ts, WMREG_RXSTMPH);
	(void)TS_READ(ts, WMREG_RXSATRL);
	satrh = TS_READ(ts, WMREG_RXSATRH);
	ts->ts_rxstuck = false;
	ns = wm_ts_stamp(ts, lo, hi);
	ts->ts_ev_rxstamp.ev_count++;

	/*
	 * The descriptor's TS bit says the latch is this frame's.  The
	 * latch also names a layer 2 frame by its PTP sequenceId; a
	 * difference is only counted (byte order and offset of that
	 * field differ between the datasheet and QEMU).
	 */
	if (m->m_pkthdr.len >= ETHER_HDR_LEN + PTP_SEQID_OFF + 2) {
		m_copydata(m, ETHER_HDR_LEN + PTP_SEQID_OFF, 2, b);
		wire = (b[0] << 8) | b[1];
		seq = satrh >> 16;
		if (seq != wire && seq != bswap16(wire))
			ts->ts_ev_rxmiss.ev_count++;
	}
	mutex_spin_exit(&ts->ts_mtx);
	hwtstamp_rx_set(m, ns);
}

/* Once a second: keep the clock extension fresh, free stuck latches. */
void
wm_ts_tick(struct wm_tstamp *ts)
{
	struct wm_ts_done td = { NULL, 0 };

	if (ts == NULL)
		return;
	mutex_spin_enter(&ts->ts_mtx);
	if (!ts->ts_running) {
		mutex_spin_exit(&ts->ts_mtx);
		return;
	}
	(void)wm_ts_ns(ts, wm_ts_readraw(ts));
	wm_ts_tx_poll1(ts, &td);
	if (ts->ts_cfg.rx_filter != HWTSTAMP_FILTER_NONE &&
	    (TS_READ(ts, WMREG_TSYNCRXCTL) & TSYNC_VALID) != 0) {
		if (ts->ts_rxstuck) {
			wm_ts_clear_latches(ts);
			ts->ts_ev_rxstuck.ev_count++;
			ts->ts_rxstuck = false;
		} else
			ts->ts_rxstuck = true;
	} else
		ts->ts_rxstuck = false;
	mutex_spin_exit(&ts->ts_mtx);
	wm_ts_finish(&td);
}

/*
 * ioctls.
 */

static int
wm_ts_set(struct wm_tstamp *ts, struct hwtstamp_config *cfg)
{
	struct wm_ts_done td = { NULL, 0 };
	uint32_t rxctl, rxcfg;
	int applied, error;
	bool l2, l4;

	if (cfg->flags != 0)
		return EINVAL;
	switch (cfg->tx_type) {
	case HWTSTAMP_TX_OFF:
	case HWTSTAMP_TX_ON:
		break;
	default:
		return ERANGE;
	}
	error = wm_ts_rxfilter(cfg->rx_filter, &applied, &rxctl, &rxcfg,
	    &l2, &l4);
	if (error)
		return error;
	cfg->rx_filter = applied;

	mutex_spin_enter(&ts->ts_mtx);
	ts->ts_cfg = *cfg;
	if (ts->ts_running) {
		if (cfg->tx_type == HWTSTAMP_TX_OFF && ts->ts_txpending) {
			/* Turned off: the stamp still due is not reported. */
			wm_ts_tx_harvest(ts, &td);
			if (td.td_req == NULL)
				wm_ts_tx_forget(ts, &ts->ts_ev_txdrop, &td);
		}
		wm_ts_program(ts);
	}
	/* else wm_ts_init() programs it */
	mutex_spin_exit(&ts->ts_mtx);
	wm_ts_finish(&td);
	/* Requests for frames sent from now on reach a driver or die. */
	so_tstamp_tx_hwcap(ts->ts_ifp, cfg->tx_type == HWTSTAMP_TX_ON);
	return 0;
}

static void
wm_ts_info(struct wm_tstamp *ts, struct hwtstamp_info *hti)
{

	memset(hti, 0, sizeof(*hti));
	hti->hti_so_timestamping = SOF_TIMESTAMPING_TX_HARDWARE |
	    SOF_TIMESTAMPING_RX_HARDWARE | SOF_TIMESTAMPING_RAW_HARDWARE |
	    SOF_TIMESTAMPING_TX_SOFTWARE | SOF_TIMESTAMPING_RX_SOFTWARE |
	    SOF_TIMESTAMPING_SOFTWARE;
	hti->hti_phc_index = -1;
	hti->hti_tx_types = (1U << HWTSTAMP_TX_OFF) | (1U << HWTSTAMP_TX_ON);
	hti->hti_rx_filters = (1U << HWTSTAMP_FILTER_NONE) |
	    (1U << HWTSTAMP_FILTER_PTP_V2_L2_EVENT) |
	    (1U << HWTSTAMP_FILTER_PTP_V2_L2_SYNC) |
	    (1U << HWTSTAMP_FILTER_PTP_V2_L2_DELAY_REQ) |
	    (1U << HWTSTAMP_FILTER_PTP_V1_L4_SYNC) |
	    (1U << HWTSTAMP_FILTER_PTP_V1_L4_DELAY_REQ) |
	    (1U << HWTSTAMP_FILTER_PTP_V2_L4_EVENT) |
	    (1U << HWTSTAMP_FILTER_PTP_V2_L4_SYNC) |
	    (1U << HWTSTAMP_FILTER_PTP_V2_L4_DELAY_REQ) |
	    (1U << HWTSTAMP_FILTER_PTP_V2_EVENT) |
	    (1U << HWTSTAMP_FILTER_PTP_V2_SYNC) |
	    (1U << HWTSTAMP_FILTER_PTP_V2_DELAY_REQ);
	hti->hti_flags = HWTSTAMP_INFO_CLOCK | HWTSTAMP_INFO_RX_ONE |
	    HWTSTAMP_INFO_TX_ONE;
	hti->hti_clock_bits = ts->ts_bits;
	mutex_spin_enter(&ts->ts_mtx);
	hti->hti_config = ts->ts_cfg;
	mutex_spin_exit(&ts->ts_mtx);
	strlcpy(hti->hti_chip, wm_ts_chipname(ts->ts_chip),
	    sizeof(hti->hti_chip));
}

static int
wm_ts_sysoff(struct wm_tstamp *ts, void *uaddr)
{
	struct hwtstamp_sysoff *hso;
	struct hwtstamp_sysoff_sample *hss;
	uint64_t ns;
	uint32_t i;
	int error, s;

	hso = kmem_zalloc(sizeof(*hso), KM_SLEEP);
	error = copyin(uaddr, hso, offsetof(struct hwtstamp_sysoff, hso_ts));
	if (error)
		goto out;
	if (hso->hso_nsamples < 1 ||
	    hso->hso_nsamples > HWTSTAMP_SYSOFF_MAX ||
	    (hso->hso_clock != CLOCK_REALTIME &&
	     hso->hso_clock != CLOCK_MONOTONIC)) {
		error = EINVAL;
		goto out;
	}
	for (i = 0; i < hso->hso_nsamples; i++) {
		hss = &hso->hso_ts[i];
		/* No interrupt between the three reads. */
		s = splhigh();
		mutex_spin_enter(&ts->ts_mtx);
		if (hso->hso_clock == CLOCK_MONOTONIC) {
			nanouptime(&hss->hss_before);
			ns = wm_ts_now(ts);
			nanouptime(&hss->hss_after);
		} else {
			nanotime(&hss->hss_before);
			ns = wm_ts_now(ts);
			nanotime(&hss->hss_after);
		}
		mutex_spin_exit(&ts->ts_mtx);
		splx(s);
		wm_ts_ns2ts(ns, &hss->hss_nic);
	}
	error = hwtstamp_sysoff_copyout(hso, uaddr);
 out:
	kmem_free(hso, sizeof(*hso));
	return error;
}

int
wm_ts_ioctl(struct wm_tstamp *ts, u_long cmd, void *data)
{
	struct ifreq *ifr = data;
	struct hwtstamp_config cfg;
	struct hwtstamp_info hti;
	int error;

	if (ts == NULL)
		return EOPNOTSUPP;
	switch (cmd) {
	case SIOCSHWTSTAMP:
		error = copyin(ifr->ifr_data, &cfg, sizeof(cfg));
		if (error)
			return error;
		error = wm_ts_set(ts, &cfg);
		if (error)
			return error;
		return copyout(&cfg, ifr->ifr_data, sizeof(cfg));
	case SIOCGHWTSTAMP:
		mutex_spin_enter(&ts->ts_mtx);
		cfg = ts->ts_cfg;
		mutex_spin_exit(&ts->ts_mtx);
		return copyout(&cfg, ifr->ifr_data, sizeof(cfg));
	case SIOCGHWTSINFO:
		wm_ts_info(ts, &hti);
		return copyout(&hti, ifr->ifr_data, sizeof(hti));
	case SIOCGHWTSOFFSET:
		return wm_ts_sysoff(ts, ifr->ifr_data);
	default:
		return ENOTTY;
	}
}
