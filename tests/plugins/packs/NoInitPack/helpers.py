"""A folder without __init__.py is not a pack."""
