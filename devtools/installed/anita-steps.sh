#!/bin/sh
#
# The steps `invoke anita` runs in the installed NetBSD guest, one per call:
#	sh /mnt/anita-steps.sh STEP [ARGS]
# It lives on the extras ISO (mounted on /mnt) so the commands typed on the
# serial console stay short (a tty line holds 255 characters).
#
# Output the host parses: "@@ATF DIR <atf-report csv line>" (@@ATFBARE
# for the run without the harness variable), pytest's own summary line,
# and "removed-clean".

set -u
PY=/usr/pkg/bin/python3.11
PKGS="py311-sotimestamp sotimestamp-kernel-patches"
# The test suite's own dependency (python-pcapng, its pcapng reference), not the module's.
TESTPKGS=py311-pcapng
# Not a dependency (pkgsrc's ALTERNATIVES links are made when it is there):
# added first, as on a system that has it, so bin/sotimestamp is made.
ALT=pkg_alternatives

# One checksum of every file below directory $1: equal means byte-identical.
tree_sum() {
	(cd "$1" && find . -type f | sort | xargs cksum | cksum)
}

case "$1" in
cleanup)	# what an interrupted earlier run may have left installed
	pkg_info -qe python311 && pkg_delete -r python311
	pkg_info -qe sotimestamp-kernel-patches && pkg_delete sotimestamp-kernel-patches
	pkg_info -qe $ALT && pkg_delete $ALT
	exit 0
	;;
add)
	PKG_PATH=/mnt/packages pkg_add -v $ALT $PKGS $TESTPKGS
	;;
imports)
	$PY -c 'import ctypes, sotimestamp, pcapng, tqdm; print("imports ok", sotimestamp.__file__)'
	;;
command)	# the ALTERNATIVES link (a pkg_alternatives wrapper) to sotimestamp-3.11
	pkg_alternatives -w status bin/sotimestamp && /usr/pkg/bin/sotimestamp --version
	;;
kernel-refuse)	# the installed command on a copy of the sources set to NetBSD 10.0
	rm -rf /tmp/ksrc10 && cp -R /mnt/kernel-src /tmp/ksrc10 &&
	sed 's/^#define	__NetBSD_Version__	[0-9]*.*/#define	__NetBSD_Version__	1000000000	\/* NetBSD 10.0 *\//' \
	    /mnt/kernel-src/sys/sys/param.h > /tmp/ksrc10/sys/sys/param.h &&
	grep '^#define	__NetBSD_Version__	1000000000' /tmp/ksrc10/sys/sys/param.h || exit 1
	before=$(tree_sum /tmp/ksrc10)
	/usr/pkg/sbin/sotimestamp-kernel apply /tmp/ksrc10 && exit 1
	after=$(tree_sum /tmp/ksrc10)
	[ "$before" = "$after" ] && echo kernel-refused-untouched
	;;
kernel-apply)	# the installed command on a copy of the pristine sources:
	# apply, revert exactly, apply again (kernel-orphan-revert undoes it)
	rm -rf /tmp/ksrc && cp -R /mnt/kernel-src /tmp/ksrc &&
	tree_sum /tmp/ksrc > /tmp/ksrc.before &&
	/usr/pkg/sbin/sotimestamp-kernel apply /tmp/ksrc &&
	/usr/pkg/sbin/sotimestamp-kernel status /tmp/ksrc | tail -1 &&
	grep '__NetBSD_Version__	799001100' /tmp/ksrc/sys/sys/param.h &&
	/usr/pkg/sbin/sotimestamp-kernel revert /tmp/ksrc || exit 1
	after=$(tree_sum /tmp/ksrc)
	[ "$(cat /tmp/ksrc.before)" = "$after" ] || exit 1
	/usr/pkg/sbin/sotimestamp-kernel apply /tmp/ksrc >/dev/null && echo kernel-applied-reverted
	;;
kernel-orphan-revert)	# pkg_delete took the command and the series: the
	# copy of the command in the tree's record reverts what was applied
	pkg_delete sotimestamp-kernel-patches && ! test -e /usr/pkg/sbin/sotimestamp-kernel &&
	$PY /tmp/ksrc/sotimestamp-kernel.applied/sotimestamp-kernel revert /tmp/ksrc || exit 1
	after=$(tree_sum /tmp/ksrc)
	[ "$(cat /tmp/ksrc.before)" = "$after" ] && echo kernel-reverted-after-delete
	;;
net)	# kern.sbmax: NetBSD refuses receive buffers above 256 kB, which a
	# capture of a burst needs (as an admin recording streams would set)
	sysctl -w kern.sbmax=16777216 &&
	ifconfig wm0 inet 169.254.1.2 netmask 255.255.0.0 up && sleep 3 && ifconfig wm0
	;;
atf|atf-bare)	# one atf-run | atf-report per directory (a report reads
	# one run).  atf: with the harness variable (this guest is the
	# harness: wm0 on 169.254.1.2/16, the host answers @@SEND);
	# atf-bare: without it, as on a machine without the harness.
	step=$1
	shift
	vars="-v sotimestamp.harness=yes"
	tag=@@ATF
	if [ $step = atf-bare ]; then
		vars=
		tag=@@ATFBARE
	fi
	t=${TMPDIR:-/tmp}
	rm -f $t/atf.csv
	for d in "$@"; do
		(cd ${TESTSBASE:-/usr/tests}/$d && atf-run $vars | \
		    atf-report -o ticker:- -o csv:$t/atf-one.csv)
		sed "s|^|$d |" $t/atf-one.csv >> $t/atf.csv
	done
	sed "s/^/$tag /" $t/atf.csv
	;;
pytest)
	rm -rf /tmp/pytests && cp -R /mnt/pytests /tmp/pytests &&
	cd /tmp/pytests &&
	PYTHONPATH=/mnt/pylib PYTHONDONTWRITEBYTECODE=1 $PY -m pytest -q --color=no 2>&1
	;;
delete)
	pkg_delete -r python311 && ! pkg_info -qe sotimestamp-kernel-patches &&
	! pkg_info -qe 'py311-*' && ! test -e /usr/pkg/lib/python3.11 &&
	! test -e /usr/pkg/share/sotimestamp-kernel && ! test -e /usr/pkg/sbin/sotimestamp-kernel &&
	! test -e /usr/pkg/bin/sotimestamp && pkg_delete $ALT &&
	! test -e /usr/pkg/libdata/pkg_alternatives &&
	! test -e /usr/pkg/etc/pkg_alternatives && echo removed-clean
	;;
*)
	echo "anita-steps.sh: unknown step $1" >&2
	exit 2
	;;
esac
