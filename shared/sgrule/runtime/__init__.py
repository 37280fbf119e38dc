"""What every function runs on: settings, JSON logging, lazy SDK loading (model modules, deferred modules),
the FC instance and its deadline.

Kept import-free: a function imports only the modules it needs (cold start)."""
