"""labeling_functions (being built)."""

import streamlit as st

st.title("labeling_functions")
