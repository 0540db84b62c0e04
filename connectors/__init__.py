"""Adapters to the systems outside itbot: the store, directories, Graph."""
