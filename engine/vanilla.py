"""The page /_mtd/vanilla serves natively, without a sandbox: the same bytes
as the bundled hello tenant, so the two can be compared for overhead (a test
checks they stay identical)."""

VANILLA_CONTENT_TYPE = "text/plain"
VANILLA_PAGE = b"\tthis is a very\n\tlong string if I had the\n\tenergy to type more and more ...\n"
