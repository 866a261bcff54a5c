"""`vrp evidence export`: the evidence aggregates (disclosure control applied), a data
dictionary and, for analysts only, the record-level de-identified facts."""
