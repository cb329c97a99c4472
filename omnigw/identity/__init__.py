"""Who may do what: users, roles, permissions, API keys, TOTP, tokens."""
