"""Webhooks: endpoints, the signed persisted outbox, delivery with retries, allowed targets."""
