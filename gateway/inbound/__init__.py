"""What comes in: stored parts, reassembly, the inbound pipeline, conversations."""
