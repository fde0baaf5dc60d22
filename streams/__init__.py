"""The Faust stream processors: normalise → bill → (cycles) → issue → deliver → register receipts.

`streams.topology` lists every agent with the topics it reads and writes, and builds a worker's
`streams.context.Context`; each agent is a module-level function over that context in its own
module. `streams.app` holds only the App, `streams.acking` how records are read and acknowledged,
`streams.faust_patches` the corrections to Faust, `streams.numbering` the series counters.
"""
