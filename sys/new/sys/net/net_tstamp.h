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
 * Packet timestamping: the SO_TIMESTAMPING flag bits and records.
 *
 * The bit values and structure layouts are those of Linux's
 * <linux/net_tstamp.h>, so that programs written for Linux compile
 * unchanged and tables (e.g. in language bindings) can be shared.
 * The option and control message numbers (SO_TIMESTAMPING,
 * SCM_TIMESTAMPING, ...) are NetBSD's own and live in <sys/socket.h>.
 */

#ifndef _NET_NET_TSTAMP_H_
#define _NET_NET_TSTAMP_H_

#include <sys/types.h>
#include <sys/time.h>

/* SO_TIMESTAMPING flags: generation (which stamps to take) */
#define	SOF_TIMESTAMPING_TX_HARDWARE	(1 << 0)
#define	SOF_TIMESTAMPING_TX_SOFTWARE	(1 << 1)
#define	SOF_TIMESTAMPING_RX_HARDWARE	(1 << 2)
#define	SOF_TIMESTAMPING_RX_SOFTWARE	(1 << 3)
/* reporting (which stamps to return) */
#define	SOF_TIMESTAMPING_SOFTWARE	(1 << 4)
#define	SOF_TIMESTAMPING_SYS_HARDWARE	(1 << 5)	/* deprecated, ignored */
#define	SOF_TIMESTAMPING_RAW_HARDWARE	(1 << 6)
/* options */
#define	SOF_TIMESTAMPING_OPT_ID		(1 << 7)
#define	SOF_TIMESTAMPING_TX_SCHED	(1 << 8)
#define	SOF_TIMESTAMPING_TX_ACK		(1 << 9)
#define	SOF_TIMESTAMPING_OPT_CMSG	(1 << 10)
#define	SOF_TIMESTAMPING_OPT_TSONLY	(1 << 11)
#define	SOF_TIMESTAMPING_OPT_STATS	(1 << 12)
#define	SOF_TIMESTAMPING_OPT_PKTINFO	(1 << 13)
#define	SOF_TIMESTAMPING_OPT_TX_SWHW	(1 << 14)
#define	SOF_TIMESTAMPING_BIND_PHC	(1 << 15)
#define	SOF_TIMESTAMPING_OPT_ID_TCP	(1 << 16)
#define	SOF_TIMESTAMPING_OPT_RX_FILTER	(1 << 17)

#define	SOF_TIMESTAMPING_LAST		SOF_TIMESTAMPING_OPT_RX_FILTER
#define	SOF_TIMESTAMPING_MASK		((SOF_TIMESTAMPING_LAST << 1) - 1)

#define	SOF_TIMESTAMPING_TX_RECORD_MASK	(SOF_TIMESTAMPING_TX_HARDWARE | \
					 SOF_TIMESTAMPING_TX_SOFTWARE | \
					 SOF_TIMESTAMPING_TX_SCHED | \
					 SOF_TIMESTAMPING_TX_ACK)

/*
 * SO_TIMESTAMPING may also be set with this structure (Linux 5.18+).
 * bind_phc names a PTP clock; NetBSD has none, so BIND_PHC is refused.
 */
struct so_timestamping {
	int	flags;
	int	bind_phc;
};

/*
 * SCM_TIMESTAMPING payload: ts[0] is the software stamp, ts[1] is
 * unused (always zero), ts[2] is the raw hardware stamp.
 */
struct scm_timestamping {
	struct timespec	ts[3];
};

/*
 * SCM_TIMESTAMPING_PKTINFO payload, with OPT_PKTINFO on packets that
 * carry a hardware RX stamp: the receiving interface and the packet's
 * length at layer 2.
 */
struct scm_ts_pktinfo {
	uint32_t	if_index;
	uint32_t	pkt_length;
	uint32_t	reserved[2];
};

/* SIOCSHWTSTAMP / SIOCGHWTSTAMP: ifr_data points to this */
struct hwtstamp_config {
	int	flags;
	int	tx_type;
	int	rx_filter;
};

/* hwtstamp_config.flags */
#define	HWTSTAMP_FLAG_BONDED_PHC_INDEX	(1 << 0)

/* hwtstamp_config.tx_type */
#define	HWTSTAMP_TX_OFF			0
#define	HWTSTAMP_TX_ON			1
#define	HWTSTAMP_TX_ONESTEP_SYNC	2
#define	HWTSTAMP_TX_ONESTEP_P2P		3

/* hwtstamp_config.rx_filter */
#define	HWTSTAMP_FILTER_NONE			0
#define	HWTSTAMP_FILTER_ALL			1
#define	HWTSTAMP_FILTER_SOME			2
#define	HWTSTAMP_FILTER_PTP_V1_L4_EVENT		3
#define	HWTSTAMP_FILTER_PTP_V1_L4_SYNC		4
#define	HWTSTAMP_FILTER_PTP_V1_L4_DELAY_REQ	5
#define	HWTSTAMP_FILTER_PTP_V2_L4_EVENT		6
#define	HWTSTAMP_FILTER_PTP_V2_L4_SYNC		7
#define	HWTSTAMP_FILTER_PTP_V2_L4_DELAY_REQ	8
#define	HWTSTAMP_FILTER_PTP_V2_L2_EVENT		9
#define	HWTSTAMP_FILTER_PTP_V2_L2_SYNC		10
#define	HWTSTAMP_FILTER_PTP_V2_L2_DELAY_REQ	11
#define	HWTSTAMP_FILTER_PTP_V2_EVENT		12
#define	HWTSTAMP_FILTER_PTP_V2_SYNC		13
#define	HWTSTAMP_FILTER_PTP_V2_DELAY_REQ	14
#define	HWTSTAMP_FILTER_NTP_ALL			15

#endif /* !_NET_NET_TSTAMP_H_ */
