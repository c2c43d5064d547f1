"""Tooling that is not the product: benchmarks, the cost meter, capacity plan, stress and expiry runs (tools/bench)."""
