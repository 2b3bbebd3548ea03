"""What a run reports beyond pass/fail: the baseline of tolerated findings and the
success-criteria summary.
"""
