"""Monitoring probes usable from cron or container health checks."""
