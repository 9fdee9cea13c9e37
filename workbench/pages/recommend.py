"""recommend (being built)."""

import streamlit as st

st.title("recommend")
