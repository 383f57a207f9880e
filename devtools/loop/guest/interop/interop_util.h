/*
 * What the interop guest programs share: running an upstream program with
 * its output in a file, copying that output to the console as @@INFO
 * lines, and the FAIL line.  Included by each interop_*.c (compiled one
 * by one, each a static program of its own).
 */

#ifndef INTEROP_UTIL_H
#define INTEROP_UTIL_H

#include <sys/types.h>
#include <sys/wait.h>

#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Run argv in the background, stdout and stderr to out (a file). */
static pid_t
spawn(char *const argv[], const char *out)
{
	pid_t pid;
	int fd;

	if ((pid = fork()) == 0) {
		if ((fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644)) != -1) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execv(argv[0], argv);
		_exit(127);
	}
	return pid;
}

/* Run argv to its end (at most timeout s); its wait status, -1 or -2. */
static int
run(char *const argv[], const char *out, int timeout)
{
	pid_t pid;
	int status, waited = 0;

	if ((pid = spawn(argv, out)) == -1)
		return -1;
	while (waitpid(pid, &status, WNOHANG) == 0) {
		if (waited++ >= timeout * 10) {
			kill(pid, SIGKILL);
			(void)waitpid(pid, &status, 0);
			return -2;
		}
		usleep(100000);
	}
	return status;
}

/* Copy what a run printed to the console as @@INFO lines. */
static void
info(const char *name, const char *out)
{
	char line[256];
	FILE *f;

	if ((f = fopen(out, "r")) == NULL)
		return;
	while (fgets(line, sizeof(line), f) != NULL)
		printf("@@INFO %s: %s%s", name, line,
		    strchr(line, '\n') ? "" : "\n");
	fclose(f);
}

static int
fail(const char *name, const char *fmt, ...)
{
	va_list ap;

	printf("FAIL %s: ", name);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	return 1;
}

#endif /* INTEROP_UTIL_H */
