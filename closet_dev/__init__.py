"""Everything that is not the TorchServe worker: generators, checks and tools (never packed into MARs)."""
