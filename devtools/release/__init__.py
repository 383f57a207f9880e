"""The release: dist/ (sdist, wheel, kernel and pkgsrc tarballs) and the pkgsrc checks.

archive (reproducible tar/gz), distinfo (pkgsrc distinfo files), pkgsrc
(Makefile/PLIST/wheel readers) <- pkglint (the checks, no building) <- dist
(builds the artifacts, checks them, writes dist/) <- lint (`invoke pkglint`:
build, check, and the real pkglint when there is one).  pkgsrc/README.md.
"""
