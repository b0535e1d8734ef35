"""Simulators (Palette API, spoke clusters): product code run by the embedded default and tests."""
