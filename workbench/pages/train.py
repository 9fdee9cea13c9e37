"""train (being built)."""

import streamlit as st

st.title("train")
