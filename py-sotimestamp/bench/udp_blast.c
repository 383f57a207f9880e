/*
 * The sender of `invoke bench`'s capture knee: SIZE-byte UDP datagrams to
 * HOST:PORT at RATE per second for SECONDS, paced on an absolute schedule in
 * 1 ms ticks (one sendmmsg() per tick), so a late tick never lowers the rate.
 * A sender that cannot keep up sends steadily flat out rather than in
 * catch-up bursts.  Each payload starts with its sequence number.  Linux only; built at bench
 * time with the host compiler.
 *
 *   udp_blast HOST PORT SIZE RATE SECONDS  ->  {"sent": N, "seconds": S}
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#define TICK_NS 1000000L
#define MAXBURST 4096

static int64_t now_ns(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000L + ts.tv_nsec;
}

int main(int argc, char **argv) {
	if (argc != 6) {
		fprintf(stderr, "usage: %s HOST PORT SIZE RATE SECONDS\n", argv[0]);
		return 2;
	}
	int size = atoi(argv[3]);
	double rate = atof(argv[4]), seconds = atof(argv[5]);
	struct sockaddr_in dst = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[2]))};
	if (inet_pton(AF_INET, argv[1], &dst.sin_addr) != 1 || size < 8 || size > 65507 || rate <= 0 || seconds <= 0) {
		fprintf(stderr, "bad arguments\n");
		return 2;
	}
	int tx = socket(AF_INET, SOCK_DGRAM, 0);
	if (tx < 0 || connect(tx, (struct sockaddr *)&dst, sizeof dst) < 0) {
		perror("connect");
		return 1;
	}
	static struct mmsghdr msgs[MAXBURST];
	static struct iovec iovs[MAXBURST];
	char *bufs = calloc(MAXBURST, (size_t)size);
	for (int i = 0; i < MAXBURST; i++) {
		iovs[i].iov_base = bufs + (size_t)i * size;
		iovs[i].iov_len = size;
		msgs[i].msg_hdr = (struct msghdr){.msg_iov = &iovs[i], .msg_iovlen = 1};
	}
	long total = (long)(rate * seconds), sent = 0;
	/* A late tick sends at most two ticks' worth: a sender that falls behind
	 * (a loaded machine) then runs steadily flat out, instead of in bursts that
	 * would overflow a receiver a steady stream of the same rate would not. */
	long most = (long)(2 * rate * TICK_NS / 1e9);
	if (most < 1)
		most = 1;
	int64_t start = now_ns();
	for (long tick = 1; sent < total; tick++) {
		int64_t due_ns = start + tick * TICK_NS;
		long due = (long)(rate * (double)(tick * TICK_NS) / 1e9);
		if (due > total)
			due = total;
		if (due > sent + most)
			due = sent + most;
		while (sent < due) {
			int n = due - sent > MAXBURST ? MAXBURST : (int)(due - sent);
			for (int i = 0; i < n; i++)
				memcpy(bufs + (size_t)i * size, &(uint64_t){(uint64_t)(sent + i)}, 8);
			int got = sendmmsg(tx, msgs, n, 0);
			if (got < 0) {
				perror("sendmmsg");
				return 1;
			}
			sent += got;
		}
		struct timespec wake = {.tv_sec = due_ns / 1000000000L, .tv_nsec = due_ns % 1000000000L};
		clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &wake, NULL);
	}
	printf("{\"sent\": %ld, \"seconds\": %.6f}\n", sent, (now_ns() - start) / 1e9);
	return 0;
}
