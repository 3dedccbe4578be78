"""studio: the design studio, a web page for fashion designers served by Ray Serve (`paint-studio`).

Ray-free parts: inputs (checking and decoding a request), jobs (a design job's files on disk), settings. The Serve
glue (studio.serve_app) holds the two deployments: DesignModel (the three stages, Serve-batched) and Studio (the
FastAPI ingress, the page and the JSON API). See docs/STUDIO.md.
"""
