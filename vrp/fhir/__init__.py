"""FHIR R4 messaging as the NHS Booking and Referral Standard (BaRS) does it: reading a
referral message into the referral the JSON API accepts, and the resources we answer with."""
