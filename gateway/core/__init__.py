"""What every room uses: the clock, config, logging, phone numbers, transaction hooks, liveness, systemd."""
