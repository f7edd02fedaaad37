"""The HTTP face: the route table, the handlers, the small HTTP layer (request and response types,
router, auth, problem JSON), the query bounds, multipart uploads, and the API's documentation
(schemas, the OpenAPI document, the /docs page). Only the runtimes' adapters import from here."""
