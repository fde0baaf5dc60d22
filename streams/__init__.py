"""The Faust stream processors: normalise → bill → issue → deliver.

`streams.app` holds only the App; topics, tables and each agent have their own
module; `streams.pipeline.Pipeline` wires them for one set of settings.
"""
