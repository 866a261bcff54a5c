"""The evidence as it leaves the system: tables built from the measures with small numbers
suppressed, for the console's pages and their CSVs and for `vrp evidence export` alike."""
