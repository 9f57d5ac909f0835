"""The pure, synchronous evaluation core: compiled plan + carried state + one batch -> alerts."""
