"""Use cases shared by the hub and the side API: plain values in and out."""
