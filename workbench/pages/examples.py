"""examples (being built)."""

import streamlit as st

st.title("examples")
