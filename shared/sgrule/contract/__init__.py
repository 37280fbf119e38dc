"""The contracts: the rule-change event and its rule fields, the outcome event, errors and their codes,
the envelopes the queue delivers, JSON Schemas. Pure data and checks; no I/O."""
