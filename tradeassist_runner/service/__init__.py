"""The long-running parts: the run loop and (later) reload, API and metrics."""
