"""One module per rule type; each defines ``RULE_TYPE`` (see ``rules/seam.py``)."""
