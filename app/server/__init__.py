"""How the process speaks HTTP: the connection-level guards (timeouts, lingering close) and security headers."""
