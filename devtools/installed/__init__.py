"""The installed system: a release built from the patched tree, installed by anita.

fetched (pinned downloads) <- bridges (gaps of the 2015 snapshot) <- sets
(build.sh release) <- guestpython (CPython for the guest) <- guestpkgs
(binary packages with pkgsrc's pkg_create) <- anitarun (install, boot, run
anita-steps.sh in the guest).  `invoke sets unbridge guestpython anita`;
docs/installed-system.md.
"""
