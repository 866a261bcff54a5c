"""The partner API at the edge: FastAPI app, routes, request and response schemas, problem+json,
limits and request tracing. Use cases (submission, changes, status) sit one level up."""
