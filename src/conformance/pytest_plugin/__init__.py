"""The pytest glue, the only place that imports pytest: options, fixtures, verdicts,
per-session state, results shared by xdist workers.
"""
