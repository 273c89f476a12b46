"""Screens and modals of the dashboard, one per module."""
