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
 * Socket error queue records, read with recvmsg(2) and MSG_ERRQUEUE.
 * Layout and values are Linux's <linux/errqueue.h>.  Each record
 * carries one IP_RECVERR (IPv4) or IPV6_RECVERR (IPv6) control
 * message holding a struct sock_extended_err.
 */

#ifndef _NET_ERRQUEUE_H_
#define _NET_ERRQUEUE_H_

#include <sys/types.h>

struct sock_extended_err {
	uint32_t	ee_errno;	/* ENOMSG for timestamps */
	uint8_t		ee_origin;	/* SO_EE_ORIGIN_* */
	uint8_t		ee_type;
	uint8_t		ee_code;
	uint8_t		ee_pad;
	uint32_t	ee_info;	/* SCM_TSTAMP_* for timestamps */
	uint32_t	ee_data;	/* SOF_TIMESTAMPING_OPT_ID key */
};

#define	SO_EE_ORIGIN_NONE		0
#define	SO_EE_ORIGIN_LOCAL		1
#define	SO_EE_ORIGIN_ICMP		2
#define	SO_EE_ORIGIN_ICMP6		3
#define	SO_EE_ORIGIN_TXSTATUS		4
#define	SO_EE_ORIGIN_ZEROCOPY		5
#define	SO_EE_ORIGIN_TXTIME		6
#define	SO_EE_ORIGIN_TIMESTAMPING	SO_EE_ORIGIN_TXSTATUS

/* The offending address follows the record (ICMP errors only). */
#define	SO_EE_OFFENDER(ee)	((struct sockaddr *)((ee) + 1))

/* ee_info of SO_EE_ORIGIN_TIMESTAMPING records */
#define	SCM_TSTAMP_SND		0	/* handed to the driver */
#define	SCM_TSTAMP_SCHED	1	/* entered the packet scheduler */
#define	SCM_TSTAMP_ACK		2	/* acknowledged (TCP) */

#endif /* !_NET_ERRQUEUE_H_ */
