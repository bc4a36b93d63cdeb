"""The domain and the daemon: config, storage, queue, routing, workers, CLI."""
