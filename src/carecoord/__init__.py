"""carecoord: open care-coordination platform."""
__version__ = "0.1.0"
