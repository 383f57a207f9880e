/*
 * Upstream tcpdump in the guest (`invoke interop`): the static
 * /usr/bin/tcpdump built from the pinned libpcap and tcpdump sources,
 * unmodified, against the patched headers.  A plain guest program: it
 * prints one "ok NAME", "FAIL NAME: why" or "skip NAME: why" line per
 * case, and "@@INFO" lines with what tcpdump printed.
 *
 *	tcpdump_nano_wm0	tcpdump -i wm0 --time-stamp-precision=nano -w
 *				of udp4 datagrams the host sends: the file
 *				has the nanosecond magic, each frame's stamp
 *				lies between the guest clock read before the
 *				host was asked and after tcpdump ended, the
 *				stamps increase and are not whole microseconds
 *	tcpdump_tstamp_types	tcpdump -J -i wm0 succeeds and says what
 *				libpcap offers on a BSD bpf (no types)
 */

#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "interop_util.h"

#define	TCPDUMP		"/usr/bin/tcpdump"
#define	PCAP		"/tmp/interop.pcap"
#define	PORT		5402
#define	NFRAMES		8
#define	PCAP_MAGIC_NS	0xa1b23c4dU	/* pcap file, nanosecond stamps */

static int64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Ask the host harness for frames (tests' host_request.h). */
static void
host_request(const char *line)
{
	int fd;

	fflush(stdout);
	if ((fd = open("/dev/console", O_WRONLY | O_NOCTTY)) == -1)
		return;
	(void)write(fd, line, strlen(line));
	close(fd);
}

static uint32_t
u32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));	/* the file is in our byte order */
	return v;
}

static int
check_pcap(const char *name, int64_t lo, int64_t hi)
{
	static uint8_t buf[65536];
	int64_t ns, prev = 0;
	size_t len, off;
	int fd, n = 0, submicro = 0;
	ssize_t got;

	if ((fd = open(PCAP, O_RDONLY)) == -1)
		return fail(name, "%s: %s", PCAP, strerror(errno));
	got = read(fd, buf, sizeof(buf));
	close(fd);
	if (got < 24)
		return fail(name, "%s: %zd bytes, no pcap header", PCAP, got);
	len = (size_t)got;
	if (u32(buf) != PCAP_MAGIC_NS)
		return fail(name, "magic %#x, not the nanosecond %#x",
		    u32(buf), PCAP_MAGIC_NS);
	if (u32(buf + 20) != 1)
		return fail(name, "link type %u, not Ethernet", u32(buf + 20));
	for (off = 24; off + 16 <= len; n++) {
		ns = (int64_t)u32(buf + off) * 1000000000 + u32(buf + off + 4);
		if (u32(buf + off + 4) >= 1000000000)
			return fail(name, "frame %d: %u ns in the second", n,
			    u32(buf + off + 4));
		if (ns < lo || ns > hi)
			return fail(name, "frame %d: stamp %lld not in [%lld, "
			    "%lld]", n, (long long)ns, (long long)lo,
			    (long long)hi);
		if (ns <= prev)
			return fail(name, "frame %d: stamp not after the last",
			    n);
		if (ns % 1000 != 0)
			submicro++;
		prev = ns;
		off += 16 + u32(buf + off + 8);
	}
	if (n != NFRAMES)
		return fail(name, "%d frames in the file, want %d", n,
		    NFRAMES);
	if (submicro == 0)
		return fail(name, "all %d stamps are whole microseconds", n);
	printf("@@INFO %s: %d frames, stamps %lld..%lld ns after the "
	    "request\n", name, n, (long long)(u32(buf + 24) * 1000000000LL +
	    u32(buf + 28) - lo), (long long)(prev - lo));
	printf("ok %s\n", name);
	return 0;
}

static void
tcpdump_nano_wm0(void)
{
	static const char name[] = "tcpdump_nano_wm0";
	char count[16], filter[32], req[64];
	char *argv[] = { __UNCONST(TCPDUMP), __UNCONST("-i"),
	    __UNCONST("wm0"), __UNCONST("--time-stamp-precision=nano"),
	    __UNCONST("-w"), __UNCONST(PCAP), __UNCONST("-c"), count,
	    __UNCONST("-n"), filter, NULL };
	int64_t lo, hi;
	pid_t pid;
	int status, fd, waited = 0;

	printf("@@RUN %s\n", name);
	snprintf(count, sizeof(count), "%d", NFRAMES);
	snprintf(filter, sizeof(filter), "udp dst port %d", PORT);
	if ((pid = fork()) == 0) {
		if ((fd = open("/tmp/interop.out", O_WRONLY | O_CREAT |
		    O_TRUNC, 0644)) != -1) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execv(argv[0], argv);
		_exit(127);
	}
	sleep(2);		/* tcpdump has opened wm0 */
	lo = now_ns();
	snprintf(req, sizeof(req), "@@SEND udp4 %d %d\n", PORT, NFRAMES);
	host_request(req);
	while (waitpid(pid, &status, WNOHANG) == 0) {
		if (waited++ >= 300) {
			kill(pid, SIGKILL);
			(void)waitpid(pid, &status, 0);
			info(name, "/tmp/interop.out");
			fail(name, "tcpdump did not see %d frames in 30 s",
			    NFRAMES);
			return;
		}
		usleep(100000);
	}
	hi = now_ns();
	info(name, "/tmp/interop.out");
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fail(name, "tcpdump exit status %#x", status);
		return;
	}
	(void)check_pcap(name, lo, hi);
}

static void
tcpdump_tstamp_types(void)
{
	static const char name[] = "tcpdump_tstamp_types";
	char *argv[] = { __UNCONST(TCPDUMP), __UNCONST("-J"), __UNCONST("-i"),
	    __UNCONST("wm0"), NULL };
	int status;

	printf("@@RUN %s\n", name);
	status = run(argv, "/tmp/interop-J.out", 30);
	info(name, "/tmp/interop-J.out");
	if (status < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fail(name, "tcpdump -J -i wm0: status %#x", status);
	else
		printf("ok %s\n", name);
}

int
main(void)
{

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (access(TCPDUMP, X_OK) != 0) {
		printf("skip tcpdump_nano_wm0: no %s in the image (invoke "
		    "interop builds it)\n", TCPDUMP);
		printf("skip tcpdump_tstamp_types: no %s\n", TCPDUMP);
		return 0;
	}
	tcpdump_nano_wm0();
	tcpdump_tstamp_types();
	return 0;
}
