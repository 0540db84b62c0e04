"""Business logic for itbot: pure, synchronous, and free of Slack, LDAP, Graph and SQL."""
