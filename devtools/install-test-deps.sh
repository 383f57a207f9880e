#!/usr/bin/env bash
# Debian packages the test suite uses itself (tshark/capinfos/editcap for pcapng and
# pcap checks, mandoc for the man page's lint).
set -euo pipefail
need=()
command -v tshark >/dev/null 2>&1 || need+=(tshark)
command -v strace >/dev/null 2>&1 || need+=(strace)
command -v mandoc >/dev/null 2>&1 || need+=(mandoc)
if [ ${#need[@]} -gt 0 ] && [ "$(id -u)" = 0 ]; then
	echo "installing: ${need[*]}" >&2
	export DEBIAN_FRONTEND=noninteractive
	echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
	apt-get update -q >/dev/null
	apt-get install -y -q "${need[@]}" >/dev/null
fi
