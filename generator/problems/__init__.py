"""Built-in generators, one module each (each registers itself on import): problems that need no Python of their own."""
