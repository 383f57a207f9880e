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
 * the extension unambiguous), which also stays continuous across
 * chip resets (ifconfig down/up).  That value is the raw hardware
 * stamp: nanoseconds of the NIC clock, never stepped or slewed.
 * SIOCGHWTSOFFSET relates it to a system clock.
 *
 * TX.  The 82576 latches one transmit stamp at a time (TSYNCTXCTL
 * VALID; reading TXSTMPH frees the latch).  A frame asking for a
 * stamp is sent with the time stamp bit of the advanced data
 * descriptor; while its stamp is unread the next frame asking for
 * one is held at the head of the send queue (counted as a wait)
 * until the stamp has been read, so no stamp is lost or given to the
 * wrong frame.  A stamp that does not arrive within a second is
 * counted as a timeout.  While TX stamping is on every frame uses an
 * advanced descriptor: QEMU's igb takes the time stamp request of a
 * legacy descriptor from the previous advanced one.
 *
 * RX.  The 82576 stamps only IEEE 1588 frames picked by its filters;
 * this driver supports the layer 2 (ethertype 0x88f7) PTPv2 filters
 * through ETQF.  One RX stamp is latched at a time; QEMU frees the
 * latch when RXSATRH is read, the datasheet when RXSTMPH is read, so
 * all four registers are read in the datasheet's order.  A latch no
 * frame claimed (e.g. the frame was dropped) is freed by wm_ts_tick.
 *
 * Locking: like the rest of wm(4) without WM_MPSAFE, everything runs
 * under the kernel lock at splnet.
 */

#include <sys/cdefs.h>
__KERNEL_RCSID(0, "$NetBSD$");

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
#include <sys/socket.h>
#include <sys/sockio.h>
#include <sys/time.h>
#include <sys/timevar.h>

#include <net/if.h>
#include <net/if_ether.h>
#include <net/if_hwtstamp.h>
#include <net/net_tstamp.h>

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

#define	TSYNC_VALID		0x00000001	/* TSYNC[RT]XCTL: latched */
#define	TSYNC_ENABLED		0x00000010
#define	TSYNCRXCTL_TYPE_MASK	0x0000000e
#define	TSYNCRXCTL_TYPE_L2_V2	0x00000000	/* TSYNCRXCFG message type */
#define	TSYNCRXCTL_TYPE_EVENT_V2 0x0000000a	/* all PTPv2 event messages */
#define	TSYNCRXCFG_MSGT_SHIFT	8		/* PTPv2 messageType */
#define	ETQF_FILTER_ENABLE	(1U << 26)
#define	ETQF_1588		(1U << 30)
#define	ETQF_PTP		3		/* the ETQF entry we use */

#define	TIMINCA_82576		((1U << 24) | (16U << 19))
#define	SYSTIM_SHIFT_82576	19
#define	CLOCK_BITS_82576	(64 - SYSTIM_SHIFT_82576)

#define	ETHERTYPE_PTP		0x88f7
#define	PTP_MSGT_SYNC		0
#define	PTP_MSGT_DELAY_REQ	1
#define	PTP_SEQID_OFF		30	/* sequenceId in the PTPv2 header */

#define	WM_TS_TX_TIMEOUT	hz	/* ticks a TX stamp may take */

struct wm_tstamp {
	device_t		ts_dev;
	struct ifnet		*ts_ifp;
	bus_space_tag_t		ts_st;
	bus_space_handle_t	ts_sh;
	int			ts_chip;
	u_int			ts_shift;	/* SYSTIM units per ns, log2 */
	u_int			ts_bits;	/* width of SYSTIM >> shift */

	/* Clock extension: the last counter value seen and its time. */
	uint64_t		ts_lastraw;
	uint64_t		ts_lastns;

	struct hwtstamp_config	ts_cfg;
	bool			ts_running;	/* wm_ts_init() since stop */

	/* TX: the one frame whose stamp is latched or due. */
	bool			ts_txpending;
	bool			ts_txheld;	/* a frame waits for it */
	struct mbuf		*ts_txm;	/* in the ring, not ours */
	struct m_tag		*ts_txreq;	/* its request, ours */
	int			ts_txticks;	/* when it was queued */
	callout_t		ts_txpoll;

	bool			ts_rxstuck;	/* latch seen by last tick */

	struct evcnt		ts_ev_txreq;	/* frames sent with a request */
	struct evcnt		ts_ev_txstamp;	/* TX stamps read */
	struct evcnt		ts_ev_txwait;	/* frames held for the latch */
	struct evcnt		ts_ev_txtimeout; /* stamps never latched */
	struct evcnt		ts_ev_txdrop;	/* requests dropped (down) */
	struct evcnt		ts_ev_txstale;	/* latches nobody asked for */
	struct evcnt		ts_ev_rxstamp;	/* RX stamps attached */
	struct evcnt		ts_ev_rxmiss;	/* TS bit without latch, or
						   other sequenceId */
	struct evcnt		ts_ev_rxstuck;	/* unclaimed latches freed */
};

#define	TS_READ(ts, reg)						\
	bus_space_read_4((ts)->ts_st, (ts)->ts_sh, (reg))
#define	TS_WRITE(ts, reg, val)						\
	bus_space_write_4((ts)->ts_st, (ts)->ts_sh, (reg), (val))

static void	wm_ts_txpoll(void *);
static void	wm_ts_tx_harvest(struct wm_tstamp *);
static void	wm_ts_tx_forget(struct wm_tstamp *, struct evcnt *);

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
	callout_init(&ts->ts_txpoll, 0);
	callout_setfunc(&ts->ts_txpoll, wm_ts_txpoll, ts);

	evcnt_attach_dynamic(&ts->ts_ev_txreq, EVCNT_TYPE_MISC, NULL,
	    xname, "tstamp tx requests");
	evcnt_attach_dynamic(&ts->ts_ev_txstamp, EVCNT_TYPE_MISC, NULL,
	    xname, "tstamp tx stamps");
	evcnt_attach_dynamic(&ts->ts_ev_txwait, EVCNT_TYPE_MISC, NULL,
	    xname, "tstamp tx waits");
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

void
wm_ts_detach(struct wm_tstamp *ts)
{

	if (ts == NULL)
		return;
	wm_ts_stop(ts);
	callout_halt(&ts->ts_txpoll, NULL);
	callout_destroy(&ts->ts_txpoll);
	evcnt_detach(&ts->ts_ev_txreq);
	evcnt_detach(&ts->ts_ev_txstamp);
	evcnt_detach(&ts->ts_ev_txwait);
	evcnt_detach(&ts->ts_ev_txtimeout);
	evcnt_detach(&ts->ts_ev_txdrop);
	evcnt_detach(&ts->ts_ev_txstale);
	evcnt_detach(&ts->ts_ev_rxstamp);
	evcnt_detach(&ts->ts_ev_rxmiss);
	evcnt_detach(&ts->ts_ev_rxstuck);
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

	lo = TS_READ(ts, WMREG_SYSTIML);
	hi = TS_READ(ts, WMREG_SYSTIMH);
	return ((hi << 32) | lo) >> ts->ts_shift;
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

	if (!ts->ts_txpending) {
		(void)TS_READ(ts, WMREG_TXSTMPL);
		(void)TS_READ(ts, WMREG_TXSTMPH);
	}
	(void)TS_READ(ts, WMREG_RXSTMPL);
	(void)TS_READ(ts, WMREG_RXSTMPH);
	(void)TS_READ(ts, WMREG_RXSATRL);
	(void)TS_READ(ts, WMREG_RXSATRH);
}

/* Program the filters and enables from ts_cfg. */
static void
wm_ts_program(struct wm_tstamp *ts)
{
	uint32_t rxctl = 0, rxcfg = 0, etqf = 0;

	TS_WRITE(ts, WMREG_TSYNCTXCTL,
	    ts->ts_cfg.tx_type == HWTSTAMP_TX_ON ? TSYNC_ENABLED : 0);

	switch (ts->ts_cfg.rx_filter) {
	case HWTSTAMP_FILTER_PTP_V2_L2_EVENT:
		/*
		 * All PTPv2 event messages on real hardware; QEMU ignores
		 * the type and stamps only the TSYNCRXCFG message type,
		 * Sync.
		 */
		rxctl = TSYNC_ENABLED | TSYNCRXCTL_TYPE_EVENT_V2;
		rxcfg = PTP_MSGT_SYNC << TSYNCRXCFG_MSGT_SHIFT;
		break;
	case HWTSTAMP_FILTER_PTP_V2_L2_SYNC:
		rxctl = TSYNC_ENABLED | TSYNCRXCTL_TYPE_L2_V2;
		rxcfg = PTP_MSGT_SYNC << TSYNCRXCFG_MSGT_SHIFT;
		break;
	case HWTSTAMP_FILTER_PTP_V2_L2_DELAY_REQ:
		rxctl = TSYNC_ENABLED | TSYNCRXCTL_TYPE_L2_V2;
		rxcfg = PTP_MSGT_DELAY_REQ << TSYNCRXCFG_MSGT_SHIFT;
		break;
	default:
		break;
	}
	if (rxctl != 0)
		etqf = ETQF_FILTER_ENABLE | ETQF_1588 | ETHERTYPE_PTP;
	TS_WRITE(ts, WMREG_TSYNCRXCFG, rxcfg);
	TS_WRITE(ts, WMREG_ETQF(ETQF_PTP), etqf);
	TS_WRITE(ts, WMREG_TSYNCRXCTL, rxctl);
	wm_ts_clear_latches(ts);
	ts->ts_rxstuck = false;
}

/*
 * The chip was reset (attach, wm_init): restart SYSTIM and carry the
 * 64-bit clock on from where it was.
 */
void
wm_ts_init(struct wm_tstamp *ts)
{

	if (ts == NULL)
		return;
	TS_WRITE(ts, WMREG_TIMINCA, TIMINCA_82576);
	ts->ts_lastraw = wm_ts_readraw(ts);
	wm_ts_program(ts);
	ts->ts_running = true;
}

/* Interface going down: give up on the pending TX stamp. */
void
wm_ts_stop(struct wm_tstamp *ts)
{

	if (ts == NULL)
		return;
	wm_ts_tx_forget(ts, &ts->ts_ev_txdrop);
	ts->ts_txheld = false;
	ts->ts_running = false;
}

/*
 * TX.
 */

bool
wm_ts_tx_advanced(const struct wm_tstamp *ts)
{

	return ts != NULL && ts->ts_cfg.tx_type == HWTSTAMP_TX_ON;
}

/* No TX stamp is due any more. */
static void
wm_ts_tx_clear(struct wm_tstamp *ts)
{

	ts->ts_txpending = false;
	ts->ts_txreq = NULL;
	ts->ts_txm = NULL;
	callout_stop(&ts->ts_txpoll);
}

/* Read the TX latch if it holds the pending frame's stamp. */
static void
wm_ts_tx_harvest(struct wm_tstamp *ts)
{
	uint32_t lo, hi;

	if (!ts->ts_txpending ||
	    (TS_READ(ts, WMREG_TSYNCTXCTL) & TSYNC_VALID) == 0)
		return;
	lo = TS_READ(ts, WMREG_TXSTMPL);
	hi = TS_READ(ts, WMREG_TXSTMPH);
	hwtstamp_tx_deliver(ts->ts_txreq, wm_ts_stamp(ts, lo, hi));
	ts->ts_ev_txstamp.ev_count++;
	wm_ts_tx_clear(ts);
}

/* Give up on the TX stamp still due, if any, counting it in ev. */
static void
wm_ts_tx_forget(struct wm_tstamp *ts, struct evcnt *ev)
{

	if (!ts->ts_txpending)
		return;
	hwtstamp_tx_discard(ts->ts_txreq);
	ev->ev_count++;
	wm_ts_tx_clear(ts);
}

/*
 * Called for the frame at the head of the send queue before it is
 * dequeued.
 */
int
wm_ts_tx_check(struct wm_tstamp *ts, struct mbuf *m)
{

	if (ts == NULL || !hwtstamp_tx_wanted(m))
		return WM_TS_TX_PLAIN;
	if (ts->ts_cfg.tx_type != HWTSTAMP_TX_ON) {
		/* Off: no stamp will come, let the request go now. */
		hwtstamp_tx_discard(hwtstamp_tx_take(m));
		return WM_TS_TX_PLAIN;
	}
	wm_ts_tx_harvest(ts);
	if (ts->ts_txpending) {
		if (!ts->ts_txheld) {
			ts->ts_txheld = true;
			ts->ts_ev_txwait.ev_count++;
		}
		return WM_TS_TX_HOLD;
	}
	ts->ts_txheld = false;
	if (TS_READ(ts, WMREG_TSYNCTXCTL) & TSYNC_VALID) {
		/* A timed out stamp came in after all. */
		(void)TS_READ(ts, WMREG_TXSTMPL);
		(void)TS_READ(ts, WMREG_TXSTMPH);
		ts->ts_ev_txstale.ev_count++;
	}
	return WM_TS_TX_STAMP;
}

/* The frame wm_ts_tx_check() said to stamp was handed to the chip. */
void
wm_ts_tx_queued(struct wm_tstamp *ts, struct mbuf *m)
{

	KASSERT(!ts->ts_txpending);
	ts->ts_txreq = hwtstamp_tx_take(m);
	ts->ts_txm = m;
	ts->ts_txpending = true;
	ts->ts_txticks = hardclock_ticks;
	ts->ts_ev_txreq.ev_count++;
	/* QEMU latches while TDT is written; real chips on the wire. */
	wm_ts_tx_harvest(ts);
	if (ts->ts_txpending)
		callout_schedule(&ts->ts_txpoll, 1);
}

/* The frame cannot carry the request (legacy descriptor, VLAN). */
void
wm_ts_tx_unable(struct wm_tstamp *ts, struct mbuf *m)
{

	hwtstamp_tx_discard(hwtstamp_tx_take(m));
	ts->ts_ev_txdrop.ev_count++;
}

/* Frame m was sent and is about to be freed. */
void
wm_ts_tx_done(struct wm_tstamp *ts, struct mbuf *m)
{

	if (ts == NULL || m != ts->ts_txm)
		return;
	ts->ts_txm = NULL;
	wm_ts_tx_harvest(ts);
}

/* Poll for a TX stamp still due, give up after WM_TS_TX_TIMEOUT. */
static void
wm_ts_tx_poll1(struct wm_tstamp *ts)
{

	if (!ts->ts_txpending)
		return;
	wm_ts_tx_harvest(ts);
	if (!ts->ts_txpending)
		return;
	if (hardclock_ticks - ts->ts_txticks > WM_TS_TX_TIMEOUT) {
		wm_ts_tx_forget(ts, &ts->ts_ev_txtimeout);
		return;
	}
	callout_schedule(&ts->ts_txpoll, 1);
}

static void
wm_ts_txpoll(void *arg)
{
	struct wm_tstamp *ts = arg;
	struct ifnet *ifp = ts->ts_ifp;
	bool held;
	int s;

	s = splnet();
	wm_ts_tx_poll1(ts);
	held = ts->ts_txheld && !ts->ts_txpending;
	if (held && (ifp->if_flags & IFF_RUNNING) != 0)
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
	uint8_t b[2];

	if (ts == NULL || (staterr & NQRX_ST_TS) == 0 ||
	    ts->ts_cfg.rx_filter == HWTSTAMP_FILTER_NONE)
		return;
	if ((TS_READ(ts, WMREG_TSYNCRXCTL) & TSYNC_VALID) == 0) {
		ts->ts_ev_rxmiss.ev_count++;
		return;
	}
	lo = TS_READ(ts, WMREG_RXSTMPL);
	hi = TS_READ(ts, WMREG_RXSTMPH);
	(void)TS_READ(ts, WMREG_RXSATRL);
	satrh = TS_READ(ts, WMREG_RXSATRH);
	ts->ts_rxstuck = false;

	/*
	 * The descriptor's TS bit says the latch is this frame's.  The
	 * latch also names the frame by its PTP sequenceId; a difference
	 * is only counted (byte order and offset of that field differ
	 * between the datasheet and QEMU).
	 */
	if (m->m_pkthdr.len >= ETHER_HDR_LEN + PTP_SEQID_OFF + 2) {
		m_copydata(m, ETHER_HDR_LEN + PTP_SEQID_OFF, 2, b);
		wire = (b[0] << 8) | b[1];
		seq = satrh >> 16;
		if (seq != wire && seq != bswap16(wire))
			ts->ts_ev_rxmiss.ev_count++;
	}
	hwtstamp_rx_set(m, wm_ts_stamp(ts, lo, hi));
	ts->ts_ev_rxstamp.ev_count++;
}

/* Once a second: keep the clock extension fresh, free stuck latches. */
void
wm_ts_tick(struct wm_tstamp *ts)
{

	if (ts == NULL || !ts->ts_running)
		return;
	(void)wm_ts_ns(ts, wm_ts_readraw(ts));
	wm_ts_tx_poll1(ts);
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
}

/*
 * ioctls.
 */

static int
wm_ts_set(struct wm_tstamp *ts, struct hwtstamp_config *cfg)
{

	if (cfg->flags != 0)
		return EINVAL;
	switch (cfg->tx_type) {
	case HWTSTAMP_TX_OFF:
	case HWTSTAMP_TX_ON:
		break;
	default:
		return ERANGE;
	}
	switch (cfg->rx_filter) {
	case HWTSTAMP_FILTER_NONE:
	case HWTSTAMP_FILTER_PTP_V2_L2_EVENT:
	case HWTSTAMP_FILTER_PTP_V2_L2_SYNC:
	case HWTSTAMP_FILTER_PTP_V2_L2_DELAY_REQ:
		break;
	default:
		/* 82576: no "all", and no layer 4 (UDP) filter here. */
		return ERANGE;
	}
	ts->ts_cfg = *cfg;
	ts->ts_txheld = false;
	if (!ts->ts_running)
		return 0;		/* wm_ts_init() programs it */
	if (cfg->tx_type == HWTSTAMP_TX_OFF && ts->ts_txpending) {
		/* Turned off: the stamp still due is not reported. */
		wm_ts_tx_harvest(ts);
		wm_ts_tx_forget(ts, &ts->ts_ev_txdrop);
	}
	wm_ts_program(ts);
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
	    (1U << HWTSTAMP_FILTER_PTP_V2_L2_DELAY_REQ);
	hti->hti_flags = HWTSTAMP_INFO_CLOCK | HWTSTAMP_INFO_RX_ONE |
	    HWTSTAMP_INFO_TX_ONE;
	hti->hti_clock_bits = ts->ts_bits;
	hti->hti_config = ts->ts_cfg;
	strlcpy(hti->hti_chip, wm_ts_chipname(ts->ts_chip),
	    sizeof(hti->hti_chip));
}

static int
wm_ts_sysoff(struct wm_tstamp *ts, void *uaddr)
{
	struct hwtstamp_sysoff *hso;
	struct hwtstamp_sysoff_sample *hss;
	uint64_t raw;
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
		s = splhigh();
		if (hso->hso_clock == CLOCK_MONOTONIC) {
			nanouptime(&hss->hss_before);
			raw = wm_ts_readraw(ts);
			nanouptime(&hss->hss_after);
		} else {
			nanotime(&hss->hss_before);
			raw = wm_ts_readraw(ts);
			nanotime(&hss->hss_after);
		}
		wm_ts_ns2ts(wm_ts_ns(ts, raw), &hss->hss_nic);
		splx(s);
	}
	error = copyout(hso, uaddr, offsetof(struct hwtstamp_sysoff, hso_ts) +
	    hso->hso_nsamples * sizeof(*hss));
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
	int error, s;

	if (ts == NULL)
		return EOPNOTSUPP;
	switch (cmd) {
	case SIOCSHWTSTAMP:
		error = copyin(ifr->ifr_data, &cfg, sizeof(cfg));
		if (error)
			return error;
		s = splnet();
		error = wm_ts_set(ts, &cfg);
		cfg = ts->ts_cfg;
		splx(s);
		if (error)
			return error;
		return copyout(&cfg, ifr->ifr_data, sizeof(cfg));
	case SIOCGHWTSTAMP:
		s = splnet();
		cfg = ts->ts_cfg;
		splx(s);
		return copyout(&cfg, ifr->ifr_data, sizeof(cfg));
	case SIOCGHWTSINFO:
		s = splnet();
		wm_ts_info(ts, &hti);
		splx(s);
		return copyout(&hti, ifr->ifr_data, sizeof(hti));
	case SIOCGHWTSOFFSET:
		return wm_ts_sysoff(ts, ifr->ifr_data);
	default:
		return ENOTTY;
	}
}
