"""ShareStack benchmarks: each one runs our server next to its peers and reports ratios.

Run ``python -m bench --help``; see bench/README.md.
"""
