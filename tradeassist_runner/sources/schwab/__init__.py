"""Live level-one quotes from Charles Schwab through schwab-py (the optional ``schwab`` extra).

``quotes`` is pure (merge partial updates, decide what is a trade); ``auth`` owns the
credentials and the token file; ``stream`` drives schwab-py's ``StreamClient`` with
reconnects; ``record`` writes live ticks to a Parquet dataset for later backtests.
Importing this package does not import schwab-py, so the rest of the runner works
without the extra installed.
"""
