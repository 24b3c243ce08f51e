"""End-to-end experiments behind the examples and benchmarks."""
