"""Roomserver."""
