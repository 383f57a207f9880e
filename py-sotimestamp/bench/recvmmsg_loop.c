/*
 * The ceiling for `invoke bench`: queue K stamped UDP datagrams on a loopback
 * socket, then drain them with recvmmsg() (BATCH per call), reading each
 * datagram's SCM_TIMESTAMPING software stamp, ROUNDS times.  Only the drain is
 * timed.  Linux only; built at bench time with the host compiler.
 *
 *   recvmmsg_loop K ROUNDS BATCH  ->  {"mode": ..., "datagrams": N, "seconds": S}
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <linux/net_tstamp.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAXBATCH 1024
#define BUFSZ 2048
#define CTLSZ 512

static double now(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
	if (argc != 4) {
		fprintf(stderr, "usage: %s K ROUNDS BATCH\n", argv[0]);
		return 2;
	}
	int k = atoi(argv[1]), rounds = atoi(argv[2]), batch = atoi(argv[3]);
	if (k < 1 || rounds < 1 || batch < 1 || batch > MAXBATCH) {
		fprintf(stderr, "bad arguments\n");
		return 2;
	}
	int rx = socket(AF_INET, SOCK_DGRAM, 0), tx = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t alen = sizeof addr;
	int big = 256 << 20;
	if (setsockopt(rx, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof big) < 0)
		setsockopt(rx, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
	if (bind(rx, (struct sockaddr *)&addr, sizeof addr) < 0 || getsockname(rx, (struct sockaddr *)&addr, &alen) < 0) {
		perror("bind");
		return 1;
	}
	int flags = SOF_TIMESTAMPING_RX_SOFTWARE | SOF_TIMESTAMPING_SOFTWARE;
	if (setsockopt(rx, SOL_SOCKET, SO_TIMESTAMPING, &flags, sizeof flags) < 0) {
		perror("SO_TIMESTAMPING");
		return 1;
	}
	usleep(20000); /* Linux flips its RX stamping key from a workqueue */

	static char bufs[MAXBATCH][BUFSZ], ctls[MAXBATCH][CTLSZ];
	static struct mmsghdr msgs[MAXBATCH];
	static struct iovec iovs[MAXBATCH];
	static struct sockaddr_in names[MAXBATCH];
	char payload[64];
	memset(payload, 'x', sizeof payload);
	long total = 0, stamped = 0;
	uint64_t checksum = 0;
	double spent = 0;
	for (int r = 0; r < rounds; r++) {
		for (int i = 0; i < k; i++)
			sendto(tx, payload, sizeof payload, 0, (struct sockaddr *)&addr, sizeof addr);
		int got_round = 0;
		double t0 = now();
		while (got_round < k) {
			int want = k - got_round < batch ? k - got_round : batch;
			for (int i = 0; i < want; i++) {
				iovs[i].iov_base = bufs[i];
				iovs[i].iov_len = BUFSZ;
				msgs[i].msg_hdr = (struct msghdr){.msg_name = &names[i], .msg_namelen = sizeof names[i],
				    .msg_iov = &iovs[i], .msg_iovlen = 1, .msg_control = ctls[i], .msg_controllen = CTLSZ};
			}
			int n = recvmmsg(rx, msgs, want, MSG_WAITFORONE, NULL);
			if (n < 0) {
				if (errno == EINTR)
					continue;
				perror("recvmmsg");
				return 1;
			}
			for (int i = 0; i < n; i++) {
				struct cmsghdr *c;
				for (c = CMSG_FIRSTHDR(&msgs[i].msg_hdr); c; c = CMSG_NXTHDR(&msgs[i].msg_hdr, c)) {
					if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SO_TIMESTAMPING) {
						struct timespec ts[3];
						memcpy(ts, CMSG_DATA(c), sizeof ts);
						checksum += (uint64_t)ts[0].tv_sec * 1000000000u + ts[0].tv_nsec;
						stamped++;
					}
				}
			}
			got_round += n;
		}
		spent += now() - t0;
		total += got_round;
	}
	printf("{\"mode\": \"C recvmmsg loop\", \"datagrams\": %ld, \"stamped\": %ld, \"seconds\": %.6f, \"checksum\": %llu}\n",
	    total, stamped, spent, (unsigned long long)checksum);
	return 0;
}
