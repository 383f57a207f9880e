/*
 * Upstream chrony in the guest (`invoke interop`): static chronyd and
 * chronyc built from the pinned chrony sources, unmodified, against the
 * patched headers, and a second chronyd built the same way with
 * SO_TIMESTAMPNS and SCM_TIMESTAMPNS hidden from it (so it takes its
 * SO_TIMESTAMP path, a struct timeval, as on stock NetBSD).  A plain guest
 * program: one "ok NAME", "FAIL NAME: why" or "skip NAME: why" line per
 * case, and "@@INFO" lines with what chronyc printed.
 *
 * Each case runs two chronyd of one build on lo0, neither controlling
 * the clock (-x): a server (`local stratum 8`, UDP port NTP_PORT) and a
 * client polling it 16 times a second, for RUN_SECONDS; then asks the
 * client with chronyc for ntpdata and sourcestats.
 *
 *	chrony_timestampns_lo0	chronyd as built: ntpdata says
 *				"RX timestamping : Kernel", at least
 *				MIN_SAMPLES kernel RX stamps and valid
 *				replies, sourcestats NP >= MIN_SAMPLES
 *	chrony_timestamp_lo0	the same with the SO_TIMESTAMP build
 */

#include <sys/types.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "interop_util.h"

#define	CHRONYD		"/usr/sbin/chronyd"
#define	CHRONYD_TIMEVAL	"/usr/sbin/chronyd-so_timestamp"
#define	CHRONYC		"/usr/bin/chronyc"
#define	NTP_PORT	11123
#define	RUN_SECONDS	12	/* 16 polls a second: ~190 replies */
#define	MIN_SAMPLES	8

static int
write_file(const char *path, const char *text)
{
	FILE *f;

	if ((f = fopen(path, "w")) == NULL)
		return -1;
	fputs(text, f);
	return fclose(f);
}

/* The line of file that starts with key, or NULL; in line. */
static const char *
find_line(const char *path, const char *key, char *line, size_t len)
{
	const char *found = NULL;
	FILE *f;

	if ((f = fopen(path, "r")) == NULL)
		return NULL;
	while (fgets(line, (int)len, f) != NULL)
		if (strncmp(line, key, strlen(key)) == 0) {
			line[strcspn(line, "\n")] = '\0';
			found = line;
			break;
		}
	fclose(f);
	return found;
}

/* The number after "key :" in ntpdata's output, or -1. */
static double
ntpdata_value(const char *path, const char *key)
{
	char line[256];
	const char *colon;

	if (find_line(path, key, line, sizeof(line)) == NULL ||
	    (colon = strchr(line, ':')) == NULL)
		return -1;
	return strtod(colon + 1, NULL);
}

static int
alive(pid_t pid)
{
	int status;

	return waitpid(pid, &status, WNOHANG) == 0;
}

static void
stop(pid_t pid)
{
	int status, waited;

	if (pid <= 0)
		return;
	kill(pid, SIGTERM);
	for (waited = 0; waited < 50 && waitpid(pid, &status, WNOHANG) == 0;
	    waited++)
		usleep(100000);
	if (waited == 50) {
		kill(pid, SIGKILL);
		(void)waitpid(pid, &status, 0);
	}
}

/*
 * chronyc -c sourcestats: "address,NP,NR,span,frequency,skew,offset,
 * std dev" (seconds); NP, offset and std dev of the first line.
 */
static int
sourcestats_csv(const char *path, long *np, double *offset, double *sd)
{
	char line[256], *f[8], *p;
	FILE *fp;
	int n;

	if ((fp = fopen(path, "r")) == NULL)
		return -1;
	p = fgets(line, sizeof(line), fp);
	fclose(fp);
	if (p == NULL)
		return -1;
	for (n = 0; n < 8 && (f[n] = strsep(&p, ",\n")) != NULL; n++)
		continue;
	if (n < 8)
		return -1;
	*np = strtol(f[1], NULL, 10);
	*offset = strtod(f[6], NULL);
	*sd = strtod(f[7], NULL);
	return 0;
}

static void
chrony_case(const char *name, const char *chronyd)
{
	char dir[64], conf_s[96], conf_c[96], sock[96], log_s[96], log_c[96];
	char ntpdata[96], stats[96], csv[96], text[512], line[256];
	char *server[] = { __UNCONST(chronyd), __UNCONST("-d"),
	    __UNCONST("-x"), __UNCONST("-f"), conf_s, NULL };
	char *client[] = { __UNCONST(chronyd), __UNCONST("-d"),
	    __UNCONST("-x"), __UNCONST("-f"), conf_c, NULL };
	char *c_ntpdata[] = { __UNCONST(CHRONYC), __UNCONST("-n"),
	    __UNCONST("-h"), sock, __UNCONST("ntpdata"), NULL };
	char *c_stats[] = { __UNCONST(CHRONYC), __UNCONST("-n"),
	    __UNCONST("-h"), sock, __UNCONST("sourcestats"), NULL };
	char *c_csv[] = { __UNCONST(CHRONYC), __UNCONST("-n"),
	    __UNCONST("-c"), __UNCONST("-h"), sock, __UNCONST("sourcestats"),
	    NULL };
	pid_t spid, cpid = -1;
	long kernel_rx, valid_rx, np;
	double offset, sd, delay;
	int st;

	printf("@@RUN %s\n", name);
	snprintf(dir, sizeof(dir), "/tmp/%s", name);
	if (mkdir(dir, 0755) == -1) {
		fail(name, "mkdir %s failed", dir);
		return;
	}
	snprintf(conf_s, sizeof(conf_s), "%s/server.conf", dir);
	snprintf(conf_c, sizeof(conf_c), "%s/client.conf", dir);
	snprintf(sock, sizeof(sock), "%s/client/chronyd.sock", dir);
	snprintf(log_s, sizeof(log_s), "%s/server.log", dir);
	snprintf(log_c, sizeof(log_c), "%s/client.log", dir);
	snprintf(ntpdata, sizeof(ntpdata), "%s/ntpdata.out", dir);
	snprintf(stats, sizeof(stats), "%s/sourcestats.out", dir);
	snprintf(csv, sizeof(csv), "%s/sourcestats.csv", dir);
	/* Command sockets in directories of their own: chronyd wants 0770. */
	snprintf(text, sizeof(text),
	    "port %d\nbindaddress 127.0.0.1\nallow 127.0.0.1\n"
	    "local stratum 8\ncmdport 0\n"
	    "bindcmdaddress %s/server/chronyd.sock\npidfile %s/server.pid\n",
	    NTP_PORT, dir, dir);
	if (write_file(conf_s, text) != 0) {
		fail(name, "cannot write %s", conf_s);
		return;
	}
	/*
	 * minsamples: chronyd may keep as few as 4 samples of a source; 8 or
	 * more kept is what the case asks of the run.
	 */
	snprintf(text, sizeof(text),
	    "server 127.0.0.1 port %d minpoll -4 maxpoll -4 minsamples %d\n"
	    "port 0\ncmdport 0\nbindcmdaddress %s\npidfile %s/client.pid\n",
	    NTP_PORT, MIN_SAMPLES, sock, dir);
	if (write_file(conf_c, text) != 0) {
		fail(name, "cannot write %s", conf_c);
		return;
	}
	spid = spawn(server, log_s);
	sleep(1);
	if (spid > 0 && alive(spid))
		cpid = spawn(client, log_c);
	sleep(RUN_SECONDS);
	if (spid <= 0 || !alive(spid) || cpid <= 0 || !alive(cpid)) {
		info(name, log_s);
		info(name, log_c);
		stop(spid);
		stop(cpid);
		fail(name, "chronyd (%s) did not keep running", chronyd);
		return;
	}
	st = run(c_ntpdata, ntpdata, 30);
	info(name, ntpdata);
	if (st == 0)
		st = run(c_stats, stats, 30);
	info(name, stats);
	if (st == 0)
		st = run(c_csv, csv, 30);
	stop(cpid);
	stop(spid);
	if (st != 0) {
		info(name, log_c);
		fail(name, "chronyc: status %#x", st);
		return;
	}
	if (find_line(ntpdata, "RX timestamping : Kernel", line,
	    sizeof(line)) == NULL) {
		info(name, log_c);
		fail(name, "ntpdata: no \"RX timestamping : Kernel\"");
		return;
	}
	kernel_rx = (long)ntpdata_value(ntpdata, "Total kernel RX");
	valid_rx = (long)ntpdata_value(ntpdata, "Total valid RX");
	delay = ntpdata_value(ntpdata, "Peer delay");
	if (kernel_rx < MIN_SAMPLES || valid_rx < MIN_SAMPLES) {
		fail(name, "ntpdata: %ld kernel RX stamps, %ld valid replies, "
		    "want %d or more", kernel_rx, valid_rx, MIN_SAMPLES);
		return;
	}
	if (sourcestats_csv(csv, &np, &offset, &sd) != 0) {
		info(name, csv);
		fail(name, "sourcestats -c: no line with 8 fields");
		return;
	}
	if (np < MIN_SAMPLES) {
		fail(name, "sourcestats: %ld samples, want %d or more", np,
		    MIN_SAMPLES);
		return;
	}
	printf("@@INFO %s: %ld kernel RX stamps, %ld valid replies, NP %ld, "
	    "offset %.9f s, std dev %.9f s, peer delay %.9f s\n", name,
	    kernel_rx, valid_rx, np, offset, sd, delay);
	printf("ok %s\n", name);
}

int
main(void)
{
	static const char *const cases[][2] = {
		{ "chrony_timestampns_lo0", CHRONYD },
		{ "chrony_timestamp_lo0", CHRONYD_TIMEVAL },
	};
	size_t i;

	setvbuf(stdout, NULL, _IOLBF, 0);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (access(cases[i][1], X_OK) != 0 ||
		    access(CHRONYC, X_OK) != 0)
			printf("skip %s: no %s or %s in the image (invoke "
			    "interop builds them)\n", cases[i][0], cases[i][1],
			    CHRONYC);
		else
			chrony_case(cases[i][0], cases[i][1]);
	}
	return 0;
}
