"""itbot's Slack transport: the only package that imports slack_bolt or slack_sdk."""
