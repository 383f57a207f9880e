"""py-sotimestamp on the host: `invoke demo` (demo) and `invoke bench` (bench,
with readbench for replay pacing and `stats`, capture_knee for the highest
loss-free capture rate).  py-sotimestamp/README.md has the figures.
"""
