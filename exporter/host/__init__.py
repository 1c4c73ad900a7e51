"""The host source: node_exporter's figures for the machine redline runs on (CPU, memory,
filesystems, disk and network I/O, boot time, context switches, file descriptors, pressure
stall) and configured process groups. One file per collector; the registry is
exporter/host/registry.py, the source exporter/host/source.py, the config exporter/host/config.py.

Kept free of imports so that exporter/config.py can import the config models without loading
psutil and the collectors.
"""
