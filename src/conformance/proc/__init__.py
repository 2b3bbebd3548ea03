"""Running children: process groups and timeouts, their allowlisted and guarded environment,
their output as shown in findings.
"""
