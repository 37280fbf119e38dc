"""Running functions locally the way FC runs them: worker processes as instances (``instance``, ``worker``),
the invoker every path goes through (``invoker``), async invocations (``asyncinvoke``) and their
destinations (``destinations``), and the triggers (``triggers``)."""
