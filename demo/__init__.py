"""The demo, the bench and the sample data: the top layer, installed because `invoicing demo` is the main job."""
