"""The domain core: money, tax, billing, the gate, numbering inputs, codec, settings, documents. Imports nothing of the project but `schemas`."""
