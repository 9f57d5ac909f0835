"""Sub-commands that live in their own module (one feature each); cli.py registers them."""
