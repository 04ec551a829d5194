"""Route handlers of the side API, one module per caller group."""
