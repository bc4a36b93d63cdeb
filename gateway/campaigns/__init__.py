"""Campaigns: an audience, a personal text, the right moment; every recipient a row."""
