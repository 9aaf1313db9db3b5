"""``broker bench``: the production login path measured, side by side with its floor.

Kept free of imports on purpose: the cold-start child processes of the
benchmark run modules of this package, and must pay only for what the broker
itself imports. The entry point is :func:`broker.local.bench.runner.run_bench`.
"""
