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
 * COMPAT_NETBSD32 for socket time stamping (netbsd32_tstamp.c): the
 * layouts a 32-bit process sees where they differ from the kernel's.
 * A struct timeval or timespec is 12 bytes there (a 64-bit tv_sec
 * aligned to 4, a 32-bit long), 16 here; everything else the series
 * adds has one layout on both (only fixed-width members): the int of
 * SO_TIMESTAMPING, SO_TIMESTAMP_CLOCK and SO_ERRQUEUE_DROPS, the
 * uint32_t of SCM_RXQ_OVFL, struct sock_extended_err, struct
 * scm_ts_pktinfo, struct hwtstamp_config, struct hwtstamp_info and
 * the header of struct hwtstamp_sysoff.
 */

#ifndef _COMPAT_NETBSD32_NETBSD32_TSTAMP_H_
#define _COMPAT_NETBSD32_NETBSD32_TSTAMP_H_

#include <sys/ioccom.h>
#include <net/if_hwtstamp.h>

#include <compat/netbsd32/netbsd32.h>

/* <net/net_tstamp.h> */
struct netbsd32_scm_timestamping {
	struct netbsd32_timespec ts[3];
};

/* <net/if_hwtstamp.h> */
struct netbsd32_hwtstamp_sysoff_sample {
	struct netbsd32_timespec hss_before;
	struct netbsd32_timespec hss_nic;
	struct netbsd32_timespec hss_after;
};

struct netbsd32_hwtstamp_sysoff {
	uint32_t	hso_nsamples;
	int32_t		hso_clock;
	uint32_t	hso_spare[2];
	struct netbsd32_hwtstamp_sysoff_sample hso_ts[HWTSTAMP_SYSOFF_MAX];
};

/* <sys/sockio.h>, on a struct netbsd32_ifreq (netbsd32_ioctl.h) */
#define	SIOCSHWTSTAMP32		_IOWR('i', 160, struct netbsd32_ifreq)
#define	SIOCGHWTSTAMP32		_IOWR('i', 161, struct netbsd32_ifreq)
#define	SIOCGHWTSINFO32		_IOWR('i', 162, struct netbsd32_ifreq)
#define	SIOCGHWTSOFFSET32	_IOWR('i', 163, struct netbsd32_ifreq)

/*
 * <net/bpf.h>'s read timeout, a struct timeval: not the series' own,
 * but 7.99.10 had no 32-bit form, which every bpf reader with a read
 * timeout (libpcap's, the bpf tests') needs.
 */
#define	BIOCSRTIMEOUT32		_IOW('B', 122, struct netbsd32_timeval)
#define	BIOCGRTIMEOUT32		_IOR('B', 123, struct netbsd32_timeval)

/* A control message payload as a 32-bit process lays it out. */
union netbsd32_cmsg_tstamp {
	struct netbsd32_timeval		tv;	/* SCM_TIMESTAMP */
	struct netbsd32_timespec	ts;	/* SCM_TIMESTAMPNS */
	struct netbsd32_scm_timestamping sts;	/* SCM_TIMESTAMPING */
};

struct cmsghdr;
struct file;

size_t	netbsd32_cmsg_tstamp(const struct cmsghdr *,
	    union netbsd32_cmsg_tstamp *, const void **);
int	netbsd32_hwtstamp_ioctl(struct file *, u_long, void *);
int	netbsd32_bpf_rtimeout_ioctl(struct file *, u_long, void *);
void	netbsd32_tstamp_init(void);
void	netbsd32_tstamp_fini(void);

#endif /* !_COMPAT_NETBSD32_NETBSD32_TSTAMP_H_ */
