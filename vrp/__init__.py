"""Shared core of the VRP referral routing service: domain, events, store, transport."""
