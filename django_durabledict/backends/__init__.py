"""Backends: each is a DurableDict subclass for one kind of store.

They are imported by dotted path (from ``DURABLEDICTS`` or the package's lazy
attributes), so a store's client library is imported only when that backend is used.
"""
