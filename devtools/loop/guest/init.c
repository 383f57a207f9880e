/*
 * sotimestamp guest runner: /sbin/init of the memory-disk root that
 * `invoke vmtest` boots.  There is no shell or other userland in the guest,
 * so this program sets the machine up with system calls, runs every test,
 * and prints one line per case on the console for the host to count:
 *
 *	@@RUN name		a case starts (the host names it on a timeout)
 *	ok name
 *	FAIL name: why
 *	skip name: why
 *	@@DONE			all ran; the host stops QEMU
 *
 * /tests/atf/ holds ATF test programs (each case run as
 * `prog -v sotimestamp.harness=yes -v sotimestamp.wm_loopback=yes -r res
 * case`: this guest is the harness the wm0 and host cases need, and its
 * kernels have options WM_MAC_LOOPBACK; then once more as `prog -r res
 * case`, named noharness/..., where those cases must skip),
 * /tests/atf-i386/ holds some of them built for i386 (-m32), run the
 * same way as i386/NAME: 32-bit processes on the amd64 kernel
 * (COMPAT_NETBSD32).
 * /tests/plain/ holds plain programs that print their own ok/FAIL lines.
 */

#include <sys/param.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/socket.h>
#include <sys/sysctl.h>
#include <sys/wait.h>

#include <net/if.h>
#include <netinet/in.h>
#include <netinet6/in6_var.h>
#include <arpa/inet.h>

#include <fs/tmpfs/tmpfs_args.h>

#include <dirent.h>
#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define CASE_TIMEOUT	600	/* seconds; a hung case is killed */

/* ATF configuration variables (tests/net/timestamp/harness.h) */
#define HARNESS_VAR	"sotimestamp.harness"
#define LOOPBACK_VAR	"sotimestamp.wm_loopback"

/*
 * Pass the variables above to the ATF cases (0: as atf-run on a machine
 * without the harness, where the cases that need it must skip).
 */
static int harness = 1;

static void
console(void)
{
	int fd;

	fd = open("/dev/console", O_RDWR);
	if (fd < 0)
		_exit(1);
	dup2(fd, 0);
	dup2(fd, 1);
	dup2(fd, 2);
	if (fd > 2)
		close(fd);
	setvbuf(stdout, NULL, _IOLBF, 0);
}

static void
mount_tmp(void)
{
	struct tmpfs_args ta;

	memset(&ta, 0, sizeof(ta));
	ta.ta_version = TMPFS_ARGS_VERSION;
	ta.ta_root_mode = 01777;
	if (mount(MOUNT_TMPFS, "/tmp", 0, &ta, sizeof(ta)) == -1)
		printf("@@WARN mount tmpfs /tmp: %s\n", strerror(errno));
}

static void
set_int_sysctl(const char *name, int value)
{
	if (sysctlbyname(name, NULL, NULL, &value, sizeof(value)) == -1)
		printf("@@WARN sysctl %s: %s\n", name, strerror(errno));
}

static void
if_up(int s, const char *name)
{
	struct ifreq ifr;

	memset(&ifr, 0, sizeof(ifr));
	strlcpy(ifr.ifr_name, name, sizeof(ifr.ifr_name));
	if (ioctl(s, SIOCGIFFLAGS, &ifr) == -1) {
		printf("@@WARN %s: SIOCGIFFLAGS: %s\n", name, strerror(errno));
		return;
	}
	ifr.ifr_flags |= IFF_UP;
	if (ioctl(s, SIOCSIFFLAGS, &ifr) == -1)
		printf("@@WARN %s: SIOCSIFFLAGS: %s\n", name, strerror(errno));
}

static void
set_sin(struct sockaddr *sa, const char *addr)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)sa;

	memset(sin, 0, sizeof(*sin));
	sin->sin_len = sizeof(*sin);
	sin->sin_family = AF_INET;
	inet_pton(AF_INET, addr, &sin->sin_addr);
}

static void
if_addr4(int s, const char *name, const char *addr, const char *mask)
{
	struct ifaliasreq ifra;

	memset(&ifra, 0, sizeof(ifra));
	strlcpy(ifra.ifra_name, name, sizeof(ifra.ifra_name));
	set_sin(&ifra.ifra_addr, addr);
	set_sin(&ifra.ifra_mask, mask);
	if (ioctl(s, SIOCAIFADDR, &ifra) == -1)
		printf("@@WARN %s: SIOCAIFADDR %s: %s\n", name, addr,
		    strerror(errno));
}

/* One @@INFO line: flags, link state and packet counts, for diagnosis. */
static void
if_info(const char *name)
{
	struct ifdatareq ifdr;
	int s;

	s = socket(AF_INET, SOCK_DGRAM, 0);
	memset(&ifdr, 0, sizeof(ifdr));
	strlcpy(ifdr.ifdr_name, name, sizeof(ifdr.ifdr_name));
	if (s == -1 || ioctl(s, SIOCGIFDATA, &ifdr) == -1) {
		printf("@@INFO %s: SIOCGIFDATA: %s\n", name, strerror(errno));
	} else {
		printf("@@INFO %s: link_state %d ipackets %llu ierrors %llu "
		    "opackets %llu\n", name, ifdr.ifdr_data.ifi_link_state,
		    (unsigned long long)ifdr.ifdr_data.ifi_ipackets,
		    (unsigned long long)ifdr.ifdr_data.ifi_ierrors,
		    (unsigned long long)ifdr.ifdr_data.ifi_opackets);
	}
	if (s != -1)
		close(s);
}

static void
network(void)
{
	int s;

	/* Tests want link-local addresses usable at once, not after DAD. */
	set_int_sysctl("net.inet6.ip6.dad_count", 0);
	s = socket(AF_INET, SOCK_DGRAM, 0);
	if (s == -1) {
		printf("@@WARN socket: %s\n", strerror(errno));
		return;
	}
	if_addr4(s, "lo0", "127.0.0.1", "255.0.0.0");
	if_up(s, "lo0");
	if_addr4(s, "wm0", "169.254.1.2", "255.255.0.0");
	if_up(s, "wm0");
	close(s);
	sleep(1);	/* wm(4) link negotiation */
	if_info("wm0");
}

/* Run argv with stdout/stderr on the console; its wait status, or -1. */
static int
run(char *const argv[], int timeout)
{
	pid_t pid, w;
	int status;
	time_t end;

	pid = fork();
	if (pid == -1)
		return -1;
	if (pid == 0) {
		execv(argv[0], argv);
		printf("@@WARN exec %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	end = time(NULL) + timeout;
	for (;;) {
		w = waitpid(pid, &status, WNOHANG);
		if (w == pid)
			return status;
		if (w == -1)
			return -1;
		if (time(NULL) > end) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			return -2;
		}
		usleep(20000);
	}
}

/* Capture `prog -l` into buf; returns bytes read. */
static size_t
list_cases(const char *prog, char *buf, size_t len)
{
	int fds[2], status;
	size_t n = 0;
	ssize_t r;
	pid_t pid;

	if (pipe(fds) == -1)
		return 0;
	pid = fork();
	if (pid == 0) {
		dup2(fds[1], 1);
		close(fds[0]);
		execl(prog, prog, "-l", (char *)NULL);
		_exit(127);
	}
	close(fds[1]);
	while (n < len - 1 && (r = read(fds[0], buf + n, len - 1 - n)) > 0)
		n += (size_t)r;
	buf[n] = '\0';
	close(fds[0]);
	waitpid(pid, &status, 0);
	return n;
}

static void
run_atf_case(const char *prog, const char *base, const char *tc,
    int *passed, int *failed, int *skipped)
{
	char res[512], *nl;
	char *argv[6];
	FILE *f;
	int argc, status;

	printf("@@RUN %s:%s\n", base, tc);
	unlink("/tmp/atf.res");
	argc = 0;
	argv[argc++] = __UNCONST(prog);
	if (harness) {
		argv[argc++] = __UNCONST("-v" HARNESS_VAR "=yes");
		argv[argc++] = __UNCONST("-v" LOOPBACK_VAR "=yes");
	}
	argv[argc++] = __UNCONST("-r/tmp/atf.res");
	argv[argc++] = __UNCONST(tc);
	argv[argc] = NULL;
	status = run(argv, CASE_TIMEOUT);
	res[0] = '\0';
	if ((f = fopen("/tmp/atf.res", "r")) != NULL) {
		if (fgets(res, sizeof(res), f) == NULL)
			res[0] = '\0';
		fclose(f);
	}
	if ((nl = strchr(res, '\n')) != NULL)
		*nl = '\0';
	if (status == -2) {
		printf("FAIL %s:%s: timed out after %d s\n", base, tc,
		    CASE_TIMEOUT);
		(*failed)++;
	} else if (strcmp(res, "passed") == 0 ||
	    strncmp(res, "expected_", 9) == 0) {
		printf("ok %s:%s\n", base, tc);
		(*passed)++;
	} else if (strncmp(res, "skipped", 7) == 0) {
		printf("skip %s:%s:%s\n", base, tc, res + 7);
		(*skipped)++;
	} else {
		if (res[0] == '\0')
			snprintf(res, sizeof(res), "no result (status %#x%s)",
			    status, WIFSIGNALED(status) ? ", killed by signal" :
			    "");
		printf("FAIL %s:%s: %s\n", base, tc, res);
		(*failed)++;
	}
}

static void
run_atf_program(const char *prog, const char *base,
    int *passed, int *failed, int *skipped)
{
	static char list[65536];
	char *line, *next;

	if (list_cases(prog, list, sizeof(list)) == 0) {
		printf("FAIL %s: cannot list its test cases\n", base);
		(*failed)++;
		return;
	}
	for (line = list; line != NULL && *line != '\0'; line = next) {
		next = strchr(line, '\n');
		if (next != NULL)
			*next++ = '\0';
		if (strncmp(line, "ident: ", 7) == 0)
			run_atf_case(prog, base, line + 7, passed, failed,
			    skipped);
	}
}

/* Runs every program of dir; returns how many there were. */
static int
run_dir(const char *dir, int atf, const char *prefix, int *passed,
    int *failed, int *skipped)
{
	struct dirent **names;
	char path[MAXPATHLEN], base[MAXPATHLEN];
	char *argv[2];
	int i, n, status, programs = 0;

	n = scandir(dir, &names, NULL, alphasort);
	for (i = 0; i < n; i++) {
		if (names[i]->d_name[0] == '.')
			continue;
		programs++;
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]->d_name);
		if (atf) {
			snprintf(base, sizeof(base), "%s%s", prefix,
			    names[i]->d_name);
			run_atf_program(path, base, passed, failed, skipped);
			continue;
		}
		/* A plain program counts its own cases; the host reads them. */
		printf("@@RUN %s\n", names[i]->d_name);
		argv[0] = path;
		argv[1] = NULL;
		status = run(argv, CASE_TIMEOUT);
		if (status == -2 || status == -1 || WIFSIGNALED(status))
			printf("FAIL %s: %s\n", names[i]->d_name, status == -2 ?
			    "timed out" : "crashed or could not run");
	}
	return programs;
}

int
main(void)
{
	int passed = 0, failed = 0, skipped = 0, bare, atf;

	console();
	printf("@@BOOTED sotimestamp guest runner\n");
	mount_tmp();
	network();
	chdir("/tmp");
	atf = run_dir("/tests/atf", 1, "", &passed, &failed, &skipped);
	atf += run_dir("/tests/atf-i386", 1, "i386/", &passed, &failed,
	    &skipped);
	run_dir("/tests/plain", 0, "", &passed, &failed, &skipped);
	/*
	 * The ATF cases again without the harness variables, as atf-run
	 * runs them on an installed system: those that need the harness
	 * must skip, and nothing may fail.
	 */
	harness = 0;
	bare = skipped;
	run_dir("/tests/atf", 1, "noharness/", &passed, &failed, &skipped);
	run_dir("/tests/atf-i386", 1, "noharness/i386/", &passed, &failed,
	    &skipped);
	if (atf > 0 && skipped == bare) {	/* none: vmtest --no-suite */
		printf("FAIL noharness: no case skipped without "
		    HARNESS_VAR "\n");
		failed++;
	}
	if_info("wm0");
	printf("@@GUEST atf: %d passed, %d failed, %d skipped\n", passed,
	    failed, skipped);
	printf("@@DONE\n");
	fflush(stdout);
	sync();
	reboot(RB_HALT | RB_POWERDOWN, NULL);
	for (;;)
		pause();
}
