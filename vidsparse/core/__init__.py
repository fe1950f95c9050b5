"""The bottom layer: errors, atomic files, processes, checkpoints, devices, tables, FLOPs."""
