"""Where ticks come from (replay files, the synthetic feed) and how they are cleaned."""
