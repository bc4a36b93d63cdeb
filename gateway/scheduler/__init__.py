"""The scheduler: one APScheduler that runs the daemon's periodic jobs on the daemon's Clock."""
