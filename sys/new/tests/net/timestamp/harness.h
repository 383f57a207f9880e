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
 * Cases that need more than an installed system gives: wm0 (an 82576,
 * 169.254.1.2/16) and a host end that answers "@@SEND" requests on the
 * console (host_request.h).  `invoke vmtest` and `invoke anita` run
 * them with the ATF configuration variable sotimestamp.harness=yes
 * (atf-run -v sotimestamp.harness=yes, or prog -v ... for one
 * program); without it they skip, naming what they need.
 */

#ifndef _HARNESS_H_
#define _HARNESS_H_

#include <atf-c.h>
#include <string.h>

#define	HARNESS_VAR	"sotimestamp.harness"

/* Is the ATF configuration variable var set to "yes"? */
static inline bool
harness_var_yes(const atf_tc_t *tc, const char *var)
{

	return atf_tc_has_config_var(tc, var) &&
	    strcmp(atf_tc_get_config_var(tc, var), "yes") == 0;
}

/* Skip unless the sotimestamp harness runs this case. */
static inline void
harness_require(const atf_tc_t *tc)
{

	if (!harness_var_yes(tc, HARNESS_VAR))
		atf_tc_skip("needs wm0 (82576, 169.254.1.2/16) and the "
		    "sotimestamp host harness; set -v " HARNESS_VAR "=yes");
}

#define	WM_LOOPBACK_VAR	"sotimestamp.wm_loopback"

/*
 * Skip unless the kernel has options WM_MAC_LOOPBACK (test kernels:
 * wm0's link0 is MAC loopback, link1 holds its send queue).
 */
static inline void
wm_loopback_require(const atf_tc_t *tc)
{

	harness_require(tc);
	if (!harness_var_yes(tc, WM_LOOPBACK_VAR))
		atf_tc_skip("needs a kernel with options WM_MAC_LOOPBACK; "
		    "set -v " WM_LOOPBACK_VAR "=yes");
}

/* TSTAMP_PROTO_TC (tstamp_util.h) for a case that needs the harness. */
#define	HARNESS_PROTO_TC(id, fn, proto)					\
ATF_TC(id);								\
ATF_TC_HEAD(id, tc)							\
{									\
	atf_tc_set_md_var(tc, "descr", #fn " on " #proto		\
	    " (needs " HARNESS_VAR "=yes)");				\
}									\
ATF_TC_BODY(id, tc)							\
{									\
	static const struct tsproto p = proto;				\
									\
	harness_require(tc);						\
	fn(&p);								\
}

#endif /* !_HARNESS_H_ */
