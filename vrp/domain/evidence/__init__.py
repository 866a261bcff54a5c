"""The partnership's evidence, pure: age bands, periods, intervals, inequality measures,
matching weights and the result types that the store's aggregates fill in."""
