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
 * gets a request in the table of pending TX requests
 * (kern/uipc_tstamp_req.c, with the software ones) and a packet tag
 * naming it (hwtstamp_tx_begin(), called by the protocols next to
 * so_tstamp_tx_begin()).  The request dies at the first interface
 * that cannot stamp TX; a driver able to stamp takes the tag off the
 * frame when it hands the frame to the NIC (hwtstamp_tx_take()) and
 * later gives it back with the stamp (hwtstamp_tx_deliver()) or
 * without (hwtstamp_tx_discard()), at IPL_NET; the table queues the
 * record on the socket's error queue from a soft interrupt.  Such a
 * driver says when it stamps TX with so_tstamp_tx_hwcap().
 *
 * RX.  hwtstamp_rx_set() puts the raw stamp into the mbuf header
 * (m_pkthdr.tstamp_hw, M_TSTAMP_HW) where *_savecontrol() and bpf
 * find it.
 *
 * This file calls into kern/ only; nothing in kern/ calls it.
 */

#include <sys/cdefs.h>
__KERNEL_RCSID(0, "$NetBSD$");

#include <sys/param.h>
#include <sys/systm.h>
#include <sys/mbuf.h>
#include <sys/proc.h>
#include <sys/so_tstamp.h>
#include <sys/so_tstamp_req.h>
#include <sys/socketvar.h>

#include <net/if_hwtstamp.h>
#include <net/net_tstamp.h>

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
	tx->tx_hwtaken = tx->tx_hwleft = false;
	if (__predict_true((tx->tx_flags & SOF_TIMESTAMPING_TX_HARDWARE) == 0))
		return;
	KASSERT(solocked(so));
	tx->tx_hwid = so_tstamp_req_hw(so, m, tx);
}

/*
 * Protocol output, after it returned: note whether a driver took the
 * hardware request and whether the datagram reached an interface, for
 * so_tstamp_tx_end(), and pass the error on.
 */
int
hwtstamp_tx_end(struct so_tstamp_tx *tx, int error)
{

	if (__predict_true(tx->tx_hwid == 0))
		return error;
	tx->tx_hwtaken = so_tstamp_req_hw_end(tx->tx_hwid, error,
	    &tx->tx_hwleft);
	return error;
}

/*
 * Driver side, at IPL_NET or below.
 */

bool
hwtstamp_tx_wanted(struct mbuf *m)
{

	return so_tstamp_req_hw_wanted(m);
}

struct m_tag *
hwtstamp_tx_take(struct mbuf *m)
{

	return so_tstamp_req_hw_take(m);
}

/* Stamp ns (0 is taken as 1: 0 means none) for the request. */
void
hwtstamp_tx_deliver(struct m_tag *mt, uint64_t ns)
{

	so_tstamp_req_hw_finish(mt, ns != 0 ? ns : 1);
}

void
hwtstamp_tx_discard(struct m_tag *mt)
{

	so_tstamp_req_hw_finish(mt, 0);
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
