"""GitOps helpers for rule repositories: rule unit tests, plan diffs, alert explanations.

The command module (``commands/gitops.py``) only wires these to the command line.
"""
