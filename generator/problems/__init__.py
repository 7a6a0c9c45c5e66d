"""Problem generators, one module each; every module registers itself on import."""
