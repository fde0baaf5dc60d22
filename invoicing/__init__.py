"""Event-driven invoicing pipeline: platform events in, numbered invoices out."""
__version__ = "0.1.0"
