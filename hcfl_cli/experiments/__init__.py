"""The paper's section V experiments (figures 3-5), one module each, pure and seeded.

Each module has a ``run_*`` function returning a frozen result and a ``write_*`` function
that writes a CSV and a PNG side by side; only the CLI prints.
"""
