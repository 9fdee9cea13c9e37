"""Altair chart builders: plain functions from frames to charts, no streamlit, so tests can check their specs."""
