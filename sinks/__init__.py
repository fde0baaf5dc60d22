"""Target systems invoices are delivered to: one module per target, registered in `sinks.registry`."""
