"""The Streamlit workbench: pages that read and draw what `pipeline/` and `lfs/` compute, and start jobs."""
