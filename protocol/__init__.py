"""Wire protocol v1: message types, error and close codes, and the codec. Pure: no I/O."""
