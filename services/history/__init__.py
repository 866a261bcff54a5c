"""A year of fictional history for the demo partnership (`vrp demo seed`)."""
