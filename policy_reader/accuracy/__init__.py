"""Measured accuracy: a gold set with a Wilson interval, and the audit sample."""
