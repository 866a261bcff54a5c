"""Intake's event consumers: the referrer's timeline and each receiver's inbox."""
