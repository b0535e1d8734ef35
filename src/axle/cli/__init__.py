"""The `axle` command line: click + rich, thin over the client SDK."""
