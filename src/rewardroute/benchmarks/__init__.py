"""The evaluation subsets (conf/benchmark/): where their queries come from (sources.py)."""
