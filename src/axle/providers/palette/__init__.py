"""The Palette provider: an async REST client for the Palette API subset axle uses."""
