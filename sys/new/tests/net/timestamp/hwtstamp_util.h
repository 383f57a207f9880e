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
 * Helpers of the hardware time stamping tests (t_hwtstamp*.c): the
 * SIOC*HWTSTAMP* ioctls and interface flags of wm0.  The cases that use
 * wm0 call harness_require() (harness.h) first.
 */

#ifndef _HWTSTAMP_UTIL_H_
#define _HWTSTAMP_UTIL_H_

#include <sys/param.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/sockio.h>
#include <sys/time.h>

#include <net/if.h>
#include <net/if_hwtstamp.h>
#include <net/net_tstamp.h>

#include <atf-c.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

#define	HW_IFNAME	"wm0"		/* 82576 under QEMU's igb */

/* ioctl(cmd) on ifname with ifr_data = arg; errno kept. */
static inline int
hw_ioctl(const char *ifname, u_long cmd, void *arg)
{
	struct ifreq ifr;
	int s, rv, e;

	s = socket(AF_INET, SOCK_DGRAM, 0);
	ATF_REQUIRE_MSG(s != -1, "socket: %s", strerror(errno));
	memset(&ifr, 0, sizeof(ifr));
	strlcpy(ifr.ifr_name, ifname, sizeof(ifr.ifr_name));
	ifr.ifr_data = arg;
	rv = ioctl(s, cmd, &ifr);
	e = errno;
	close(s);
	errno = e;
	return rv;
}

/* SIOCSHWTSTAMP on wm0; *out (if not NULL) gets what was applied. */
static inline void
hw_set(int tx, int rx, struct hwtstamp_config *out)
{
	struct hwtstamp_config cfg = { 0, tx, rx };

	ATF_REQUIRE_MSG(hw_ioctl(HW_IFNAME, SIOCSHWTSTAMP, &cfg) == 0,
	    "SIOCSHWTSTAMP tx %d rx %d: %s", tx, rx, strerror(errno));
	if (out != NULL)
		*out = cfg;
}

static inline int64_t
hw_ts2ns(const struct timespec *ts)
{
	return (int64_t)ts->tv_sec * 1000000000 + ts->tv_nsec;
}

/* n cross reads of wm0's NIC clock against clock into *hso */
static inline void
hw_sysoff(int clock, int n, struct hwtstamp_sysoff *hso)
{
	memset(hso, 0, sizeof(*hso));
	hso->hso_nsamples = n;
	hso->hso_clock = clock;
	ATF_REQUIRE_MSG(hw_ioctl(HW_IFNAME, SIOCGHWTSOFFSET, hso) == 0,
	    "SIOCGHWTSOFFSET: %s", strerror(errno));
}

/* Set or clear an interface flag of wm0 (IFF_UP, IFF_LINK0). */
static inline void
hw_ifflag(int flag, bool on)
{
	struct ifreq ifr;
	int s;

	s = socket(AF_INET, SOCK_DGRAM, 0);
	ATF_REQUIRE(s != -1);
	memset(&ifr, 0, sizeof(ifr));
	strlcpy(ifr.ifr_name, HW_IFNAME, sizeof(ifr.ifr_name));
	ATF_REQUIRE(ioctl(s, SIOCGIFFLAGS, &ifr) == 0);
	if (on)
		ifr.ifr_flags |= flag;
	else
		ifr.ifr_flags &= ~flag;
	ATF_REQUIRE_MSG(ioctl(s, SIOCSIFFLAGS, &ifr) == 0,
	    "SIOCSIFFLAGS: %s", strerror(errno));
	close(s);
}

#endif /* !_HWTSTAMP_UTIL_H_ */
