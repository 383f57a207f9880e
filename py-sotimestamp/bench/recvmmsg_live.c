/*
 * The ceiling of `invoke bench`'s capture knee: a live receiver on
 * 127.0.0.1 that drains with recvmmsg() (64 per call) and reads each
 * datagram's SCM_TIMESTAMPING software stamp, as `sotimestamp capture` does,
 * but writes nothing.  It prints its port, then stops once no datagram came
 * for IDLE seconds after the first, and reports what it received and what the
 * kernel dropped (SO_MEMINFO).  Linux only; built at bench time.
 *
 *   recvmmsg_live RCVBUF IDLE  ->  {"port": P}  then  {"received": N, "dropped": D}
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <linux/net_tstamp.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>

#define BATCH 64
#define BUFSZ 65535
#define CTLSZ 512

int main(int argc, char **argv) {
	if (argc != 3) {
		fprintf(stderr, "usage: %s RCVBUF IDLE\n", argv[0]);
		return 2;
	}
	int rcvbuf = atoi(argv[1]);
	double idle = atof(argv[2]);
	int rx = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t alen = sizeof addr;
	if (setsockopt(rx, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof rcvbuf) < 0)
		setsockopt(rx, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
	if (bind(rx, (struct sockaddr *)&addr, sizeof addr) < 0 || getsockname(rx, (struct sockaddr *)&addr, &alen) < 0) {
		perror("bind");
		return 1;
	}
	int flags = SOF_TIMESTAMPING_RX_SOFTWARE | SOF_TIMESTAMPING_SOFTWARE;
	if (setsockopt(rx, SOL_SOCKET, SO_TIMESTAMPING, &flags, sizeof flags) < 0) {
		perror("SO_TIMESTAMPING");
		return 1;
	}
	struct timeval tv = {.tv_sec = (long)idle, .tv_usec = (long)((idle - (long)idle) * 1e6)};
	setsockopt(rx, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	printf("{\"port\": %d}\n", ntohs(addr.sin_port));
	fflush(stdout);

	static char bufs[BATCH][BUFSZ], ctls[BATCH][CTLSZ];
	static struct mmsghdr msgs[BATCH];
	static struct iovec iovs[BATCH];
	static struct sockaddr_in names[BATCH];
	long received = 0;
	uint64_t checksum = 0;
	for (;;) {
		for (int i = 0; i < BATCH; i++) {
			iovs[i].iov_base = bufs[i];
			iovs[i].iov_len = BUFSZ;
			msgs[i].msg_hdr = (struct msghdr){.msg_name = &names[i], .msg_namelen = sizeof names[i],
			    .msg_iov = &iovs[i], .msg_iovlen = 1, .msg_control = ctls[i], .msg_controllen = CTLSZ};
		}
		int got = recvmmsg(rx, msgs, BATCH, MSG_WAITFORONE, NULL);
		if (got <= 0) {
			if (received == 0 && got < 0)
				continue; /* nothing sent yet: keep waiting */
			break;
		}
		for (int i = 0; i < got; i++) {
			struct msghdr *m = &msgs[i].msg_hdr;
			for (struct cmsghdr *c = CMSG_FIRSTHDR(m); c; c = CMSG_NXTHDR(m, c))
				if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SO_TIMESTAMPING) {
					struct timespec ts[3];
					memcpy(ts, CMSG_DATA(c), sizeof ts);
					checksum += (uint64_t)ts[0].tv_nsec;
				}
		}
		received += got;
	}
	uint32_t meminfo[SK_MEMINFO_VARS] = {0};
	socklen_t mlen = sizeof meminfo;
	getsockopt(rx, SOL_SOCKET, SO_MEMINFO, meminfo, &mlen);
	printf("{\"received\": %ld, \"dropped\": %u, \"stamp_sum\": %lu}\n", received, meminfo[SK_MEMINFO_DROPS],
	    (unsigned long)checksum);
	return 0;
}
