"""YAML files -> validated models, every value keeping its file:line:column."""
