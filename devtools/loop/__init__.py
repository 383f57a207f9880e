"""The kernel loop: tree -> patches -> kernel -> guest -> results.

tree (is NETBSDSRCDIR the pinned tree?) <- series (sys/series applied all or
nothing; its state) <- build (build.sh tools/kernel) <- guestimage (static
test programs and the runner guest/init.c in an md root) <- vmtest (boot it
under QEMU; console reads the runner's lines, hostnet is the host end of the
guest's wm0).  `invoke tree patch unpatch refresh tools kernel vmtest`; docs/loop.md.
"""
