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
 * Hardware time stamping of network interfaces: the capability query
 * and the NIC clock / system clock cross read.  The configuration
 * (SIOCSHWTSTAMP/SIOCGHWTSTAMP and struct hwtstamp_config) is Linux's
 * and lives in <net/net_tstamp.h>; the ioctl numbers are in
 * <sys/sockio.h>.  All four ioctls take a struct ifreq whose ifr_data
 * points to the structure named below.
 *
 *	SIOCSHWTSTAMP	struct hwtstamp_config	set (privileged); the
 *						driver writes back what
 *						it applied
 *	SIOCGHWTSTAMP	struct hwtstamp_config	get the current setting
 *	SIOCGHWTSINFO	struct hwtstamp_info	what the interface can do
 *	SIOCGHWTSOFFSET	struct hwtstamp_sysoff	read the NIC clock between
 *						two system clock reads
 *
 * An interface without hardware time stamping fails all four with
 * EOPNOTSUPP.  Raw hardware stamps (ts[2] of SCM_TIMESTAMPING, bpf's
 * BPF_T_HWSTAMP) are in the NIC clock's time base: nanoseconds since
 * the driver started that clock, never stepped, not synchronised to
 * anything.  SIOCGHWTSOFFSET relates it to a system clock.
 */

#ifndef _NET_IF_HWTSTAMP_H_
#define _NET_IF_HWTSTAMP_H_

#include <sys/types.h>
#include <sys/time.h>
#include <net/net_tstamp.h>

/* SIOCGHWTSINFO (what Linux gets from ETHTOOL_GET_TS_INFO) */
struct hwtstamp_info {
	uint32_t	hti_so_timestamping;	/* SOF_TIMESTAMPING_* bits */
	int32_t		hti_phc_index;		/* always -1: no PTP clock
						   device (SIOCGHWTSOFFSET) */
	uint32_t	hti_tx_types;		/* 1 << HWTSTAMP_TX_* */
	uint32_t	hti_rx_filters;		/* 1 << HWTSTAMP_FILTER_* */
	uint32_t	hti_flags;		/* HWTSTAMP_INFO_* */
	uint32_t	hti_clock_bits;		/* width of the NIC counter in
						   ns before the driver extends
						   it to 64 bits */
	struct hwtstamp_config hti_config;	/* current setting */
	char		hti_chip[16];		/* NIC model, e.g. "82576" */
	uint32_t	hti_spare[4];
};

#define	HWTSTAMP_INFO_CLOCK	0x0001	/* SIOCGHWTSOFFSET works */
#define	HWTSTAMP_INFO_UNTESTED	0x0002	/* written from the datasheet,
					   never run on this chip */
#define	HWTSTAMP_INFO_RX_ONE	0x0004	/* one RX stamp latched at a time */
#define	HWTSTAMP_INFO_TX_ONE	0x0008	/* one TX stamp latched at a time */

/* SIOCGHWTSOFFSET (what Linux gets from PTP_SYS_OFFSET) */
#define	HWTSTAMP_SYSOFF_MAX	25

struct hwtstamp_sysoff_sample {
	struct timespec	hss_before;	/* system clock before the NIC read */
	struct timespec	hss_nic;	/* NIC clock, raw stamp time base */
	struct timespec	hss_after;	/* system clock after the NIC read */
};

struct hwtstamp_sysoff {
	uint32_t	hso_nsamples;	/* in: 1 .. HWTSTAMP_SYSOFF_MAX */
	int32_t		hso_clock;	/* in: CLOCK_REALTIME (default, 0 is
					   taken as it) or CLOCK_MONOTONIC */
	uint32_t	hso_spare[2];
	struct hwtstamp_sysoff_sample hso_ts[HWTSTAMP_SYSOFF_MAX];
};

#ifdef _KERNEL
struct mbuf;
struct m_tag;
struct socket;
struct so_tstamp_tx;

/*
 * Kernel side (net/if_hwtstamp.c).  A frame whose sender asked for a
 * hardware TX stamp carries a request tag (kern/uipc_tstamp_req.c
 * keeps the request).  The driver takes the tag off the frame when it
 * hands the frame to the NIC, and gives it back with the stamp, or
 * discards it if no stamp will come; both may be called at IPL_NET.
 * A driver says with so_tstamp_tx_hwcap() (<sys/so_tstamp_req.h>)
 * while it stamps TX: a request reaching any other interface dies
 * there.  hwtstamp_rx_set() puts a raw hardware RX stamp into the mbuf.
 */

/* Protocols, around their output, socket locked (sys/so_tstamp.h) */
void	hwtstamp_tx_begin(struct so_tstamp_tx *, struct socket *,
	    struct mbuf *);
int	hwtstamp_tx_end(struct so_tstamp_tx *, int);

/* Drivers, at IPL_NET or below */
bool	hwtstamp_tx_wanted(struct mbuf *);
struct m_tag *hwtstamp_tx_take(struct mbuf *);
void	hwtstamp_tx_deliver(struct m_tag *, uint64_t);
void	hwtstamp_tx_discard(struct m_tag *);
void	hwtstamp_rx_set(struct mbuf *, uint64_t);

/* Drivers' SIOCGHWTSOFFSET: copies hso out in the caller's layout */
int	hwtstamp_sysoff_copyout(const struct hwtstamp_sysoff *, void *);
extern int (*hwtstamp_sysoff_copyout32)(const struct hwtstamp_sysoff *,
	    void *);
#endif

#endif /* !_NET_IF_HWTSTAMP_H_ */
