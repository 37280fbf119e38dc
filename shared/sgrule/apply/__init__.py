"""The apply function: rule-change events in, ModifySecurityGroupEgressRule, one outcome event per change out.

The single writer of rules. ``handler.handle`` is the FC handler body."""
