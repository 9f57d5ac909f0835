"""One module per rule type; each turns validated rules into a per-tick value series."""
