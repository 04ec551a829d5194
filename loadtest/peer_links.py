"""Links for the fan-out peers of the side-by-side benchmarks (bench/)."""
