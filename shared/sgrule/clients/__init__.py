"""The official SDK clients sgrule calls (ECS, EventBridge, ...), their configuration and retries."""
