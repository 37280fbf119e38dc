"""The description normaliser: a policy of small pure steps, a paced scan of every egress rule, the report.

``policy`` (the YAML policy and its steps), ``scan`` (Describe all groups and their egress rules under a
calls-per-second budget), ``changes`` (rule-change events and the report event), ``cursor`` (a pass that
outlives one invocation), ``run`` (one pass, shared by the function and ``sgrule normalise``), ``handler``
(the FC function). The normaliser never modifies a rule: it enqueues rule-change events for the apply function.
"""
