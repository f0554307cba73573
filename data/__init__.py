"""Dataset loaders (GSM8K, MATH; local file or hub id), typed records and answer handling.

The bottom layer of Mycelium: nothing here imports from the other packages.
"""
