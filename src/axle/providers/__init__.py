"""Infrastructure providers (Palette) behind a Provider protocol with declared capabilities."""
