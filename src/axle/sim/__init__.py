"""Simulators (Palette API, spoke clusters): product code that the embedded default and tests run."""
