"""Widgets of the dashboard, one per module."""
