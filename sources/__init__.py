"""Platform sources: one module per platform, all registered in `sources.registry`."""
