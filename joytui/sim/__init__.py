"""A faithful local simulator of the four provider APIs, served over real HTTP on loopback."""
