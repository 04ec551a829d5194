"""Clients of the public wire protocol."""
