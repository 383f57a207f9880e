"""Small modules behind tasks.py: one concern each."""
