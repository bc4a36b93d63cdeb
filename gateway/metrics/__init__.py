"""The gateway's Prometheus metrics: counters kept as the work happens, cheap gauges read at scrape."""
