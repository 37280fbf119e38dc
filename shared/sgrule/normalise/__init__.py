"""The description normaliser: a policy of small pure steps, a paced scan of every egress rule, the report.

``steps`` + ``policy`` (the YAML policy), ``scope`` (which regions and groups), ``pace`` + ``scan`` (Describe
every group's rules under a calls-per-second budget), ``changes`` (rule-change events, the report event),
``report``, ``cursor`` (a pass that outlives one invocation), ``run`` (one pass, shared by the FC function and
``sgrule normalise``), ``handler`` (the FC function), ``config``. The normaliser never modifies a rule: it
enqueues rule-change events for the apply function.
"""
