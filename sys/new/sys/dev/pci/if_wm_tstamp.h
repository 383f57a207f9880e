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
 * wm(4) IEEE 1588 hardware time stamping (if_wm_tstamp.c): the
 * interface between if_wm.c and the time stamping code.
 */

#ifndef _DEV_PCI_IF_WM_TSTAMP_H_
#define _DEV_PCI_IF_WM_TSTAMP_H_

struct ifnet;
struct ifaltq;
struct mbuf;
struct wm_tstamp;

/* Advanced TX data descriptor: latch this frame's send time (82575+). */
#define	WM_NQTX_CMD_TSTAMP	(1U << 19)

/* What wm_ts_tx_dequeue() says about the frame it returns. */
#define	WM_TS_TX_PLAIN		0	/* send, no stamp */
#define	WM_TS_TX_STAMP		1	/* send with WM_NQTX_CMD_TSTAMP */

struct wm_tstamp *wm_ts_attach(device_t, struct ifnet *, bus_space_tag_t,
	    bus_space_handle_t, int);
void	wm_ts_detach(struct wm_tstamp *);
void	wm_ts_init(struct wm_tstamp *);
void	wm_ts_stop(struct wm_tstamp *);
void	wm_ts_tick(struct wm_tstamp *);
int	wm_ts_ioctl(struct wm_tstamp *, u_long, void *);

bool	wm_ts_tx_advanced(struct wm_tstamp *);
struct mbuf *wm_ts_tx_dequeue(struct wm_tstamp *, struct ifaltq *, int *);
void	wm_ts_tx_queued(struct wm_tstamp *, struct mbuf *);
void	wm_ts_tx_unable(struct wm_tstamp *, struct mbuf *);
void	wm_ts_tx_done(struct wm_tstamp *, struct mbuf *);

void	wm_ts_rx(struct wm_tstamp *, struct mbuf *, uint32_t);

#endif /* !_DEV_PCI_IF_WM_TSTAMP_H_ */
