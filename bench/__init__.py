"""Benchmarks: the four services against a raw aiokafka two-hop pipeline on the same local broker.

Run `python -m bench --help`; bench/README.md says what is measured and how to read the report."""
