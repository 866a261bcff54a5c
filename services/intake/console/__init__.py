"""The web console served by intake: team inboxes, hub triage, dashboard and directory."""
