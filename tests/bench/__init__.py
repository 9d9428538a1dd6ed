"""The benchmark: `python -m tests.bench.run` (or `make bench`) prints hookgate's figures
beside references measured in the same run on the same machine."""
