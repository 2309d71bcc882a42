"""firmseal: code signing for IoT firmware."""

__version__ = "0.1.0"
