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
 * COMPAT_NETBSD32 for socket time stamping: what a 32-bit process gets
 * from the control messages, ioctls and bpf formats of
 * <net/net_tstamp.h>, <net/errqueue.h> and <net/if_hwtstamp.h>.  The
 * layouts are in netbsd32_tstamp.h; only those holding a struct
 * timeval or timespec differ from the kernel's.
 *
 * Control messages.  copyout32_msg_control() (netbsd32_socket.c)
 * passes each message through netbsd32_cmsg_tstamp(), which rewrites
 * SCM_TIMESTAMP, SCM_TIMESTAMPNS and SCM_TIMESTAMPING (those of
 * received datagrams and those of error queue records alike) into the
 * 32-bit layout; cmsg_len and the padding to the next message then
 * follow from the 32-bit length, as for every other message.
 *
 * Ioctls.  SIOCSHWTSTAMP, SIOCGHWTSTAMP, SIOCGHWTSINFO and
 * SIOCGHWTSOFFSET take a struct ifreq whose ifr_data points to the
 * structure; netbsd32_hwtstamp_ioctl() widens that pointer (the upper
 * half of the kernel's pointer is otherwise whatever the process left
 * in the union).  The driver copies SIOCGHWTSOFFSET's samples out
 * itself, deep in if_ioctl, through hwtstamp_sysoff_copyout()
 * (net/if_hwtstamp.c), which for a 32-bit process calls
 * netbsd32_hwtstamp_sysoff_copyout() here: 16 + 36 n bytes, not the
 * 16 + 48 n of the kernel's layout, which overran the process's
 * structure by 12 bytes per sample.
 *
 * bpf.  BPF_T_NANOTIME's struct bpf_xhdr is 28 bytes for a 32-bit
 * process (its 64-bit members 4-aligned), 32 here: bpf.c writes
 * struct bpf_xhdr32 when bd_compat32 is set, as it writes struct
 * bpf_hdr32 for BPF_T_MICROTIME.  bpf's read timeout, a struct
 * timeval, had no 32-bit form in 7.99.10: netbsd32_bpf_rtimeout_ioctl()
 * converts it for every bpf reader with a timeout (libpcap's too).
 */

#include <sys/cdefs.h>
__KERNEL_RCSID(0, "$NetBSD$");

#include <sys/param.h>
#include <sys/systm.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/sockio.h>

#include <net/bpf.h>
#include <net/errqueue.h>
#include <net/if.h>
#include <net/if_hwtstamp.h>
#include <net/net_tstamp.h>
#include <net/route.h>		/* netbsd32_ioctl.h: ip_mroute.h */
#include <netinet/in.h>
#include <netinet/ip_mroute.h>

#include <compat/netbsd32/netbsd32.h>
#include <compat/netbsd32/netbsd32_ioctl.h>
#include <compat/netbsd32/netbsd32_tstamp.h>

/* What the 32-bit process sees, checked where the compiler can. */
CTASSERT(sizeof(struct netbsd32_timespec) == 12);
CTASSERT(sizeof(struct netbsd32_scm_timestamping) == 36);
CTASSERT(sizeof(struct netbsd32_hwtstamp_sysoff_sample) == 36);
CTASSERT(offsetof(struct netbsd32_hwtstamp_sysoff, hso_ts) ==
    offsetof(struct hwtstamp_sysoff, hso_ts));
/* One layout on both: fixed-width members only. */
CTASSERT(sizeof(struct sock_extended_err) == 16);
CTASSERT(sizeof(struct scm_ts_pktinfo) == 16);
CTASSERT(sizeof(struct hwtstamp_config) == 12);
/* The same numbers: struct netbsd32_ifreq is as long as struct ifreq. */
CTASSERT(sizeof(struct netbsd32_ifreq) == sizeof(struct ifreq));
CTASSERT(SIOCSHWTSTAMP32 == SIOCSHWTSTAMP);
CTASSERT(SIOCGHWTSTAMP32 == SIOCGHWTSTAMP);
CTASSERT(SIOCGHWTSINFO32 == SIOCGHWTSINFO);
CTASSERT(SIOCGHWTSOFFSET32 == SIOCGHWTSOFFSET);
/* bpf's read timeout: the same command, a shorter struct timeval. */
CTASSERT(IOCBASECMD(BIOCSRTIMEOUT32) == IOCBASECMD(BIOCSRTIMEOUT));
CTASSERT(IOCBASECMD(BIOCGRTIMEOUT32) == IOCBASECMD(BIOCGRTIMEOUT));
CTASSERT(BIOCSRTIMEOUT32 != BIOCSRTIMEOUT);

static void
netbsd32_tstamp_ts(const struct timespec *ts, struct netbsd32_timespec *ts32)
{

	ts32->tv_sec = ts->tv_sec;
	ts32->tv_nsec = (netbsd32_long)ts->tv_nsec;
}

/*
 * The payload of control message cmsg as a 32-bit process lays it
 * out: points *datap at it (buf, or the message's own data where the
 * layouts agree) and returns its length.  Any context; cmsg is the
 * kernel's message, whole.
 */
size_t
netbsd32_cmsg_tstamp(const struct cmsghdr *cmsg,
    union netbsd32_cmsg_tstamp *buf, const void **datap)
{
	const u_char *data = (const u_char *)cmsg + CMSG_LEN(0);
	const size_t len = cmsg->cmsg_len - CMSG_LEN(0);
	struct timeval tv;
	struct timespec ts[3];
	int i;

	*datap = data;
	if (cmsg->cmsg_level != SOL_SOCKET)
		return len;
	switch (cmsg->cmsg_type) {
	case SCM_TIMESTAMP:
		if (len != sizeof(tv))
			break;
		memcpy(&tv, data, sizeof(tv));
		buf->tv.tv_sec = tv.tv_sec;
		buf->tv.tv_usec = (netbsd32_long)tv.tv_usec;
		*datap = &buf->tv;
		return sizeof(buf->tv);
	case SCM_TIMESTAMPNS:
		if (len != sizeof(ts[0]))
			break;
		memcpy(&ts[0], data, sizeof(ts[0]));
		netbsd32_tstamp_ts(&ts[0], &buf->ts);
		*datap = &buf->ts;
		return sizeof(buf->ts);
	case SCM_TIMESTAMPING:
		if (len != sizeof(struct scm_timestamping))
			break;
		memcpy(ts, data, sizeof(ts));
		for (i = 0; i < 3; i++)
			netbsd32_tstamp_ts(&ts[i], &buf->sts.ts[i]);
		*datap = &buf->sts;
		return sizeof(buf->sts);
	}
	return len;
}

/*
 * SIOC[SG]HWTSTAMP, SIOCGHWTSINFO, SIOCGHWTSOFFSET of a 32-bit
 * process: data32 is its struct netbsd32_ifreq, copied in by
 * netbsd32_ioctl(), which copies it back out.  Process context.
 */
int
netbsd32_hwtstamp_ioctl(struct file *fp, u_long cmd, void *data32)
{
	struct netbsd32_ifreq *ifr32 = data32;
	struct ifreq ifr;

	memcpy(&ifr, ifr32, sizeof(ifr));
	ifr.ifr_data = NETBSD32PTR64(ifr32->ifr_data);
	return (*fp->f_ops->fo_ioctl)(fp, cmd, &ifr);
}

/*
 * BIOCSRTIMEOUT32, BIOCGRTIMEOUT32: data32 is the process's struct
 * netbsd32_timeval, copied in and out by netbsd32_ioctl().  Process
 * context.
 */
int
netbsd32_bpf_rtimeout_ioctl(struct file *fp, u_long cmd, void *data32)
{
	struct netbsd32_timeval *tv32 = data32;
	struct timeval tv;
	int error;

	if (cmd == BIOCSRTIMEOUT32) {
		tv.tv_sec = tv32->tv_sec;
		tv.tv_usec = tv32->tv_usec;
		return (*fp->f_ops->fo_ioctl)(fp, BIOCSRTIMEOUT, &tv);
	}
	error = (*fp->f_ops->fo_ioctl)(fp, BIOCGRTIMEOUT, &tv);
	if (error == 0) {
		tv32->tv_sec = tv.tv_sec;
		tv32->tv_usec = (netbsd32_long)tv.tv_usec;
	}
	return error;
}

/*
 * SIOCGHWTSOFFSET's answer for a 32-bit process, from
 * hwtstamp_sysoff_copyout(): the header as it is, then each sample
 * converted on the stack (the driver may call this at splnet).
 * Process context.
 */
static int
netbsd32_hwtstamp_sysoff_copyout(const struct hwtstamp_sysoff *hso,
    void *uaddr)
{
	const struct hwtstamp_sysoff_sample *hss;
	struct netbsd32_hwtstamp_sysoff_sample hss32;
	char *p;
	uint32_t i;
	int error;

	KASSERT(hso->hso_nsamples <= HWTSTAMP_SYSOFF_MAX);
	p = uaddr;
	error = copyout(hso, p, offsetof(struct hwtstamp_sysoff, hso_ts));
	p += offsetof(struct netbsd32_hwtstamp_sysoff, hso_ts);
	for (i = 0; error == 0 && i < hso->hso_nsamples; i++) {
		hss = &hso->hso_ts[i];
		netbsd32_tstamp_ts(&hss->hss_before, &hss32.hss_before);
		netbsd32_tstamp_ts(&hss->hss_nic, &hss32.hss_nic);
		netbsd32_tstamp_ts(&hss->hss_after, &hss32.hss_after);
		error = copyout(&hss32, p, sizeof(hss32));
		p += sizeof(hss32);
	}
	return error;
}

/* compat_netbsd32's module init and fini. */
void
netbsd32_tstamp_init(void)
{

	hwtstamp_sysoff_copyout32 = netbsd32_hwtstamp_sysoff_copyout;
}

void
netbsd32_tstamp_fini(void)
{

	hwtstamp_sysoff_copyout32 = NULL;
}
