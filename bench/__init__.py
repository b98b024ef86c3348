"""Throughput benchmarks for the classifier and enforcement services (``python -m bench``)."""
